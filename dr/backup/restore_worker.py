"""One restore worker process: writes its share of a restore's target partitions with the
restore's write loop (dr.backup.restore_stream) through a record writer of its own (one
idempotent producer per worker), and reports to the restore's process over a pipe.

The worker sends Progress, the original offsets its share's group mapping needs (Originals),
then Finished (every record of its share acknowledged) or Stopped (what stopped it, and which
of its partitions are complete). The restore's process sends STOP to end it early. As a backup
worker does (dr.backup.worker), it never outlives the restore's process: the kernel kills it
when that process dies (Linux), and it exits as soon as its pipe closes.
"""

from __future__ import annotations

import threading
import time
import traceback
from array import array
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from dr.backup.restore_stream import RESUME, PartitionWrite, StreamStopped, write_partitions
from dr.backup.restore_write import RecordWriter
from dr.backup.worker import begin_worker
from dr.config.client_overrides import ClientValue
from dr.config.schema import ClusterSettings, StorageSettings
from dr.errors import DrError
from dr.storage import open_store

PROGRESS_EVERY_S = 0.5


@dataclass(frozen=True)
class RestoreTask:
    """What one worker writes, where from and to, and how it logs like the restore."""

    index: int
    cluster: ClusterSettings
    storage: StorageSettings
    producer: Mapping[str, ClientValue] | None  # the backup job's producer overrides
    share: tuple[PartitionWrite, ...]
    until_ms: int | None
    total: int  # records of the whole restore, for progress
    keep: frozenset[tuple[str, int]]  # backup partitions whose original offsets groups need
    runner_pid: int
    log_level: str = "info"
    log_format: str = "auto"
    log_context: tuple[tuple[str, Any], ...] = ()
    secrets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Progress:
    done: int  # records of the share written or found already there


@dataclass(frozen=True)
class Originals:
    """The original offsets of one backup partition's restored records, in order."""

    topic: str
    partition: int
    offsets: array[int]


@dataclass(frozen=True)
class Finished:
    """Every record of the share is on the target, acknowledged."""

    sent: int
    already: int
    topic_counts: dict[str, int]


@dataclass(frozen=True)
class Stopped:
    """The share's write loop stopped: why, what to do, and which partitions are complete."""

    reason: str
    advice: str
    complete: tuple[str, ...]
    expected: bool = True  # a DrError (its message is for users); else a bug
    details: str = ""


def run_restore_worker(conn: Connection, task: RestoreTask) -> None:
    """The worker process's entry point: write the share, report, exit."""
    cancel = begin_worker(conn, task)
    try:
        conn.send(_write_share(conn, task, cancel))
    except StreamStopped as exc:
        conn.send(Stopped(exc.reason, exc.advice, exc.complete))
    except DrError as exc:  # before any record was written (the store, the producer)
        conn.send(Stopped(exc.message, RESUME, ()))
    except Exception as exc:
        details = "".join(traceback.format_exception(exc))
        conn.send(Stopped(f"{type(exc).__name__}: {exc}", RESUME, (), False, details))


def _write_share(conn: Connection, task: RestoreTask, cancel: threading.Event) -> Finished:
    store = open_store(task.storage)
    last = 0.0

    def progress(done: int, _total: int) -> None:
        nonlocal last
        if time.monotonic() - last >= PROGRESS_EVERY_S:
            last = time.monotonic()
            conn.send(Progress(done))

    writer = RecordWriter(task.cluster, task.producer)
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch") as prefetch:
            stream = write_partitions(
                store,
                list(task.share),
                writer,
                until=task.until_ms,
                total=task.total,
                prefetch=prefetch,
                progress=progress,
                cancel=cancel,
                keep=task.keep,
            )
    finally:
        writer.close()
    for (topic, partition), offsets in stream.originals.items():
        conn.send(Originals(topic, partition, offsets))
    return Finished(stream.sent, stream.already, stream.topic_counts)
