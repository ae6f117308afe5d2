"""Restore workers: how a restore's target partitions are split, and what the restore takes
from its workers.

The workers here are real processes started the way a restore starts them ('spawn'); they stand
in for the write loop (no Kafka) and report what a real worker reports.
"""

from __future__ import annotations

import os
import signal
import threading
from array import array
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from dr.backup.manifest import PartitionEntry, SegmentRef
from dr.backup.restore_plan import RestoreError
from dr.backup.restore_stream import CANCELLED, PartitionWrite, Stream, StreamStopped
from dr.backup.restore_worker import Finished, Originals, Progress, RestoreTask, Stopped
from dr.backup.restore_workers import (
    Destination,
    Target,
    check_workers,
    split_writes,
    worker_count,
    write_with_workers,
)
from dr.cli.restore import parse_workers
from dr.config.schema import ClusterSettings, StorageSettings
from dr.errors import UsageError


def write(topic: str, partition: int, records: int, present: int = 0) -> PartitionWrite:
    ref = SegmentRef(f"seg-{partition}", 0, records, records, 10, "0" * 64, None, None)
    entry = PartitionEntry(topic, partition, 0, records, (ref,)) if records else None
    return PartitionWrite((f"{topic}.r", partition), entry, present)


def load(share: list[PartitionWrite]) -> int:
    return sum(w.to_write for w in share)


def test_every_target_partition_is_in_exactly_one_share_in_the_plans_order() -> None:
    writes = [write("orders", p, 1000 + 37 * p) for p in range(20)] + [write("pay", 0, 5)]
    shares = split_writes(writes, 3)
    held = [w.tp for s in shares for w in s]
    assert sorted(held) == sorted(w.tp for w in writes)
    assert len(held) == len(set(held))
    for share in shares:
        assert share == sorted(share, key=writes.index)


def test_shares_are_balanced_by_records_still_to_write() -> None:
    # A partition mostly written already weighs only what is left of it.
    writes = [write("t", 0, 90_000, present=30_000)] + [write("t", p, 10_000) for p in range(1, 7)]
    shares = split_writes(writes, 2)
    assert sorted(load(s) for s in shares) == [60_000, 60_000]
    assert write("t", 0, 500, present=800).to_write == 0


def test_workers_are_no_more_than_partitions_with_records_to_write(
    capsys: pytest.CaptureFixture[str],
) -> None:
    writes = [write("t", 0, 100), write("t", 1, 100), write("t", 2, 0), write("t", 3, 5, 5)]
    assert worker_count(4, writes) == 2
    captured = capsys.readouterr()
    assert "restore_workers_limited" in captured.out + captured.err
    assert worker_count(2, writes) == 2
    assert worker_count(3, [write("t", 0, 0)]) == 1


@pytest.mark.parametrize("workers", [0, -1, 65])
def test_a_number_of_workers_outside_1_to_64_is_refused(workers: int) -> None:
    with pytest.raises(RestoreError, match="workers must be 1 to 64"):
        check_workers(workers)


@pytest.mark.parametrize("text", ["0", "65", "two", "-3"])
def test_the_workers_option_refuses_a_bad_number_in_one_line_naming_it(text: str) -> None:
    with pytest.raises(UsageError) as refused:
        parse_workers(text)
    assert refused.value.message.startswith(
        f"--workers {text}"
    ) or refused.value.message.startswith(f"--workers '{text}'")
    assert "\n" not in refused.value.message
    assert parse_workers("3") == 3


# Stand-ins for dr.backup.restore_worker.run_restore_worker, started in processes of their own.


def writes_its_share(conn: Connection, task: RestoreTask) -> None:
    counts: dict[str, int] = {}
    for w in task.share:
        assert w.entry is not None
        conn.send(Progress(w.entry.records))
        if (w.entry.topic, w.entry.partition) in task.keep:
            conn.send(Originals(w.entry.topic, w.entry.partition, array("q", range(w.present, 3))))
        counts[w.tp[0]] = counts.get(w.tp[0], 0) + w.entry.records
    conn.send(
        Finished(sum(w.to_write for w in task.share), sum(w.present for w in task.share), counts)
    )


def worker_one_is_killed(conn: Connection, task: RestoreTask) -> None:
    if task.index == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    writes_its_share(conn, task)


