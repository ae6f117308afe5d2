"""Running the preflight's checks side by side, each within its own deadline.

Every task runs in a thread of its own, all at once (a preflight has a few dozen at most), and
the caller waits for each until its deadline: a task still running then is reported as a
failed check that names the deadline, and its thread is left behind. The threads are daemon
threads on purpose: a ThreadPoolExecutor joins its workers when the interpreter exits, so one
check stuck in a network call would hold `kafka-dr check` open long after its answer.

A task may hand back follow-up tasks (the ACLs and the quorum of a cluster that answered):
they start when it finishes, each with its own deadline, and their checks are listed after
their parent's.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dr.log import get_logger
from dr.preflight.model import PreflightCheck, problem

log = get_logger(__name__)

Order = tuple[int, ...]


@dataclass(frozen=True)
class Outcome:
    """What a task found, and the tasks to start now that it is done."""

    checks: tuple[PreflightCheck, ...]
    then: tuple[CheckTask, ...] = ()


@dataclass(frozen=True)
class CheckTask:
    """A unit of checking with a deadline. ``name``, ``subject``, ``hint`` and ``critical``
    make the check reported when it does not finish in time (or raises, which is a bug)."""

    name: str
    subject: str
    deadline_s: float
    run: Callable[[], Outcome]
    hint: str
    critical: bool = True


@dataclass
class _Running:
    task: CheckTask
    order: Order
    started: float

    @property
    def deadline(self) -> float:
        return self.started + self.task.deadline_s


def run_tasks(tasks: Sequence[CheckTask]) -> tuple[PreflightCheck, ...]:
    """Run every task and its follow-ups concurrently; their checks in task order. Never
    raises for what a task does: a task that raises or overruns becomes a failed check."""
    done: queue.Queue[tuple[int, Outcome | Exception]] = queue.Queue()
    running: dict[int, _Running] = {}
    found: list[tuple[Order, tuple[PreflightCheck, ...]]] = []
    keys = itertools.count()

    def start(task: CheckTask, order: Order) -> None:
        key = next(keys)
        running[key] = _Running(task, order, time.monotonic())
        thread = threading.Thread(
            target=_work, args=(key, task, done), name=f"preflight {task.name}", daemon=True
        )
        thread.start()

    for i, task in enumerate(tasks):
        start(task, (i,))
    while running:
        wait = min(r.deadline for r in running.values()) - time.monotonic()
        try:
            key, outcome = done.get(timeout=max(0.0, wait))
        except queue.Empty:
            for key in [k for k, r in running.items() if r.deadline <= time.monotonic()]:
                late = running.pop(key)
                found.append((late.order, (_overran(late),)))
            continue
        finished = running.pop(key, None)
        if finished is None:
            continue  # reported as overrun already
        if isinstance(outcome, Exception):
            found.append((finished.order, (_crashed(finished, outcome),)))
            continue
        found.append((finished.order, outcome.checks))
        for j, follow_up in enumerate(outcome.then):
            start(follow_up, (*finished.order, j))
    found.sort(key=lambda item: item[0])
    return tuple(check for _, checks in found for check in checks)


def _work(key: int, task: CheckTask, done: queue.Queue[tuple[int, Outcome | Exception]]) -> None:
    try:
        done.put((key, task.run()))
    except Exception as exc:  # a bug in a check must not hide the others' results
        done.put((key, exc))


def _overran(late: _Running) -> PreflightCheck:
    seconds = time.monotonic() - late.started
    log.info("preflight_check_overran", check=late.task.name, deadline_s=late.task.deadline_s)
    return problem(
        late.task.name,
        late.task.subject,
        f"did not finish within {late.task.deadline_s:g}s",
        late.task.hint,
        critical=late.task.critical,
        seconds=seconds,
    )


def _crashed(finished: _Running, exc: Exception) -> PreflightCheck:
    log.debug(  # the failed check reports it; the traceback is for --log-level debug
        "preflight_check_crashed",
        check=finished.task.name,
        error=f"{type(exc).__name__}: {exc}",
        exc_info=exc,
    )
    return problem(
        finished.task.name,
        finished.task.subject,
        f"the check itself failed: {type(exc).__name__}: {exc}",
        "this is a bug in kafka-dr: run with --log-level debug to see where, and report it",
        critical=finished.task.critical,
        seconds=time.monotonic() - finished.started,
    )
