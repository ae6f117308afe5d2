"""A job's or drill's standing: failing, stale, never succeeded — the arithmetic /healthz and the
alert rules share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dr.daemon.standing import (
    STALE_FLOOR_S,
    Standing,
    duration,
    longest_interval_s,
    stale_after_s,
)

MONDAY = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.mark.parametrize(
    ("expr", "seconds"),
    [
        ("*/15 * * * *", 15 * 60),
        ("0 3 * * *", 86400),
        ("0 4 * * 1", 7 * 86400),
        ("0 2 * * 1-5", 3 * 86400),  # Friday to Monday
        ("0 0 1 * *", 31 * 86400),
        ("*/2 * * * * *", 2),
    ],
)
def test_the_longest_interval_of_a_schedule_spans_its_longest_gap(expr: str, seconds: int) -> None:
    assert longest_interval_s(expr, start=MONDAY) == seconds


def test_a_leap_day_schedule_runs_every_four_years() -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)

    assert longest_interval_s("0 0 29 2 *", start=start) == 1461 * 86400


def test_a_job_is_stale_after_two_of_its_longest_intervals_and_never_sooner_than_five_minutes() -> (
    None
):
    assert stale_after_s("0 3 * * *") == 2 * 86400
    assert stale_after_s("* * * * *") == STALE_FLOOR_S == 300
    assert stale_after_s(None) is None


def standing(
    *,
    success: datetime | None = None,
    failure: datetime | None = None,
    stale_after: float | None = 3600.0,
) -> Standing:
    return Standing(
        kind="backup",
        name="orders",
        last_success_at=success,
        last_failure_at=failure,
        last_error="cluster primary unreachable",
        stale_after_s=stale_after,
    )


def checks(s: Standing, *, now: datetime, started_at: datetime) -> list[str]:
    return [p.check for p in s.problems(now=now, started_at=started_at)]


def test_a_failure_newer_than_the_last_success_is_failing_and_an_older_one_is_not() -> None:
    assert standing(success=MONDAY - HOUR, failure=MONDAY).failing
    assert standing(failure=MONDAY).failing
    assert not standing(success=MONDAY, failure=MONDAY - HOUR).failing
    assert not standing().failing


def test_a_job_whose_last_success_is_older_than_its_limit_is_stale() -> None:
    old = standing(success=MONDAY - 2 * HOUR)
    fresh = standing(success=MONDAY - HOUR / 2)

    assert checks(old, now=MONDAY, started_at=MONDAY - 3 * HOUR) == ["backup_stale"]
    assert checks(fresh, now=MONDAY, started_at=MONDAY - 3 * HOUR) == []


def test_a_job_that_never_succeeded_is_given_its_limit_from_the_daemons_start() -> None:
    never = standing()

    assert checks(never, now=MONDAY, started_at=MONDAY - HOUR / 2) == []
    assert checks(never, now=MONDAY, started_at=MONDAY - 2 * HOUR) == ["backup_never_succeeded"]


def test_a_stale_success_before_the_daemon_started_is_stale_at_once() -> None:
    old = standing(success=MONDAY - 5 * HOUR)

    assert checks(old, now=MONDAY, started_at=MONDAY - timedelta(seconds=1)) == ["backup_stale"]


def test_a_job_that_failed_and_never_succeeded_reports_both() -> None:
    both = standing(failure=MONDAY - HOUR / 2)

    problems = both.problems(now=MONDAY, started_at=MONDAY - 2 * HOUR)

    assert [p.check for p in problems] == ["backup_failed", "backup_never_succeeded"]
    assert problems[0].detail.endswith(": cluster primary unreachable")
    assert problems[1].detail == ("no success since the daemon started 2h ago (stale after 1h)")


def test_a_job_without_a_schedule_is_never_stale() -> None:
    unscheduled = standing(stale_after=None)

    assert checks(unscheduled, now=MONDAY, started_at=MONDAY - 1000 * HOUR) == []


def test_a_drill_that_never_passed_is_reported_in_its_own_words() -> None:
    drill = Standing("drill", "weekly", None, None, stale_after_s=3600.0)

    (problem,) = drill.problems(now=MONDAY, started_at=MONDAY - 2 * HOUR)

    assert (problem.check, problem.subject) == ("drill_never_passed", "weekly")
    assert problem.detail.startswith("no passed run since the daemon started")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(12, "12s"), (250, "4m 10s"), (3 * 3600 + 300, "3h 5m"), (2 * 86400, "2d"), (0, "0s")],
)
def test_durations_read_as_their_two_largest_units(seconds: float, text: str) -> None:
    assert duration(seconds) == text
