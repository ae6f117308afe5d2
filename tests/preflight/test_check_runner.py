"""Running checks side by side, each within its deadline; follow-ups after their parent."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from dr.preflight.model import PreflightCheck, passed
from dr.preflight.runner import CheckTask, Outcome, run_tasks


def ok(name: str) -> PreflightCheck:
    return passed(name, "subject", "fine")


def task(
    name: str, run: Callable[[], Outcome], *, deadline_s: float = 5.0, critical: bool = True
) -> CheckTask:
    return CheckTask(name, "subject", deadline_s, run, "the hint", critical)


def test_a_check_that_hangs_fails_at_its_deadline_without_holding_the_others() -> None:
    never = threading.Event()

    def hangs() -> Outcome:
        never.wait()
        return Outcome(())

    started = time.monotonic()
    checks = run_tasks(
        [task("hangs", hangs, deadline_s=0.5), task("quick", lambda: Outcome((ok("quick"),)))]
    )
    took = time.monotonic() - started

    assert [(c.name, c.status) for c in checks] == [("hangs", "fail"), ("quick", "ok")]
    assert checks[0].detail == "did not finish within 0.5s"
    assert checks[0].hint == "the hint"
    assert took < 2.0


def test_a_non_critical_check_that_hangs_is_only_a_warning() -> None:
    never = threading.Event()

    def hangs() -> Outcome:
        never.wait()
        return Outcome(())

    (check,) = run_tasks([task("slow", hangs, deadline_s=0.2, critical=False)])

    assert check.status == "warn"


def test_checks_run_side_by_side() -> None:
    def sleepy(name: str) -> CheckTask:
        def run() -> Outcome:
            time.sleep(0.5)
            return Outcome((ok(name),))

        return task(name, run)

    started = time.monotonic()
    checks = run_tasks([sleepy(f"c{i}") for i in range(6)])

    assert [c.name for c in checks] == [f"c{i}" for i in range(6)]
    assert time.monotonic() - started < 2.0  # 6 x 0.5 s one after the other would be 3 s


def test_a_check_that_raises_is_reported_as_a_failed_check_naming_the_error() -> None:
    def broken() -> Outcome:
        raise ValueError("boom")

    (check,) = run_tasks([task("broken", broken)])

    assert check.status == "fail"
    assert check.detail == "the check itself failed: ValueError: boom"


def test_follow_ups_start_after_their_parent_and_are_listed_under_it() -> None:
    order: list[str] = []

    def child(name: str) -> CheckTask:
        def run() -> Outcome:
            order.append(name)
            return Outcome((ok(name),))

        return task(name, run)

    def parent() -> Outcome:
        order.append("parent")
        return Outcome((ok("parent"),), (child("child-a"), child("child-b")))

    checks = run_tasks([task("parent", parent), task("other", lambda: Outcome((ok("other"),)))])

    assert [c.name for c in checks] == ["parent", "child-a", "child-b", "other"]
    assert order[0] == "parent"
