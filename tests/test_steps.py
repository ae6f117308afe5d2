"""The step engine: plan, journal, resume after a crash, failures, RTO from the journal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest

from dr.errors import DrError
from dr.state import StateStore
from dr.steps import (
    NotYetKnown,
    Playbook,
    Step,
    StepContext,
    execute,
    plan,
    summarise,
)


class World:
    """A tiny system the steps act on, with a count of each step's real runs."""

    def __init__(self) -> None:
        self.flag = False
        self.runs: dict[str, int] = {}
        self.crash_in: str | None = None

    def step(self, name: str, *, check: bool = True, **kwargs: Any) -> Step:
        def run(ctx: StepContext) -> dict[str, Any]:
            self.runs[name] = self.runs.get(name, 0) + 1
            if self.crash_in == name:
                raise KeyboardInterrupt  # stands in for a kill in the middle of the step
            if name == "flip":
                self.flag = True
            return {"measured": len(self.runs), "seen": sorted(ctx.outputs)}

        return Step(
            name,
            f"does {name}",
            run,
            check=(lambda _ctx: self.flag) if check and name == "flip" else None,
            **kwargs,
        )


def book(world: World) -> Playbook:
    steps = (
        world.step("assess"),
        world.step("flip", destructive=True, touches="the flag"),
        world.step("switch", switches_clients=True),
        world.step("finish"),
    )
    return Playbook("failover", "primary", "dr", {"force": False}, steps)


@pytest.fixture
def state(tmp_path: Path) -> StateStore:
    return StateStore(tmp_path / "state.db")


def test_a_run_journals_every_step_and_completes(state: StateStore) -> None:
    world = World()
    result = execute(book(world), state=state)
    assert result.status == "completed"
    assert [(s.name, s.status) for s in result.steps] == [
        ("assess", "done"),
        ("flip", "done"),
        ("switch", "done"),
        ("finish", "done"),
    ]
    assert result.outputs("switch")["seen"] == ["assess", "flip"]
    events = [(e.step, e.event) for e in state.playbook_events(result.run_id)]
    assert events[0] == ("-", "run_started")
    assert events[1:3] == [("assess", "step_started"), ("assess", "step_done")]


def test_a_killed_run_resumes_without_repeating_done_steps_and_keeps_their_outputs(
    state: StateStore,
) -> None:
    world = World()
    world.crash_in = "switch"
    with pytest.raises(KeyboardInterrupt):
        execute(book(world), state=state)
    [run] = state.playbook_runs()
    assert run.status == "interrupted"
    first = summarise(run.run_id, state, book(world).steps)
    assert [s.status for s in first.steps] == ["done", "done", "interrupted", "pending"]

    world.crash_in = None
    result = execute(book(world), state=state, run_id=run.run_id)

    assert result.status == "completed"
    assert world.runs == {"assess": 1, "flip": 1, "switch": 2, "finish": 1}
    # Figures measured before the kill are the ones reported after it.
    assert result.outputs("assess") == first.outputs("assess")


def test_a_step_found_already_done_by_its_check_is_not_run(state: StateStore) -> None:
    world = World()
    world.flag = True  # done by hand, or by a run killed after the change but before its journal
    result = execute(book(world), state=state)
    assert "flip" not in world.runs
    assert [s.status for s in result.steps][1] == "already-done"


def test_a_failed_step_ends_the_run_failed_and_a_resume_carries_on(state: StateStore) -> None:
    world = World()

    def broken(_ctx: StepContext) -> dict[str, Any]:
        raise DrError("the target cluster did not answer")

    steps = list(book(world).steps)
    steps[2] = Step("switch", "switch clients", broken, switches_clients=True)
    failing = Playbook("failover", "primary", "dr", {}, tuple(steps))
    result = execute(failing, state=state)
    assert result.status == "failed"
    assert result.error == "step switch: the target cluster did not answer"
    assert result.rto_seconds is None

    resumed = execute(book(world), state=state, run_id=result.run_id)
    assert resumed.status == "completed" and resumed.rto_seconds is not None