def worker_one_stops_with_its_first_partition_complete(conn: Connection, task: RestoreTask) -> None:
    if task.index == 1:
        first = task.share[0]
        reason = f"writing to {first.name} failed: Broker: Message size too large"
        conn.send(Stopped(reason, "fix the cause", (first.name,)))
        return
    writes_its_share(conn, task)


def waits_for_stop(conn: Connection, task: RestoreTask) -> None:
    conn.send(Progress(1))
    assert conn.recv() == "stop"
    conn.send(Stopped(CANCELLED, "run the same command again to resume", ()))


def fails_unexpectedly(conn: Connection, task: RestoreTask) -> None:
    conn.send(Stopped("ZeroDivisionError: division by zero", "x", (), False, "Traceback ..."))


def exits_quietly(conn: Connection, task: RestoreTask) -> None:
    os._exit(0)


WRITES = [write("t", p, 1000 * (p + 1)) for p in range(6)]


def restore(
    target: Target,
    *,
    keep: frozenset[tuple[str, int]] = frozenset(),
    cancel: threading.Event | None = None,
    progress: list[tuple[int, int]] | None = None,
) -> Stream:
    destination = Destination(
        ClusterSettings(bootstrap_servers="localhost:1"),
        StorageSettings(url=Path("/nonexistent").as_uri()),
        None,
    )
    return write_with_workers(
        destination,
        WRITES,
        3,
        until=None,
        total=21_000,
        keep=keep,
        progress=None if progress is None else lambda d, t: progress.append((d, t)),
        cancel=cancel,
        target=target,
    )


def test_the_restore_gathers_its_workers_totals_counts_and_original_offsets() -> None:
    seen: list[tuple[int, int]] = []
    stream = restore(writes_its_share, keep=frozenset({("t", 2), ("t", 5)}), progress=seen)
    assert stream.sent == 21_000 and stream.already == 0
    assert stream.topic_counts == {"t.r": 21_000}
    assert stream.finished == {w.tp for w in WRITES}
    assert set(stream.originals) == {("t", 2), ("t", 5)}  # only those the groups need
    assert list(stream.originals[("t", 2)]) == [0, 1, 2]
    assert seen[-1] == (21_000, 21_000)


def test_a_killed_worker_fails_the_restore_in_one_line_naming_it_and_what_is_complete() -> None:
    with pytest.raises(StreamStopped) as stopped:
        restore(worker_one_is_killed)
    message = stopped.value.message
    assert "\n" not in message
    share = split_writes(WRITES, 3)[1]
    assert message.startswith("restore stopped: restore worker 1 was killed by SIGKILL while ")
    assert all(w.name in message.split(";")[0] for w in share)
    assert set(stopped.value.incomplete) == {w.name for w in share}
    assert set(stopped.value.complete) == {w.name for w in WRITES} - {w.name for w in share}
    assert message.endswith("run the same command again: it resumes where this stopped")


def test_a_workers_error_stops_the_others_and_counts_only_what_it_reported_complete() -> None:
    with pytest.raises(StreamStopped) as stopped:
        restore(worker_one_stops_with_its_first_partition_complete)
    share = split_writes(WRITES, 3)[1]
    assert stopped.value.message.startswith(
        f"restore stopped: writing to {share[0].name} failed: Broker: Message size too large;"
    )
    assert set(stopped.value.incomplete) == {w.name for w in share[1:]}
    assert share[0].name in stopped.value.complete


def test_a_cancelled_restore_stops_every_worker_and_claims_nothing_unfinished() -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(StreamStopped) as stopped:
        restore(waits_for_stop, cancel=cancel)
    assert stopped.value.complete == ()
    assert stopped.value.message.startswith(f"restore stopped: {CANCELLED};")


def test_an_unexpected_error_in_a_worker_is_one_line_with_the_traceback_left_to_debug() -> None:
    with pytest.raises(StreamStopped, match="unexpected error: ZeroDivisionError") as stopped:
        restore(fails_unexpectedly)
    assert "Traceback" not in stopped.value.message
    assert "--log-level debug" in stopped.value.message


def test_a_worker_that_exits_without_reporting_fails_the_restore() -> None:
    with pytest.raises(StreamStopped, match="exited with code 0 before reporting its share"):
        restore(exits_quietly)
