"""The step engine every destructive procedure runs on: plan, journal, resume, RTO timing.

A procedure is a Playbook: named Steps, each with a description, what it touches, a ``check``
that says whether it is already done, a ``run`` that does it (safe to run twice), and a
destructive flag. The engine:

* plans: each step with its check's answer, changing nothing (``--dry-run`` shows this);
* executes under a lock (the caller's: a lease every host sharing the store respects), with an
  append-only journal in the state store: ``step_started``, ``hook``, ``step_done`` (with the
  step's outputs), ``step_failed``, ``step_interrupted``;
* resumes a run from its journal: a step journaled done is not run again, its outputs are
  taken from the journal (so figures measured before a kill are the ones reported after it); a
  step that had started is asked its ``check`` and only run when not already done;
* measures RTO: from the incident start (the run's start by default) to the end of the step
  that switches the clients; in a planned move, from the start of the step that stops the
  producers (the window in which clients cannot write) instead.

Hooks run before and after each step; a step's ``after`` hooks run before it is journaled done,
so a run killed in between runs them again on resume: hooks must be idempotent (at least once).
Confirmation is the caller's (the CLI asks on a TTY); this module never prints.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from dr.errors import DrError
from dr.log import get_logger, redact_text
from dr.state import StateStore
from dr.state.playbook_runs import PlaybookEvent, PlaybookStatus

log = get_logger(__name__)

StepStatus = Literal["done", "already-done", "failed", "interrupted", "pending"]
Outputs = Mapping[str, Any]


class NotYetKnown(DrError):
    """A check that cannot answer before earlier steps have run (in a plan)."""


class StepContext:
    """What a step sees: the run, its parameters and the outputs of the steps before it."""

    def __init__(
        self, run_id: str, playbook: str, params: Mapping[str, Any], outputs: dict[str, Outputs]
    ) -> None:
        self.run_id, self.playbook, self.params, self.outputs = run_id, playbook, params, outputs

    def output(self, step: str) -> Outputs:
        """The outputs of an earlier step; raises NotYetKnown when it has not run."""
        if step not in self.outputs:
            raise NotYetKnown(f"known once step '{step}' has run")
        return self.outputs[step]


@dataclass(frozen=True)
class Step:
    """One step of a procedure. ``run`` returns JSON outputs for the journal (and later
    steps); ``check`` answers "already done?" (None: the step is always run, which must then
    be harmless to repeat)."""

    name: str
    description: str
    run: Callable[[StepContext], Outputs | None]
    check: Callable[[StepContext], bool] | None = None
    destructive: bool = False
    touches: str = ""
    switches_clients: bool = False
    stops_writes: bool = False


@dataclass(frozen=True)
class Playbook:
    """A procedure between two clusters; ``params`` (JSON) is all a resume needs to build it
    again; ``hook_payload`` adds to what hooks get on stdin (topic map, group offsets...)."""

    name: str
    source: str
    target: str
    params: Mapping[str, Any]
    steps: tuple[Step, ...]
    hook_payload: Callable[[StepContext], Outputs] = field(default=lambda _ctx: {})

    @property
    def pair(self) -> str:
        return f"{self.source}->{self.target}"


class HookRunner(Protocol):
    """Runs the hooks configured around a step; returns what to journal, one entry per hook,
    and raises a DrError when a hook with ``on_failure: abort`` failed."""

    def __call__(
        self, step: str, when: Literal["before", "after"], ctx: StepContext, payload: Outputs
    ) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class PlannedStep:
    name: str
    description: str
    destructive: bool
    touches: str
    done: bool | None  # None: cannot tell yet
    note: str | None = None


@dataclass(frozen=True)
class StepRecord:
    name: str
    status: StepStatus
    started_at: datetime | None = None
    finished_at: datetime | None = None
    outputs: Outputs = field(default_factory=dict)
    error: str | None = None

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class RunResult:
    run_id: str
    playbook: str
    source: str
    target: str
    status: PlaybookStatus
    steps: tuple[StepRecord, ...]
    started_at: datetime
    incident_start: datetime
    rto_seconds: float | None
    error: str | None = None
    # The error the failed step raised, in the process that ran it (never journaled): a
    # command re-raises it to keep its type (exit code, --json shape) and its one line.
    failure: DrError | None = field(default=None, compare=False)

    def outputs(self, step: str) -> Outputs:
        found = next((s for s in self.steps if s.name == step), None)
        return {} if found is None else found.outputs


def new_run_id(playbook: str) -> str:
    """``failover-20261201T031500Z-3f9a``: sortable, readable at 3 a.m., unique."""
    return f"{playbook}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def plan(playbook: Playbook, params_ctx: StepContext | None = None) -> tuple[PlannedStep, ...]:
    """Each step with its check's answer now; changes nothing."""
    ctx = params_ctx or StepContext("plan", playbook.name, playbook.params, {})
    planned = []
    for step in playbook.steps:
        done: bool | None = None
        note = None
        if step.check is not None:
            try:
                done = step.check(ctx)
            except NotYetKnown as exc:
                note = exc.message
            except DrError as exc:
                note = f"cannot tell: {exc.message}"
        planned.append(
            PlannedStep(step.name, step.description, step.destructive, step.touches, done, note)
        )
    return tuple(planned)


