"""The state store keeps job runs, samples and journals in SQLite, safely across threads."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import dr.log
from dr.log import register_secrets
from dr.state import INTERRUPTED, StateError, StateStore
from dr.state.schema import MIGRATIONS

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore(tmp_path / "state" / "kafka-dr.db")


def test_the_store_is_created_with_its_directory_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "var" / "lib" / "kafka-dr.db"

    StateStore(path).runs()

    assert path.exists()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == len(
            MIGRATIONS
        )


def test_a_run_is_running_until_it_is_finished_and_then_carries_its_outcome(
    store: StateStore,
) -> None:
    run_id = store.start_run("orders", at=T0)

    running = store.last_run("orders")
    assert running is not None
    assert (running.id, running.status, running.finished_at, running.duration_s) == (
        run_id,
        "running",
        None,
        None,
    )

    store.finish_run(
        run_id,
        status="succeeded",
        backup_id="b-1",
        records=1200,
        bytes=4096,
        at=T0 + timedelta(seconds=42.5),
    )

    done = store.last_run("orders")
    assert done is not None
    assert done.status == "succeeded"
    assert (done.backup_id, done.records, done.bytes, done.error) == ("b-1", 1200, 4096, None)
    assert done.started_at == T0
    assert done.duration_s == 42.5


def test_last_success_is_the_latest_successful_run_even_after_failures(
    store: StateStore,
) -> None:
    first = store.start_run("orders")
    store.finish_run(first, status="succeeded", backup_id="b-1")
    second = store.start_run("orders")
    store.finish_run(second, status="failed", error="cluster primary unreachable")

    last, success = store.last_run("orders"), store.last_success("orders")

    assert last is not None and last.status == "failed"
    assert last.error == "cluster primary unreachable"
    assert success is not None and success.backup_id == "b-1"
    assert store.last_success("payments") is None
    assert store.last_run("payments") is None


def test_runs_are_listed_newest_first_and_filtered_by_job(store: StateStore) -> None:
    ids = [store.start_run(job) for job in ("orders", "payments", "orders", "orders")]

    assert [r.id for r in store.runs()] == ids[::-1]
    assert [r.id for r in store.runs("orders")] == [ids[3], ids[2], ids[0]]
    assert [r.id for r in store.runs("orders", limit=2)] == [ids[3], ids[2]]


def test_a_run_cannot_be_finished_twice(store: StateStore) -> None:
    run_id = store.start_run("orders")
    store.finish_run(run_id, status="cancelled")

    with pytest.raises(StateError, match=f"run {run_id} is unknown or already ended"):
        store.finish_run(run_id, status="succeeded")

    last = store.last_run("orders")
    assert last is not None and last.status == "cancelled"


def test_a_run_left_running_by_a_dead_process_is_recovered_as_interrupted(
    store: StateStore,
) -> None:
    crash = (
        "import sys; from pathlib import Path; from dr.state import StateStore; "
        "StateStore(Path(sys.argv[1])).start_run('orders')"
    )
    subprocess.run([sys.executable, "-c", crash, str(store.path)], check=True)
    live = store.start_run("payments")

    orphan = store.last_run("orders")
    assert orphan is not None and orphan.status == "running"

    assert store.recover_interrupted_runs() == 1

    recovered = store.last_run("orders")
    assert recovered is not None
    assert (recovered.status, recovered.error) == ("failed", INTERRUPTED)
    assert recovered.finished_at is not None
    still_running = store.last_run("payments")
    assert still_running is not None and still_running.id == live
    assert still_running.status == "running"
    assert store.recover_interrupted_runs() == 0


def test_a_stored_error_is_one_line_with_secrets_masked(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dr.log, "_known_secrets", set())
    register_secrets(["hunter2-s3cret"])
    run_id = store.start_run("orders")

    store.finish_run(
        run_id,
        status="failed",
        error="login failed for kafka-dr:hunter2-s3cret\n  at broker kafka-1.prod:9092",
    )

    last = store.last_run("orders")
    assert last is not None
    assert last.error == "login failed for kafka-dr:*** at broker kafka-1.prod:9092"
    assert b"hunter2" not in store.path.read_bytes()


def test_a_skipped_run_is_recorded_with_its_reason_as_neither_failure_nor_success(
    store: StateStore,
) -> None:
    done = store.start_run("orders", at=T0)
    store.finish_run(done, status="succeeded", backup_id="b-1", at=T0 + timedelta(seconds=5))
    skipped = store.record_skipped(
        "orders",
        reason="backup job 'orders' is already running (pid 42)",
        at=T0 + timedelta(minutes=1),
    )

    last = store.last_run("orders")
    assert last is not None and last.id == skipped
    assert (last.status, last.error, last.duration_s) == (
        "skipped",
        "backup job 'orders' is already running (pid 42)",
        0.0,
    )
    last_started = store.last_run("orders", include_skipped=False)
    assert last_started is not None and last_started.id == done
    success = store.last_success("orders")
    assert success is not None and success.id == done
    assert store.recover_interrupted_runs() == 0


def test_runs_of_each_kind_are_kept_apart(store: StateStore) -> None:
    backup = store.start_run("orders")
    prune = store.start_run("orders", kind="prune")
    store.finish_run(prune, status="succeeded")

    assert store.last_success("orders") is None
    last = store.last_run("orders")
    assert last is not None and (last.id, last.kind) == (backup, "backup")
    assert [r.id for r in store.runs("orders", kind="prune")] == [prune]
    assert [r.id for r in store.runs("orders")] == [prune, backup]


def test_an_unknown_status_is_refused_by_the_store_itself(store: StateStore) -> None:
    run_id = store.start_run("orders")

    with pytest.raises(StateError, match="CHECK constraint"):
        store.finish_run(run_id, status="lost")  # type: ignore[arg-type]


def test_a_store_of_the_first_schema_is_migrated_keeping_its_runs(tmp_path: Path) -> None:
    path = tmp_path / "kafka-dr.db"
    with sqlite3.connect(path) as db:
        for statement in MIGRATIONS[0].split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        db.execute("INSERT INTO schema_version (version) VALUES (1)")
        db.execute(
            "INSERT INTO job_runs (id, job, status, started_at, finished_at, backup_id, pid) "
            "VALUES (7, 'orders', 'succeeded', ?, ?, 'b-7', 1)",
            (T0.timestamp(), T0.timestamp() + 30),
        )
    store = StateStore(path)

    old = store.last_success("orders")
    skipped = store.record_skipped("orders", reason="held")
    later = store.start_run("orders")

    assert old is not None and (old.id, old.kind, old.backup_id) == (7, "backup", "b-7")
    assert old.duration_s == 30
    assert later > skipped > 7
    assert [r.status for r in store.runs("orders")] == ["running", "skipped", "succeeded"]
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == len(
            MIGRATIONS
        )


def test_samples_are_selected_by_time_window_and_labels(store: StateStore) -> None:
    orders = {"flow": "primary->dr", "topic": "orders"}
    payments = {"flow": "primary->dr", "topic": "payments"}
    for minute in range(5):
        at = T0 + timedelta(minutes=minute)
        store.add_sample("rpo_seconds", orders, float(minute), at=at)
        store.add_sample("rpo_seconds", payments, 10.0 + minute, at=at)
    store.add_sample("lag_messages", orders, 99.0, at=T0 + timedelta(minutes=4))

    recent = store.samples("rpo_seconds", since=T0 + timedelta(minutes=3))
    of_orders = store.samples("rpo_seconds", since=T0 + timedelta(minutes=3), labels=orders)
    of_flow = store.samples("rpo_seconds", since=T0, labels={"flow": "primary->dr"})

    assert [(s.labels["topic"], s.value) for s in recent] == [
        ("orders", 3.0),
        ("payments", 13.0),
        ("orders", 4.0),
        ("payments", 14.0),
    ]
    assert [(s.value, s.at) for s in of_orders] == [
        (3.0, T0 + timedelta(minutes=3)),
        (4.0, T0 + timedelta(minutes=4)),
    ]
    assert dict(of_orders[0].labels) == orders
    assert len(of_flow) == 10
    assert store.samples("rpo_seconds", since=T0, labels={"topic": "refunds"}) == []


def test_old_samples_are_pruned(store: StateStore) -> None:
    for minute in range(4):
        store.add_sample("rpo_seconds", {}, 1.0, at=T0 + timedelta(minutes=minute))

    assert store.prune_samples(before=T0 + timedelta(minutes=2)) == 2
    assert [s.at for s in store.samples("rpo_seconds", since=T0)] == [
        T0 + timedelta(minutes=2),
        T0 + timedelta(minutes=3),
    ]


def test_a_time_without_a_zone_is_refused(store: StateStore) -> None:
    with pytest.raises(ValueError, match="no time zone"):
        store.add_sample("rpo_seconds", {}, 1.0, at=datetime(2025, 3, 1, 12, 0))


def test_a_label_name_that_is_not_an_identifier_is_refused(store: StateStore) -> None:
    with pytest.raises(ValueError, match="is not a label name"):
        store.samples("rpo_seconds", since=T0, labels={"topic') OR 1=1 --": "x"})


def test_journals_are_saved_replaced_and_deleted(store: StateStore) -> None:
    store.save_journal("restore", "b-1->cluster-a", {"status": "running", "bases": {"o-0": 5}})
    store.save_journal("restore", "b-1->cluster-a", {"status": "done", "bases": {"o-0": 5}})

    assert store.load_journal("restore", "b-1->cluster-a") == {
        "status": "done",
        "bases": {"o-0": 5},
    }
    assert store.load_journal("failover", "b-1->cluster-a") is None
    assert store.delete_journal("restore", "b-1->cluster-a")
    assert store.load_journal("restore", "b-1->cluster-a") is None


def test_everything_recorded_is_there_when_the_store_is_reopened(store: StateStore) -> None:
    run_id = store.start_run("orders")
    store.finish_run(run_id, status="succeeded", backup_id="b-1")
    store.add_sample("rpo_seconds", {"flow": "a->b"}, 3.0, at=T0)

    reopened = StateStore(store.path)

    last = reopened.last_success("orders")
    assert last is not None and last.backup_id == "b-1"
    assert [s.value for s in reopened.samples("rpo_seconds", since=T0)] == [3.0]


def test_a_store_written_by_a_newer_kafka_dr_is_refused(store: StateStore) -> None:
    store.runs()
    with sqlite3.connect(store.path) as db:
        db.execute("INSERT INTO schema_version (version) VALUES (99)")

    with pytest.raises(StateError, match="schema version 99, newer than this kafka-dr"):
        StateStore(store.path).runs()


def test_a_store_that_cannot_be_created_names_its_path(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")

    with pytest.raises(StateError, match="not-a-dir"):
        StateStore(blocker / "kafka-dr.db").runs()


def test_threads_writing_at_once_lose_nothing(store: StateStore) -> None:
    threads, per_thread = 8, 15
    start = threading.Barrier(threads)
    failures: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                run_id = store.start_run(f"job-{worker}")
                store.add_sample("rpo_seconds", {"worker": str(worker)}, float(i), at=T0)
                store.finish_run(run_id, status="succeeded", records=i)
        except BaseException as exc:
            failures.append(exc)

    workers = [threading.Thread(target=write, args=(w,)) for w in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()

    assert failures == []
    runs = store.runs(limit=1000)
    assert len(runs) == threads * per_thread
    assert all(r.status == "succeeded" for r in runs)
    assert len(store.samples("rpo_seconds", since=T0)) == threads * per_thread
    assert len(store.samples("rpo_seconds", since=T0, labels={"worker": "3"})) == per_thread