def test_the_rto_runs_from_the_incident_start_to_the_switch(state: StateStore) -> None:
    incident = datetime.now(UTC) - timedelta(minutes=5)
    result = execute(book(World()), state=state, incident_start=incident)
    assert result.rto_seconds is not None and 300 <= result.rto_seconds < 330


def test_hooks_run_around_each_step_and_are_journaled(state: StateStore) -> None:
    calls: list[tuple[str, str]] = []

    def hooks(
        step: str, when: Literal["before", "after"], ctx: StepContext, payload: Any
    ) -> list[dict[str, Any]]:
        calls.append((step, when))
        return [{"command": "notify", "outcome": "ok"}] if step == "switch" else []

    result = execute(book(World()), state=state, hooks=hooks)
    assert calls[:2] == [("assess", "before"), ("assess", "after")]
    hooks_journaled = [e for e in state.playbook_events(result.run_id) if e.event == "hook"]
    assert [e.step for e in hooks_journaled] == ["switch", "switch"]


def test_a_plan_changes_nothing_and_says_what_it_cannot_tell_yet() -> None:
    world = World()

    def needs_assess(ctx: StepContext) -> bool:
        ctx.output("assess")
        return True

    steps = (*book(world).steps, Step("late", "late", lambda _c: {}, check=needs_assess))
    planned = plan(Playbook("failover", "primary", "dr", {}, steps))
    assert world.runs == {}
    assert [p.done for p in planned] == [None, False, None, None, None]
    assert planned[1].destructive and planned[1].touches == "the flag"
    assert planned[-1].note == "known once step 'assess' has run"


def test_resuming_an_unknown_run_is_an_error(state: StateStore) -> None:
    with pytest.raises(DrError, match="no failover run 'nope'"):
        execute(book(World()), state=state, run_id="nope")


def test_not_yet_known_is_a_dr_error() -> None:
    assert issubclass(NotYetKnown, DrError)


def test_the_hooks_that_ran_before_one_aborted_are_journaled_with_the_failure(
    state: StateStore,
) -> None:
    def hooks(
        step: str, when: Literal["before", "after"], ctx: StepContext, payload: Any
    ) -> list[dict[str, Any]]:
        if step == "switch" and when == "after":
            failure = DrError("hook dns after step switch exited 3: zone refused")
            failure.journal = [  # type: ignore[attr-defined]
                {"command": "notify", "outcome": "succeeded"},
                {"command": "dns", "outcome": "failed"},
            ]
            raise failure
        return []

    result = execute(book(World()), state=state, hooks=hooks)

    assert result.status == "failed" and "zone refused" in (result.error or "")
    [failed] = [e for e in state.playbook_events(result.run_id) if e.event == "step_failed"]
    assert [h["command"] for h in failed.detail["hooks"]] == ["notify", "dns"]


def test_a_planned_move_measures_its_rto_from_the_step_that_stops_writes(
    state: StateStore,
) -> None:
    world = World()
    steps = (
        world.step("preflight"),
        world.step("stop_producers", stops_writes=True),
        world.step("switch", switches_clients=True),
    )
    early = datetime.now(UTC) - timedelta(hours=1)
    result = execute(
        Playbook("cutover", "blue", "green", {}, steps), state=state, incident_start=early
    )
    stopped = next(s for s in result.steps if s.name == "stop_producers")
    switched = next(s for s in result.steps if s.name == "switch")
    assert stopped.started_at is not None and switched.finished_at is not None
    assert result.rto_seconds == pytest.approx(
        (switched.finished_at - stopped.started_at).total_seconds(), abs=0.01
    )
    assert result.rto_seconds is not None and result.rto_seconds < 60  # not from `early`


def test_a_failed_run_hands_back_the_error_its_step_raised(state: StateStore) -> None:
    class Refused(DrError):
        pass

    def refuse(_ctx: StepContext) -> dict[str, Any]:
        raise Refused("the target refused")

    book = Playbook("failover", "a", "b", {}, (Step("refuse", "refuses", refuse),))
    result = execute(book, state=state)
    assert result.status == "failed"
    assert isinstance(result.failure, Refused)
    assert result.error == "step refuse: the target refused"
    assert summarise(result.run_id, state).failure is None  # never journaled