def execute(
    playbook: Playbook,
    *,
    state: StateStore,
    run_id: str | None = None,
    incident_start: datetime | None = None,
    lock: AbstractContextManager[Any] | None = None,
    hooks: HookRunner | None = None,
) -> RunResult:
    """Run (or, with the run_id of a recorded run, resume) the playbook under ``lock``.

    A step that fails ends the run ``failed`` (journaled, returned, not raised); Ctrl-C or
    SIGTERM ends it ``interrupted`` and is re-raised. Raises LockHeld when another run holds
    the lock, StateError when the journal cannot be written, DrError for a run_id unknown or
    of another playbook.
    """
    with lock if lock is not None else nullcontext():
        run_id, journal = _open_run(playbook, state, run_id, incident_start)
        ctx = StepContext(run_id, playbook.name, playbook.params, _done_outputs(journal))
        status: PlaybookStatus = "completed"
        error = None
        failure: DrError | None = None
        for step in playbook.steps:
            if step.name in ctx.outputs:
                continue
            try:
                ctx.outputs[step.name] = _run_step(playbook, step, ctx, state, hooks)
            except KeyboardInterrupt:
                state.append_playbook_event(run_id, step.name, "step_interrupted")
                state.set_playbook_status(run_id, "interrupted", error="interrupted")
                log.warning("playbook_interrupted", run_id=run_id, step=step.name)
                raise
            except DrError as exc:
                status, error = "failed", f"step {step.name}: {redact_text(exc.message)}"
                failure = exc
                hooks_run = getattr(exc, "journal", [])  # the hooks that ran, when one aborted
                state.append_playbook_event(
                    run_id, step.name, "step_failed", {"error": error, "hooks": hooks_run}
                )
                log.info("step_failed", run_id=run_id, step=step.name, error=error)
                break
        state.set_playbook_status(run_id, status, error=error)
    result = replace(summarise(run_id, state, playbook.steps), failure=failure)
    if status == "completed":
        log.info("playbook_done", run_id=run_id, playbook=playbook.name, rto_s=result.rto_seconds)
    return result


def _open_run(
    playbook: Playbook, state: StateStore, run_id: str | None, incident_start: datetime | None
) -> tuple[str, list[PlaybookEvent]]:
    if run_id is None:
        run_id = new_run_id(playbook.name)
        now = datetime.now(UTC)
        state.create_playbook_run(
            run_id,
            playbook=playbook.name,
            pair=playbook.pair,
            params=playbook.params,
            started_at=now,
            incident_start=incident_start or now,
        )
        state.append_playbook_event(run_id, "-", "run_started", {"params": dict(playbook.params)})
        log.info("playbook_started", run_id=run_id, playbook=playbook.name, pair=playbook.pair)
        return run_id, []
    recorded = state.playbook_run(run_id)
    if recorded is None or recorded.playbook != playbook.name:
        raise DrError(f"no {playbook.name} run '{run_id}' in the state store")
    state.set_playbook_status(run_id, "running")
    state.append_playbook_event(run_id, "-", "run_resumed", {"was": recorded.status})
    log.info("playbook_resumed", run_id=run_id, playbook=playbook.name, was=recorded.status)
    return run_id, state.playbook_events(run_id)


