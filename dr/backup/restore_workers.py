"""Writing a restore's records with several worker processes (``kafka-dr restore --workers``).

The restore's own process keeps what makes a restore safe — the journal, the resume check, the
group offsets and the result — and hands the writing out: the plan's target partitions are
split into balanced shares (by records to write), one per worker process
(dr.backup.restore_worker), each with its own idempotent producer running the restore's write
loop over its share. Every target partition is written by exactly one producer, in order and
without gaps, so each still holds a prefix of its backed-up records and a restore stopped at
any point resumes exactly. A partition counts as complete only once its worker reported every
record of it acknowledged. A worker that fails or dies stops the others, and the restore fails
with one line naming the complete and incomplete partitions; Ctrl-C or cancellation stops
every worker.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

import structlog

from dr.backup.restore_plan import RestoreError
from dr.backup.restore_stream import (
    CANCELLED,
    PartitionWrite,
    Stream,
    StreamStopped,
    names,
)
from dr.backup.restore_worker import (
    Finished,
    Originals,
    Progress,
    RestoreTask,
    Stopped,
    run_restore_worker,
)
from dr.backup.worker import STOP
from dr.backup.workers import split_balanced, started_processes
from dr.config.client_overrides import ClientValue
from dr.config.schema import ClusterSettings, StorageSettings
from dr.log import get_logger, known_secrets

log = get_logger(__name__)

MAX_WORKERS = 64
STOP_GRACE_S = 10.0  # stopped workers drain what is in flight, to report complete partitions
RESUMES = "run the same command again: it resumes where this stopped"
Target = Callable[[Connection, RestoreTask], None]


def check_workers(workers: int) -> None:
    """Raises RestoreError unless 1 <= workers <= MAX_WORKERS."""
    if not 1 <= workers <= MAX_WORKERS:
        raise RestoreError(f"workers must be 1 to {MAX_WORKERS}, not {workers}")


def worker_count(workers: int, writes: list[PartitionWrite]) -> int:
    """How many workers a restore starts: as asked, but no more than target partitions with
    records to write (at least one); logged when fewer than asked."""
    check_workers(workers)
    count = max(1, min(workers, sum(1 for w in writes if w.to_write > 0)))
    if count < workers:
        log.warning(
            "restore_workers_limited",
            workers=count,
            asked=workers,
            reason="no more workers than target partitions with records to write",
        )
    return count


def split_writes(writes: list[PartitionWrite], workers: int) -> list[list[PartitionWrite]]:
    """The target partitions in at most ``workers`` shares balanced by records to write, each
    in the plan's order; every partition in exactly one share."""
    return split_balanced(writes, workers, load=lambda w: w.to_write)


@dataclass(frozen=True)
class Destination:
    """Where the workers read from and write to."""

    cluster: ClusterSettings
    storage: StorageSettings
    producer: Mapping[str, ClientValue] | None


def write_with_workers(
    destination: Destination,
    writes: list[PartitionWrite],
    workers: int,
    *,
    until: int | None,
    total: int,
    keep: Collection[tuple[str, int]],
    progress: Callable[[int, int], None] | None,
    cancel: threading.Event | None,
    target: Target = run_restore_worker,
) -> Stream:
    """The write loop over ``writes`` by ``workers`` processes, each over its share: what they
    did together (totals, per-topic counts, the original offsets of ``keep``). Raises
    StreamStopped (a worker failed or died, or the restore was cancelled) naming the complete
    partitions: those every record of which a worker reported acknowledged."""
    shares = split_writes(writes, workers)
    tasks = [
        _task(i, destination, tuple(share), until, total, frozenset(keep))
        for i, share in enumerate(shares)
    ]
    log.info(
        "restore_workers_started",
        workers=len(tasks),
        records=[sum(w.to_write for w in share) for share in shares],
    )
    run = _Run(writes, total, progress, cancel)
    with _started(tasks, target) as running:
        run.collect(running)
    return run.stream


def _task(
    index: int,
    destination: Destination,
    share: tuple[PartitionWrite, ...],
    until: int | None,
    total: int,
    keep: frozenset[tuple[str, int]],
) -> RestoreTask:
    renderer = structlog.get_config()["processors"][-1]
    return RestoreTask(
        index=index,
        cluster=destination.cluster,
        storage=destination.storage,
        producer=dict(destination.producer) if destination.producer else None,
        share=share,
        until_ms=until,
        total=total,
        # Only the original offsets the share's group mapping needs travel back.
        keep=frozenset(
            k
            for k in keep
            if any(w.entry and (w.entry.topic, w.entry.partition) == k for w in share)
        ),
        runner_pid=os.getpid(),
        log_level=logging.getLevelName(logging.getLogger().getEffectiveLevel()).lower(),
        log_format="console" if isinstance(renderer, structlog.dev.ConsoleRenderer) else "json",
        log_context=tuple(structlog.contextvars.get_contextvars().items()),
        secrets=known_secrets(),  # the restore's registered secrets: masked in its logs too
    )


