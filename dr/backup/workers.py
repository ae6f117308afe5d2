"""Copying a run's partitions with several worker processes (a job's ``workers``).

The runner keeps what makes a backup safe — the job's lock, the manifest and its chain — and
hands the copying out: the planned partitions are split into balanced shares (by records to
copy), one per worker process (dr.backup.worker), each with its own consumer, encoder,
compressor and uploads, within its share of the job's memory budget. A segment counts only
once its worker reported it stored; a worker that dies or fails ends the run (nothing is
committed, the next run resumes from the last manifest) with one line naming the worker and
its partitions. Ctrl-C, cancellation or any error stops every worker before the run ends.
"""

from __future__ import annotations

import heapq
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

import structlog

from dr.backup.copy import (
    BackupCancelled,
    BackupError,
    MemoryBudget,
    PartitionPlan,
    ProgressEvent,
    copy_records,
)
from dr.backup.tuning import consumer_settings
from dr.backup.worker import (
    RUNNER_SIGNALS,
    STOP,
    Done,
    Failed,
    Progress,
    Stored,
    WorkerTask,
    run_worker,
)
from dr.config.schema import BackupJob, Settings
from dr.log import get_logger
from dr.storage import ObjectStore

log = get_logger(__name__)

# Each worker needs at least the smallest budget a job may have; fewer workers start otherwise.
MIN_WORKER_BUDGET_MB = 32
STOP_GRACE_S = 5.0  # a stopped worker finishes its uploads in flight, then it is killed
TP = tuple[str, int]
Target = Callable[[Connection, WorkerTask], None]
T = TypeVar("T")


class WorkerFailed(BackupError):
    """A backup worker failed or died; nothing was committed."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def split_balanced(items: Iterable[T], workers: int, *, load: Callable[[T], int]) -> list[list[T]]:
    """The items in at most ``workers`` shares balanced by ``load``: largest first, each to the
    lightest share so far; each share keeps the items' own order. Every item is in exactly one
    share; no share is empty."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    indexed = list(enumerate(items))
    shares: list[list[tuple[int, T]]] = [[] for _ in range(workers)]
    lightest = [(0, i) for i in range(workers)]
    for at, item in sorted(indexed, key=lambda x: (-load(x[1]), x[0])):
        weight, i = heapq.heappop(lightest)
        shares[i].append((at, item))
        heapq.heappush(lightest, (weight + load(item), i))
    return [[item for _, item in sorted(s, key=lambda x: x[0])] for s in shares if s]


def split_partitions(plans: Iterable[PartitionPlan], workers: int) -> list[list[PartitionPlan]]:
    """The plans in at most ``workers`` shares balanced by records to copy (split_balanced),
    each share in topic-partition order."""
    ordered = sorted(plans, key=lambda p: (p.topic, p.partition))
    return split_balanced(ordered, workers, load=lambda p: p.end - p.start)


