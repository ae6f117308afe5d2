"""Backup workers: how a run's partitions are split, and what the runner takes from its workers.

The workers here are real processes started the way a run starts them ('spawn'); they stand in
for the copy loop (no Kafka) and report what a real worker reports.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from dr.backup.catalog import SegmentRef
from dr.backup.copy import BackupError, PartitionPlan
from dr.backup.tuning import TuningError
from dr.backup.worker import Done, Failed, Stored, WorkerTask
from dr.backup.workers import (
    Target,
    WorkerFailed,
    check_covered,
    copy_with_workers,
    split_partitions,
    start_signals_blocked,
    worker_count,
    worker_spec,
)
from dr.config.schema import BackupJob, ClusterSettings, Settings, StorageSettings
from dr.storage import open_store


def plan(topic: str, partition: int, records: int, start: int = 0) -> PartitionPlan:
    return PartitionPlan(topic, partition, start, start + records, carried=None)


def load(share: list[PartitionPlan]) -> int:
    return sum(p.end - p.start for p in share)


def test_every_partition_is_in_exactly_one_share() -> None:
    plans = [plan("orders", p, 1000 + 37 * p) for p in range(20)] + [plan("pay", 0, 5)]
    shares = split_partitions(plans, 3)
    held = [(p.topic, p.partition) for s in shares for p in s]
    assert sorted(held) == sorted((p.topic, p.partition) for p in plans)
    assert len(held) == len(set(held))


def test_shares_are_balanced_by_records_to_copy_not_by_partition_count() -> None:
    # One big partition and many small ones: the big one gets a share of its own.
    plans = [plan("big", 0, 60_000)] + [plan("small", p, 10_000) for p in range(6)]
    shares = split_partitions(plans, 2)
    assert sorted(load(s) for s in shares) == [60_000, 60_000]
    assert [len(s) for s in shares if any(p.topic == "big" for p in s)] == [1]


def test_uneven_partitions_are_split_within_the_largest_partition() -> None:
    plans = [plan("t", p, size) for p, size in enumerate([9, 8, 7, 6, 5, 4, 3, 2, 1, 1])]
    shares = split_partitions(plans, 3)
    loads = [load(s) for s in shares]
    assert max(loads) - min(loads) <= 9
    assert sum(loads) == 46


def test_more_workers_than_partitions_gives_one_share_per_partition() -> None:
    plans = [plan("t", p, 100) for p in range(3)]
    shares = split_partitions(plans, 8)
    assert len(shares) == 3
    assert all(len(s) == 1 for s in shares)


def test_no_partition_gives_no_share() -> None:
    assert split_partitions([], 4) == []
    with pytest.raises(ValueError):
        split_partitions([plan("t", 0, 1)], 0)


def job(**fields: object) -> BackupJob:
    return BackupJob.model_validate(
        {"cluster": "primary", "topics": ["t"], "storage": "local"} | fields
    )


def test_workers_are_limited_by_partitions_and_by_the_memory_budget() -> None:
    assert worker_count(job(workers=4), partitions=10) == 4
    assert worker_count(job(workers=4), partitions=2) == 2
    assert worker_count(job(workers=64, memory_budget_mb=256), partitions=100) == 8
    assert worker_count(job(), partitions=10) == 1


def test_all_workers_together_stay_within_the_jobs_memory_budget() -> None:
    spec = job(workers=3, memory_budget_mb=256)
    each = worker_spec(spec, worker_count(spec, partitions=6))
    assert each.memory_budget_mb * 3 <= 256
    assert each.memory_budget_mb >= 32 and each.workers == 1
    assert spec.memory_budget_mb == 256  # the job's own settings are left as they were


def ref(start: int, end: int) -> SegmentRef:
    return SegmentRef(f"seg-{start}", start, end, end - start, 10, "0" * 64, None, None)


def test_a_partition_counts_only_when_its_stored_segments_cover_its_offsets() -> None:
    p = plan("t", 0, 300, start=100)
    p.segments = [ref(100, 250), ref(250, 400)]
    check_covered(p)
    for segments in ([ref(100, 250)], [ref(100, 250), ref(260, 400)], [], [ref(0, 400)]):
        p.segments = segments
        with pytest.raises(BackupError, match="t-0"):
            check_covered(p)


# Stand-ins for dr.backup.worker.run_worker, started in processes of their own.


def reports_its_share(conn: Connection, task: WorkerTask) -> None:
    for p in task.share:
        mid = (p.start + p.end) // 2
        conn.send(Stored(p.topic, p.partition, ref(p.start, mid)))
        conn.send(Stored(p.topic, p.partition, ref(mid, p.end)))
    conn.send(Done(sum(p.end - p.start for p in task.share), 20 * len(task.share)))


def worker_one_is_killed(conn: Connection, task: WorkerTask) -> None:
    if task.index == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    reports_its_share(conn, task)


def leaves_a_hole(conn: Connection, task: WorkerTask) -> None:
    for p in task.share:
        conn.send(Stored(p.topic, p.partition, ref(p.start, p.end - 1)))
    conn.send(Done(0, 0))


def fails_refused(conn: Connection, task: WorkerTask) -> None:
    conn.send(Failed("not authorized to READ topic 't'", 2, expected=True))


def exits_quietly(conn: Connection, task: WorkerTask) -> None:
    os._exit(0)


def settings(tmp_path: Path, **fields: object) -> Settings:
    return Settings.model_validate(
        {
            "clusters": {"primary": ClusterSettings(bootstrap_servers="localhost:1")},
            "storage": {"local": StorageSettings(url=(tmp_path / "store").as_uri())},
            "backups": {"j": job(**fields)},
        }
    )


def copy(tmp_path: Path, plans: list[PartitionPlan], target: Target) -> tuple[int, int]:
    s = settings(tmp_path, workers=3)
    store = open_store(s.storage["local"])
    return copy_with_workers(s, s.backups["j"], "j", plans, store, None, None, target=target)


def test_the_runners_plans_hold_exactly_the_segments_workers_reported_stored(
    tmp_path: Path,
) -> None:
    plans = [plan("t", p, 1000 * (p + 1)) for p in range(6)] + [plan("t", 6, 0)]
    records, stored = copy(tmp_path, plans, reports_its_share)
    assert records == 21_000 and stored == 6 * 20
    for p in plans[:6]:
        assert [(r.start_offset, r.end_offset) for r in p.segments] == [
            (p.start, (p.start + p.end) // 2),
            ((p.start + p.end) // 2, p.end),
        ]
    assert plans[6].segments == []


def test_a_killed_worker_fails_the_run_in_one_line_naming_it_and_its_partitions(
    tmp_path: Path,
) -> None:
    plans = [plan("t", p, 1000) for p in range(6)]
    with pytest.raises(WorkerFailed) as failed:
        copy(tmp_path, plans, worker_one_is_killed)
    message = failed.value.message
    assert "\n" not in message
    assert message.startswith("backup worker 1 of job 'j' was killed by SIGKILL while copying t-")
    share = split_partitions(plans, 3)[1]
    assert all(f"t-{p.partition}" in message for p in share)


def test_a_worker_that_exits_without_reporting_done_fails_the_run(tmp_path: Path) -> None:
    with pytest.raises(WorkerFailed, match="exited with code 0 before reporting its copy done"):
        copy(tmp_path, [plan("t", p, 10) for p in range(3)], exits_quietly)


def test_a_worker_that_reports_less_than_its_share_fails_the_run(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match=r"do not cover offsets 0\.\.10"):
        copy(tmp_path, [plan("t", p, 10) for p in range(3)], leaves_a_hole)


def test_a_client_override_past_one_workers_share_is_refused_before_any_starts(
    tmp_path: Path,
) -> None:
    # 64 MiB of fetch queue fits the job's budget (a quarter of 512), not a third of it.
    s = settings(
        tmp_path,
        workers=3,
        memory_budget_mb=512,
        client_overrides={"consumer": {"queued.max.messages.kbytes": 65536}},
    )
    store = open_store(s.storage["local"])
    plans = [plan("t", p, 10) for p in range(3)]
    with pytest.raises(TuningError, match=r"queued\.max\.messages\.kbytes"):
        copy_with_workers(s, s.backups["j"], "j", plans, store, None, None, target=exits_quietly)


def test_a_workers_error_reaches_the_runner_with_its_message(tmp_path: Path) -> None:
    with pytest.raises(WorkerFailed, match="not authorized to READ topic 't'") as failed:
        copy(tmp_path, [plan("t", p, 10) for p in range(3)], fails_refused)
    assert failed.value.exit_code == 2


def reports_its_sigint_mask(conn: Connection) -> None:
    conn.send(signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, set()))


def test_a_worker_starts_with_sigint_blocked_and_a_ctrl_c_meanwhile_reaches_the_runner(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A terminal's Ctrl-C reaches every process of the group: a worker still importing must not
    # die of it with a traceback; the runner must still get it, to stop its workers, even when
    # the kernel hands it to another of the runner's threads (a run has several).
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=reports_its_sigint_mask, args=(theirs,))
    start = type(process).start

    def ctrl_c_then_start(self: multiprocessing.process.BaseProcess) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)  # delivered meanwhile, to a thread that does not block it
        start(self)

    monkeypatch.setattr(type(process), "start", ctrl_c_then_start)
    # Python's own Ctrl-C handler, even when the tests were started ignoring SIGINT (as a
    # shell's background job is).
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    other = threading.Event()
    threading.Thread(target=other.wait, daemon=True).start()
    try:
        with pytest.raises(KeyboardInterrupt):
            start_signals_blocked(process)
            time.sleep(1)  # the runner's Ctrl-C arrives once its handler is back
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, set())
        assert ours.poll(30) and ours.recv() is True, "the worker did not start with SIGINT blocked"
    finally:
        other.set()
        signal.signal(signal.SIGINT, before)
        if process.pid is not None:
            process.join(10)