@dataclass
class _Worker:
    index: int
    process: BaseProcess
    conn: Connection
    share: tuple[PartitionWrite, ...]
    done: int = 0
    finished: Finished | None = None
    stopped: Stopped | None = None
    died: str | None = None

    @property
    def ended(self) -> bool:
        return self.finished is not None or self.stopped is not None or self.died is not None


@contextmanager
def _started(tasks: list[RestoreTask], target: Target) -> Iterator[list[_Worker]]:
    """The workers, started; on the way out every one still running is stopped, then killed."""
    name = "kafka-dr-restore-worker-{0.index}"
    with started_processes(target, tasks, name, event="restore_workers_stopped") as started:
        yield [
            _Worker(task.index, process, conn, task.share)
            for task, (process, conn) in zip(tasks, started, strict=True)
        ]


class _Run:
    """What the workers reported, gathered into one Stream; the first failure, if any."""

    def __init__(
        self,
        writes: list[PartitionWrite],
        total: int,
        progress: Callable[[int, int], None] | None,
        cancel: threading.Event | None,
    ) -> None:
        self.writes, self.total, self.on_progress, self.cancel = writes, total, progress, cancel
        self.stream = Stream()
        self.reason: str | None = None
        self.advice = RESUMES

    def collect(self, workers: list[_Worker]) -> None:
        """Until every worker has ended. On the first failure (or cancellation) the others
        are sent STOP and given STOP_GRACE_S to report what they completed; then raises
        StreamStopped."""
        deadline: float | None = None
        while not all(w.ended for w in workers):
            if self.reason is None and self.cancel is not None and self.cancel.is_set():
                self.reason, self.advice = CANCELLED, "run the same command again to resume"
            if self.reason is not None and deadline is None:
                deadline = time.monotonic() + STOP_GRACE_S
                for w in workers:
                    if not w.ended:
                        with suppress(OSError):
                            w.conn.send(STOP)
            if deadline is not None and time.monotonic() >= deadline:
                break  # the rest are killed on the way out: their partitions incomplete
            busy = [w for w in workers if not w.ended]
            ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout=0.5)
            for w in busy:
                if w.conn in ready or w.process.sentinel in ready:
                    self._drain(w)
                if not w.ended and w.process.sentinel in ready:
                    w.process.join(STOP_GRACE_S)  # reaped: its exit code says how it ended
                    w.died = died(w.index, w.process.exitcode, w.share)
                    self._fail(w.died, RESUMES)
            self._report(workers)
        if self.reason is not None:
            raise self._stopped(workers)
        for w in workers:
            assert w.finished is not None
            self.stream.sent += w.finished.sent
            self.stream.already += w.finished.already
            for topic, count in w.finished.topic_counts.items():
                self.stream.topic_counts[topic] = self.stream.topic_counts.get(topic, 0) + count
            self.stream.finished.update(x.tp for x in w.share)

    def _fail(self, reason: str, advice: str) -> None:
        if self.reason is None:  # the first failure is the cause; the others were stopped
            self.reason, self.advice = reason, advice

    def _drain(self, w: _Worker) -> None:
        while not w.ended:
            try:
                if not w.conn.poll():
                    return
                message: Any = w.conn.recv()
            except (EOFError, OSError):
                return  # its sentinel says how it ended
            if isinstance(message, Progress):
                w.done = message.done
            elif isinstance(message, Originals):
                self.stream.originals[(message.topic, message.partition)] = message.offsets
            elif isinstance(message, Finished):
                w.finished = message
            elif isinstance(message, Stopped):
                w.stopped = message
                self._fail(*_reason(w, message))

    def _report(self, workers: list[_Worker]) -> None:
        if self.on_progress is not None:
            done = sum(
                w.finished.sent + w.finished.already if w.finished else w.done for w in workers
            )
            self.on_progress(done, self.total)

    def _stopped(self, workers: list[_Worker]) -> StreamStopped:
        complete: set[str] = set()
        for w in workers:
            if w.finished is not None:
                complete.update(x.name for x in w.share)
            elif w.stopped is not None:
                complete.update(w.stopped.complete)
        done = [x.name for x in self.writes if x.name in complete]
        rest = [x.name for x in self.writes if x.name not in complete]
        assert self.reason is not None
        return StreamStopped(self.reason, self.advice, done, rest)


def _reason(w: _Worker, stopped: Stopped) -> tuple[str, str]:
    if stopped.expected:
        return stopped.reason, stopped.advice
    log.debug("restore_worker_traceback", worker=w.index, traceback=stopped.details)
    return (
        f"restore worker {w.index} failed while writing {_share_names(w.share)}: unexpected "
        f"error: {stopped.reason} (run with --log-level debug for details)",
        RESUMES,
    )


def died(index: int, exitcode: int | None, share: tuple[PartitionWrite, ...]) -> str:
    """Which worker ended how, and which partitions it was writing."""
    if exitcode is not None and exitcode < 0:
        how = f"was killed by {signal.Signals(-exitcode).name}"
    else:
        how = f"exited with code {exitcode} before reporting its share written"
    return f"restore worker {index} {how} while writing {_share_names(share)}"


def _share_names(share: tuple[PartitionWrite, ...]) -> str:
    return names([w.name for w in share], most=5)