def _run_step(
    playbook: Playbook,
    step: Step,
    ctx: StepContext,
    state: StateStore,
    hooks: HookRunner | None,
) -> dict[str, Any]:
    started = time.monotonic()
    state.append_playbook_event(ctx.run_id, step.name, "step_started")
    if hooks is not None:
        for entry in hooks(step.name, "before", ctx, playbook.hook_payload(ctx)):
            state.append_playbook_event(ctx.run_id, step.name, "hook", entry)
    already = step.check(ctx) if step.check is not None else False
    outputs = {} if already else dict(step.run(ctx) or {})
    ctx.outputs[step.name] = outputs  # the after hooks see them
    if hooks is not None:
        for entry in hooks(step.name, "after", ctx, playbook.hook_payload(ctx)):
            state.append_playbook_event(ctx.run_id, step.name, "hook", entry)
    duration = round(time.monotonic() - started, 3)
    state.append_playbook_event(
        ctx.run_id,
        step.name,
        "step_done",
        {"outputs": outputs, "already_done": already, "duration_s": duration},
    )
    log.info("step_done", run_id=ctx.run_id, step=step.name, already=already, duration_s=duration)
    return outputs


def _done_outputs(journal: list[PlaybookEvent]) -> dict[str, Outputs]:
    return {e.step: e.detail.get("outputs", {}) for e in journal if e.event == "step_done"}


def summarise(run_id: str, state: StateStore, steps: tuple[Step, ...] | None = None) -> RunResult:
    """A recorded run with its steps in order, as its journal tells it. ``steps`` (the
    playbook's) adds the steps not reached yet and names the one that switches clients, which
    ends the RTO; without it no RTO is given."""
    run = state.playbook_run(run_id)
    if run is None:
        raise DrError(f"no playbook run '{run_id}' in the state store")
    events = state.playbook_events(run_id)
    records: dict[str, StepRecord] = {}
    first_started: dict[str, datetime] = {}  # a step resumed after a kill started at its first
    for e in events:
        if e.step == "-":
            continue
        before = records.get(e.step)
        if e.event == "step_started":
            first_started.setdefault(e.step, e.at)
            records[e.step] = StepRecord(e.step, "pending", started_at=e.at)
        elif e.event == "step_done":
            status: StepStatus = "already-done" if e.detail.get("already_done") else "done"
            started = before.started_at if before else None
            outputs = e.detail.get("outputs", {})
            records[e.step] = StepRecord(e.step, status, started, e.at, outputs)
        elif e.event in ("step_failed", "step_interrupted"):
            failed: StepStatus = "failed" if e.event == "step_failed" else "interrupted"
            started = before.started_at if before else None
            records[e.step] = StepRecord(e.step, failed, started, e.at, error=e.detail.get("error"))
    names = [s.name for s in steps] if steps else list(records)
    ordered = tuple(records.get(n, StepRecord(n, "pending")) for n in names)
    switch = next((s.name for s in steps or () if s.switches_clients), None)
    switched = records.get(switch) if switch else None
    stop = next((s.name for s in steps or () if s.stops_writes), None)
    since = first_started.get(stop) if stop else None
    rto = None
    if (
        switched is not None
        and switched.finished_at is not None
        and switched.status in ("done", "already-done")
    ):
        rto = round((switched.finished_at - (since or run.incident_start)).total_seconds(), 3)
    return RunResult(
        run_id=run.run_id,
        playbook=run.playbook,
        source=run.pair.split("->")[0],
        target=run.pair.split("->")[-1],
        status=run.status,
        steps=ordered,
        started_at=run.started_at,
        incident_start=run.incident_start,
        rto_seconds=rto,
        error=run.error,
    )
