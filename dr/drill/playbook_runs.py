"""A playbook run inside a drill: run through the step engine exactly as the CLI runs it with
``--yes`` (``dr.playbooks.run_playbook``: the cluster pair's lock, the configured hooks, the
journal, the RTO sample), and drawn on the drill's timeline from its journal: one bar for the
run, one per step it reached (``"<playbook>: <step>"``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dr.drill.context import DrillContext, now
from dr.drill.model import CheckOutcome, Step, iso
from dr.playbooks import run_playbook
from dr.steps import Playbook, RunResult, StepRecord

STEP_OUTCOMES: dict[str, CheckOutcome] = {
    "done": "passed",
    "already-done": "passed",
    "failed": "failed",
    "interrupted": "error",
}


def run_in_drill(ctx: DrillContext, scenario: str, book: Playbook, *, label: str) -> RunResult:
    """Run the playbook (non-interactively) and record its bars; returns how it ended (a
    failed step is in the result, not raised). Raises what run_playbook raises before a run
    starts (LockHeld, UsageError for a hook that cannot run); the run's bar says ``error``."""
    started = now()
    outcome: CheckOutcome = "error"
    try:
        result = run_playbook(ctx.settings, book)
        outcome = "passed" if result.status == "completed" else "failed"
    finally:
        ctx.recorder.steps.append(Step(scenario, label, iso(started), iso(now()), outcome))
    ctx.recorder.steps.extend(step_bars(scenario, result))
    return result


def step_bars(scenario: str, result: RunResult) -> list[Step]:
    """One bar per step the journal shows started and ended; steps not reached have none."""
    return [
        Step(scenario, f"{result.playbook}: {s.name}", iso(s.started_at), iso(s.finished_at),
             STEP_OUTCOMES[s.status])
        for s in result.steps
        if s.started_at is not None and s.finished_at is not None and s.status in STEP_OUTCOMES
    ]  # fmt: skip


def failed_step(result: RunResult) -> StepRecord | None:
    """The step that stopped the run (failed or interrupted), or None."""
    return next((s for s in result.steps if s.status in ("failed", "interrupted")), None)


def why_stopped(result: RunResult) -> str:
    """One line: the failing step and its error (``step copy_back: ...``)."""
    if result.error:
        return result.error
    step = failed_step(result)
    return f"step {step.name}: {step.status}" if step is not None else f"run {result.status}"


def run_evidence(result: RunResult) -> dict[str, Any]:
    """What a check shows of a run: its id, status, RTO and each step's journal timings."""
    return {
        "run_id": result.run_id,
        "playbook": result.playbook,
        "pair": f"{result.source}->{result.target}",
        "status": result.status,
        "error": result.error,
        "started_at": iso(result.started_at),
        "rto_seconds": result.rto_seconds,
        "steps": [
            {
                "name": s.name,
                "status": s.status,
                "started_at": _iso_or_none(s.started_at),
                "finished_at": _iso_or_none(s.finished_at),
                "duration_s": s.duration_s,
                "error": s.error,
            }
            for s in result.steps
        ],
        "resume": None
        if result.status == "completed"
        else f"kafka-dr playbook resume {result.run_id}",
    }


def _iso_or_none(at: datetime | None) -> str | None:
    return None if at is None else iso(at)
