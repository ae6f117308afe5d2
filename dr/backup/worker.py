"""One backup worker process: copies its share of a run's partitions with the run's copy loop
(its own consumer, encoder, compressor and uploads) and reports every segment once the store
has acknowledged it.

The runner starts workers with dr.backup.workers (multiprocessing, 'spawn') and talks to each
over its own pipe: the worker sends Stored, Progress, then Done or Failed; the runner sends
STOP when the run ends early. A worker never outlives its runner: the kernel kills it when the
runner dies (Linux), and it exits as soon as its pipe to the runner closes — a run that cannot
commit must not go on writing segments beside the next run's.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Protocol

import structlog

from dr.backup.catalog import SegmentRef
from dr.backup.copy import PartitionPlan, ProgressEvent, copy_records
from dr.config.schema import BackupJob, Settings
from dr.errors import DrError
from dr.log import configure, get_logger, register_secrets
from dr.storage import open_store

log = get_logger(__name__)

STOP = "stop"
# Signals the runner acts on for its workers (Ctrl-C reaches the terminal's whole group, SIGTERM
# a systemd unit's whole cgroup): a worker ignores them and stops when the runner sends STOP.
RUNNER_SIGNALS = {signal.SIGINT, signal.SIGTERM}
PROGRESS_EVERY_S = 0.5
EXIT_ORPHANED = 3  # the runner went away: nothing this worker copies can be committed
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class WorkerTask:
    """What one worker copies, and how it logs like its runner."""

    index: int
    job: str
    settings: Settings
    spec: BackupJob  # memory_budget_mb is this worker's share of the job's budget
    share: tuple[PartitionPlan, ...]
    runner_pid: int
    log_level: str = "info"
    log_format: str = "auto"
    log_context: tuple[tuple[str, Any], ...] = ()
    secrets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Stored:
    """A segment of a partition, durably stored (the store acknowledged it)."""

    topic: str
    partition: int
    ref: SegmentRef


@dataclass(frozen=True)
class Progress:
    records: int
    bytes: int
    partitions_done: int


@dataclass(frozen=True)
class Done:
    records: int
    bytes: int


@dataclass(frozen=True)
class Failed:
    """The worker's copy failed: a DrError's message and exit code, or an unexpected error."""

    message: str
    exit_code: int
    expected: bool  # a DrError (its message is for users); else a bug, with its traceback
    details: str = ""


def run_worker(conn: Connection, task: WorkerTask) -> None:
    """The worker process's entry point: copy the share, report, exit."""
    cancel = begin_worker(conn, task)
    reporter = _Reporter(conn, task.share)
    try:
        store = open_store(task.settings.storage[task.spec.storage])
        records, stored = copy_records(
            task.settings, task.spec, task.job, list(task.share), store, cancel, reporter.progress
        )
        reporter.report_stored()
        conn.send(Done(records, stored))
    except DrError as exc:
        conn.send(Failed(exc.message, exc.exit_code, expected=True))
    except Exception as exc:
        details = "".join(traceback.format_exception(exc))
        conn.send(Failed(f"{type(exc).__name__}: {exc}", 2, expected=False, details=details))


class _Reporter:
    """Sends the runner each segment the copy loop has collected as stored, in offset order."""

    def __init__(self, conn: Connection, share: tuple[PartitionPlan, ...]) -> None:
        self.conn, self.share = conn, share
        self.sent = [0] * len(share)
        self.last = 0.0

    def report_stored(self) -> None:
        for i, plan in enumerate(self.share):
            for ref in plan.segments[self.sent[i] :]:
                self.conn.send(Stored(plan.topic, plan.partition, ref))
            self.sent[i] = len(plan.segments)

    def progress(self, event: ProgressEvent) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY_S:
            return
        self.last = now
        self.report_stored()
        self.conn.send(Progress(event.records, event.bytes, event.partitions_done))


class WorkerStart(Protocol):
    """What every worker task carries to start like its runner."""

    @property
    def index(self) -> int: ...
    @property
    def runner_pid(self) -> int: ...
    @property
    def log_level(self) -> str: ...
    @property
    def log_format(self) -> str: ...
    @property
    def log_context(self) -> tuple[tuple[str, Any], ...]: ...
    @property
    def secrets(self) -> tuple[str, ...]: ...


def begin_worker(conn: Connection, task: WorkerStart) -> threading.Event:
    """The first steps of a worker process (backup or restore): it dies with its runner, leaves
    Ctrl-C and SIGTERM to the runner, logs like it (level, format, context, secrets masked),
    and listens for STOP; returns the event STOP sets."""
    die_with_runner(task.runner_pid)
    # Ctrl-C or SIGTERM reaches the whole group: the runner decides, and sends STOP.
    for signum in RUNNER_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)  # discards one pending since start-up
    signal.pthread_sigmask(signal.SIG_UNBLOCK, RUNNER_SIGNALS)  # blocked by the runner
    configure(level=task.log_level, fmt=task.log_format)
    register_secrets(task.secrets)
    structlog.contextvars.bind_contextvars(**dict(task.log_context), worker=task.index)
    cancel = threading.Event()
    threading.Thread(target=listen_for_stop, args=(conn, cancel), daemon=True).start()
    return cancel


def listen_for_stop(conn: Connection, cancel: threading.Event) -> None:
    """STOP from the runner cancels the copy; a closed pipe means the runner is gone."""
    try:
        while conn.recv() != STOP:
            pass
        cancel.set()
    except (EOFError, OSError):
        _exit_orphaned()


def die_with_runner(runner_pid: int) -> None:
    """Ask the kernel to kill this process when the runner dies (Linux), then make sure the
    runner did not die before that was asked."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != runner_pid:
        _exit_orphaned()


def _exit_orphaned() -> None:
    logging.shutdown()
    os._exit(EXIT_ORPHANED)
