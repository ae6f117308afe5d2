"""One record per operation: the lock, the log context, the run row and one outcome event.

A domain function wraps its work in ``operation(...)``; the CLI and the daemon both call that
domain function, so every run is recorded the same way whoever started it, and neither of them
writes history or logs the outcome itself::

    with operation(state, kind="backup", name=job, lock=state.exclusive(...)) as op:
        ...
        op.succeeded(backup_id=backup_id, records=records, bytes=stored)

A broken state store never stops the operation: the data matters more than its history.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog

from dr.errors import DrError
from dr.log import get_logger, redact_text
from dr.state import FinalStatus, LockHeld, StateError, StateStore

log = get_logger(__name__)

T = TypeVar("T")
CANCELLED_EXIT_CODE = 130


@dataclass
class Operation:
    """The operation under way; the domain reports its result with ``succeeded``."""

    kind: str
    name: str
    run_id: int | None
    figures: dict[str, Any] = field(default_factory=dict)

    def succeeded(self, *, backup_id: str | None = None, records: int = 0, bytes: int = 0) -> None:
        """What the operation produced, recorded in its run row when the block ends without an
        exception (a block that ends without calling this succeeds with no figures)."""
        self.figures = {"backup_id": backup_id, "records": records, "bytes": bytes}


def outcome_of(exc: BaseException) -> FinalStatus:
    """How a run that raised ``exc`` ended: ``skipped`` (another run holds the lock),
    ``cancelled`` (asked to stop: exit code 130, or Ctrl-C) or ``failed``."""
    if isinstance(exc, LockHeld):
        return "skipped"
    if isinstance(exc, KeyboardInterrupt) or getattr(exc, "exit_code", None) == CANCELLED_EXIT_CODE:
        return "cancelled"
    return "failed"


@contextmanager
def operation(
    state: StateStore | None,
    *,
    kind: str,
    name: str,
    lock: AbstractContextManager[Any] | None = None,
) -> Iterator[Operation]:
    """Run the block as one recorded operation ``kind`` of ``name`` (a backup of job 'orders').

    Enters ``lock`` first: when it raises LockHeld, records a ``skipped`` run with the holder's
    message and re-raises (any other error taking the lock is a failed run). Otherwise records
    a ``running`` run, binds ``job`` and ``run_id`` to the log context, yields an Operation,
    and on exit records the outcome (succeeded, cancelled, failed with a one-line redacted
    error). A success is logged here (``<kind>_done`` with ``duration_s``); an exception is
    re-raised unchanged and reported once by whoever handles it (the CLI's error line, the
    daemon's ``log_outcome``), never twice. With ``state`` None nothing is recorded.
    """
    with ExitStack() as stack:
        if lock is not None:
            try:
                stack.enter_context(lock)
            except LockHeld as exc:
                record_skipped(state, kind=kind, name=name, reason=exc.message)
                raise
            except BaseException as exc:  # the lock could not even be asked: a failed run
                failed = Operation(
                    kind, name, _store(state, lambda s: s.start_run(name, kind=kind))
                )
                with structlog.contextvars.bound_contextvars(job=name, run_id=failed.run_id):
                    _end_with(state, failed, exc)
                raise
        run_id = _store(state, lambda s: s.start_run(name, kind=kind))
        op = Operation(kind=kind, name=name, run_id=run_id)
        stack.enter_context(structlog.contextvars.bound_contextvars(job=name, run_id=run_id))
        started = time.monotonic()
        try:
            yield op
        except BaseException as exc:
            _end_with(state, op, exc)
            raise
        _finish(state, run_id, status="succeeded", **op.figures)
        shown = {k: v for k, v in op.figures.items() if v is not None}
        log.info(f"{kind}_done", **shown, duration_s=_since(started))


def record_skipped(state: StateStore | None, *, kind: str, name: str, reason: str) -> None:
    """Record a run of ``name`` that did not start (its handler reports it)."""
    _store(state, lambda s: s.record_skipped(name, kind=kind, reason=reason))


def describe_error(exc: BaseException) -> str:
    """The one-line, redacted text recorded for a failure: a DrError's own message, or the
    type and text of an unexpected exception."""
    if isinstance(exc, DrError):
        text = exc.message
    else:
        text = f"unexpected error: {type(exc).__name__}: {exc}"
    return " ".join(redact_text(text).split())


def _end_with(state: StateStore | None, op: Operation, exc: BaseException) -> None:
    """Record how the run ended; the exception goes on to its handler, which reports it once
    (the CLI's one error line, or the daemon's ``log_outcome``)."""
    _finish(state, op.run_id, status=outcome_of(exc), error=describe_error(exc))


def log_outcome(kind: str, exc: BaseException, *, duration_s: float) -> None:
    """Log, once, how a run that raised ended: ``<kind>_failed`` (error; with the traceback
    when it is not a DrError, i.e. a bug), ``<kind>_skipped`` or ``<kind>_cancelled``
    (warning). For handlers that have no error line of their own, such as the daemon."""
    status = outcome_of(exc)
    error = describe_error(exc)
    if status == "failed":
        expected = isinstance(exc, DrError)
        log.error(f"{kind}_failed", error=error, duration_s=duration_s, exc_info=not expected)
    else:
        log.warning(f"{kind}_{status}", reason=error, duration_s=duration_s)


def _finish(state: StateStore | None, run_id: int | None, **outcome: Any) -> None:
    if run_id is not None:  # None: the start was never recorded, there is nothing to finish
        _store(state, lambda s: s.finish_run(run_id, **outcome))


def _store(state: StateStore | None, action: Callable[[StateStore], T]) -> T | None:
    # A broken state store must not stop the operation itself: the work still protects data.
    if state is None:
        return None
    try:
        return action(state)
    except StateError as exc:
        log.error("state_write_failed", error=exc.message)
        return None


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)