def worker_count(spec: BackupJob, partitions: int) -> int:
    """How many workers a run starts: the job's ``workers``, but no more than partitions to
    copy, nor than fit in its memory budget at MIN_WORKER_BUDGET_MB each."""
    return max(1, min(spec.workers, partitions, spec.memory_budget_mb // MIN_WORKER_BUDGET_MB))


def worker_spec(spec: BackupJob, workers: int) -> BackupJob:
    """The job as one of ``workers`` workers runs it: its share of the memory budget."""
    return spec.model_copy(
        update={"memory_budget_mb": spec.memory_budget_mb // workers, "workers": 1}
    )


def _fetch_queue(spec: BackupJob) -> int:
    return MemoryBudget.of(spec).fetch_queue


def check_covered(plan: PartitionPlan) -> None:
    """Raise BackupError unless the segments reported for the partition cover exactly its
    planned offsets [start, end), each following the one before."""
    at = plan.start
    for ref in plan.segments:
        if ref.start_offset != at or ref.end_offset < ref.start_offset:
            break
        at = ref.end_offset
    else:
        if at == plan.end:
            return
    held = ", ".join(f"{r.start_offset}..{r.end_offset}" for r in plan.segments[:5])
    raise BackupError(
        f"{plan.topic}-{plan.partition}: the segments reported stored ({held or 'none'}) do not "
        f"cover offsets {plan.start}..{plan.end}: nothing recorded; run the job again"
    )


def copy_with_workers(
    settings: Settings,
    spec: BackupJob,
    job: str,
    plans: list[PartitionPlan],
    store: ObjectStore,
    cancel: threading.Event | None,
    progress: Callable[[ProgressEvent], None] | None,
    *,
    target: Target = run_worker,
) -> tuple[int, int]:
    """copy_records with spec.workers processes: the same contract, and each plan's segments
    are exactly those its worker reported stored. Returns (records, bytes stored); raises
    WorkerFailed (a worker died or failed), BackupCancelled, BackupError."""
    todo = [p for p in plans if p.start < p.end]
    count = worker_count(spec, len(todo))
    if count < spec.workers and len(todo) > count:
        log.warning(
            "backup_workers_limited",
            job=job,
            workers=count,
            asked=spec.workers,
            reason=f"memory_budget_mb allows {MIN_WORKER_BUDGET_MB} MiB per worker at least",
        )
    if count == 1:  # one share: copied in the runner's process, as with workers: 1
        return copy_records(settings, spec, job, plans, store, cancel, progress)
    shares = split_partitions(todo, count)
    each = worker_spec(spec, len(shares))
    # A client override past one worker's share of the budget: refused before any starts.
    consumer_settings(job, each.client_overrides.consumer, fetch_queue_bytes=_fetch_queue(each))
    tasks = [_task(i, job, settings, each, share) for i, share in enumerate(shares)]
    log.info(
        "backup_workers_started",
        job=job,
        workers=len(tasks),
        records=[sum(p.end - p.start for p in s) for s in shares],
    )
    run = _Run(job, shares, cancel, progress)
    with _started(tasks, target) as workers:
        run.collect(workers)
    for plan in todo:
        check_covered(plan)
    return run.records, run.bytes


def _task(
    index: int, job: str, settings: Settings, spec: BackupJob, share: list[PartitionPlan]
) -> WorkerTask:
    from dr.log import known_secrets  # the runner's registered secrets: masked in its logs too

    renderer = structlog.get_config()["processors"][-1]
    return WorkerTask(
        index=index,
        job=job,
        settings=settings,
        spec=spec,
        # Only what the copy needs: a partition's carried history stays with the runner.
        share=tuple(replace(p, carried=None, segments=[]) for p in share),
        runner_pid=os.getpid(),
        log_level=logging.getLevelName(logging.getLogger().getEffectiveLevel()).lower(),
        log_format="console" if isinstance(renderer, structlog.dev.ConsoleRenderer) else "json",
        log_context=tuple(structlog.contextvars.get_contextvars().items()),
        secrets=known_secrets(),
    )


@dataclass
class _Worker:
    index: int
    process: BaseProcess
    conn: Connection
    share: list[PartitionPlan]
    done: Done | None = None
    progress: Progress | None = None


@contextmanager
def _started(tasks: list[WorkerTask], target: Target) -> Iterator[list[_Worker]]:
    """The workers, started; on the way out every one still running is stopped, then killed."""
    name = "kafka-dr-backup-{0.job}-worker-{0.index}"
    with started_processes(target, tasks, name, event="backup_workers_stopped") as started:
        yield [
            _Worker(task.index, process, conn, list(task.share))
            for task, (process, conn) in zip(tasks, started, strict=True)
        ]


@contextmanager
def started_processes(
    target: Callable[[Connection, Any], None], tasks: Iterable[Any], name: str, *, event: str
) -> Iterator[list[tuple[BaseProcess, Connection]]]:
    """One worker process per task ("spawn", Ctrl-C and SIGTERM blocked while it starts: see
    start_signals_blocked) running ``target(its end of a pipe, task)``, named ``name`` formatted
    with the task, with the runner's end of its pipe; on the way out every one still running
    is stopped, then killed (stop_processes, logging ``event``)."""
    context = multiprocessing.get_context("spawn")
    started: list[tuple[BaseProcess, Connection]] = []
    try:
        for task in tasks:
            ours, theirs = context.Pipe(duplex=True)
            process = context.Process(
                target=target, args=(theirs, task), name=name.format(task), daemon=True
            )
            start_signals_blocked(process)
            theirs.close()
            started.append((process, ours))
        yield started
    finally:
        stop_processes(started, event=event)


def start_signals_blocked(process: BaseProcess) -> None:
    """Start a worker with SIGINT and SIGTERM blocked (RUNNER_SIGNALS), so that a Ctrl-C (a
    terminal sends it to the whole group) or a SIGTERM (systemd sends it to the whole unit)
    during its start-up stays pending in it, instead of ending it with a traceback of its
    imports; the worker then ignores both (which discards it) and unblocks them.

    The mask survives spawn's exec once the resource tracker runs (its first start unblocks
    SIGINT: it is started before). The runner's own signal meanwhile is never lost: a handler
    of this function's notes it, whichever thread the kernel delivers it to, and it is raised
    again once the runner's handler is back, which then stops the workers. (Ignoring the
    signals here instead would discard them when delivered to another of the runner's threads.)
    """
    resource_tracker.ensure_running()
    in_main = threading.current_thread() is threading.main_thread()
    noted: list[int] = []
    previous = {s: signal.getsignal(s) for s in RUNNER_SIGNALS} if in_main else {}
    for signum in previous:
        signal.signal(signum, lambda s, _: noted.append(s))
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, RUNNER_SIGNALS)
    try:
        process.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
    for received in dict.fromkeys(noted):
        signal.raise_signal(received)  # to the runner's own handler


def stop_processes(workers: list[tuple[BaseProcess, Connection]], *, event: str) -> None:
    """Send STOP to each worker still running, give them STOP_GRACE_S together to end, kill
    those still running; every pipe closed. Logs ``event`` when any was running."""
    running = [(p, c) for p, c in workers if p.is_alive()]
    for _, conn in running:
        with suppress(OSError):  # it just ended
            conn.send(STOP)
    deadline = time.monotonic() + STOP_GRACE_S
    for process, _ in running:
        process.join(max(0.0, deadline - time.monotonic()))
    for process, conn in workers:
        if process.is_alive():
            process.kill()
        process.join()
        conn.close()
    if running:
        log.info(event, workers=len(running))


class _Run:
    """What the workers reported: segments into the runner's own plans, totals, progress."""

    def __init__(
        self,
        job: str,
        shares: list[list[PartitionPlan]],
        cancel: threading.Event | None,
        progress: Callable[[ProgressEvent], None] | None,
    ) -> None:
        self.job, self.cancel, self.on_progress = job, cancel, progress
        self.plans = {(p.topic, p.partition): p for s in shares for p in s}
        self.expected = sum(p.end - p.start for p in self.plans.values())
        self.records = self.bytes = 0

    def collect(self, workers: list[_Worker]) -> None:
        """Until every worker is done; raises when one fails or dies, or the run is cancelled."""
        while any(w.done is None for w in workers):
            if self.cancel is not None and self.cancel.is_set():
                raise BackupCancelled(f"backup of job '{self.job}' cancelled: nothing recorded")
            busy = [w for w in workers if w.done is None]
            ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout=0.5)
            for w in busy:
                if w.conn in ready or w.process.sentinel in ready:
                    self._drain(w)
                if w.done is None and w.process.sentinel in ready:
                    w.process.join(STOP_GRACE_S)  # reaped: its exit code says how it ended
                    raise WorkerFailed(died(self.job, w.index, w.process.exitcode, w.share))
            self._report(workers)
        self.records = sum(w.done.records for w in workers if w.done)
        self.bytes = sum(w.done.bytes for w in workers if w.done)

    def _drain(self, w: _Worker) -> None:
        while w.done is None:
            try:
                if not w.conn.poll():
                    return
                message: Any = w.conn.recv()
            except (EOFError, OSError):
                return  # its sentinel says how it ended
            if isinstance(message, Stored):
                self.plans[(message.topic, message.partition)].segments.append(message.ref)
            elif isinstance(message, Progress):
                w.progress = message
            elif isinstance(message, Done):
                w.done = message
            elif isinstance(message, Failed):
                raise _failure(self.job, w, message)

    def _report(self, workers: list[_Worker]) -> None:
        if self.on_progress is None:
            return
        done = [w.done or w.progress for w in workers]
        self.on_progress(
            ProgressEvent(
                records=sum(d.records for d in done if d),
                bytes=sum(d.bytes for d in done if d),
                records_expected=self.expected,
                partitions_done=sum(
                    len(w.share) if w.done else w.progress.partitions_done if w.progress else 0
                    for w in workers
                ),
                partitions_total=len(self.plans),
            )
        )


def died(job: str, index: int, exitcode: int | None, share: list[PartitionPlan]) -> str:
    """One line: which worker of which job ended how, and which partitions it was copying."""
    if exitcode is not None and exitcode < 0:
        how = f"was killed by {signal.Signals(-exitcode).name}"
    else:
        how = f"exited with code {exitcode} before reporting its copy done"
    return (
        f"backup worker {index} of job '{job}' {how} while copying {partition_names(share)}: "
        "nothing recorded; run the job again to resume from its last backup"
    )


def partition_names(share: list[PartitionPlan], most: int = 5) -> str:
    names = ", ".join(f"{p.topic}-{p.partition}" for p in share[:most])
    return names + (f" and {len(share) - most} more" if len(share) > most else "")


def _failure(job: str, w: _Worker, failed: Failed) -> WorkerFailed:
    if failed.expected:
        return WorkerFailed(failed.message, failed.exit_code)
    log.debug("backup_worker_traceback", worker=w.index, traceback=failed.details)
    return WorkerFailed(
        f"backup worker {w.index} of job '{job}' failed while copying "
        f"{partition_names(w.share)}: unexpected error: {failed.message} (run with --log-level "
        "debug for details)"
    )
