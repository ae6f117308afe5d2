"""/healthz: each configured backup job and drill judged the same way (dr.daemon.standing), the
failing checks listed, 200 when there are none and 503 otherwise, JSON either way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from dr.daemon.drills import DRILL_JOB_PREFIX, DrillStanding, drill_health
from dr.daemon.exports import JobRuns, read_job_runs
from dr.daemon.standing import Problem, Standing
from dr.state import StateStore

NextRun = Callable[[str], datetime | None]


@dataclass(frozen=True)
class Verdict:
    """What /healthz answers: healthy or not, and its JSON body."""

    healthy: bool
    body: dict[str, Any]


def job_standing(job: str, runs: JobRuns, *, stale_after_s: float | None) -> Standing:
    """A backup job's standing from its runs."""
    failure = runs.failure
    return Standing(
        kind="backup",
        name=job,
        last_success_at=runs.success.finished_at if runs.success else None,
        last_failure_at=failure.finished_at if failure else None,
        last_error=failure.error if failure else None,
        stale_after_s=stale_after_s,
    )


def drill_standing(drill: DrillStanding, *, stale_after_s: float | None) -> Standing:
    """A drill's standing: a run that did not pass is its failure."""
    return Standing(
        kind="drill",
        name=drill.drill,
        last_success_at=drill.last_success_at,
        last_failure_at=drill.last_failure_at,
        last_error=drill.last_error,
        stale_after_s=stale_after_s,
    )


def judge(
    *,
    state: StateStore,
    running: bool,
    jobs: Mapping[str, float | None],
    drills: Mapping[str, DrillStanding],
    drill_stale_after: Mapping[str, float | None],
    next_run: NextRun,
    started_at: datetime,
    now: datetime | None = None,
) -> Verdict:
    """The verdict on the daemon: its scheduler runs, and no configured job or drill is
    failing, stale or never succeeded. ``jobs`` maps each configured job to its staleness
    limit (None: unscheduled). Raises StateError."""
    moment = now or datetime.now(UTC)
    problems: list[Problem] = []
    if not running:
        problems.append(Problem("scheduler", "daemon", "the scheduler is not running"))
    job_entries: dict[str, Any] = {}
    for name, limit in jobs.items():
        runs = read_job_runs(state, name)
        standing = job_standing(name, runs, stale_after_s=limit)
        found = standing.problems(now=moment, started_at=started_at)
        problems.extend(found)
        job_entries[name] = {
            **_job_entry(runs, next_run_at=next_run(name)),
            **_judged(standing, found),
        }
    drill_entries: dict[str, Any] = {}
    for name, drill in drills.items():
        standing = drill_standing(drill, stale_after_s=drill_stale_after.get(name))
        found = standing.problems(now=moment, started_at=started_at)
        problems.extend(found)
        entry = drill_health(
            drill,
            scheduled=drill_stale_after.get(name) is not None,
            next_run_at=next_run(f"{DRILL_JOB_PREFIX}{name}"),
        )
        drill_entries[name] = {**entry, **_judged(standing, found)}
    status = "stopped" if not running else "failing" if problems else "ok"
    body = {
        "status": status,
        "checked_at": moment.isoformat(),
        "failing": [asdict(p) for p in problems],
        "jobs": job_entries,
        "drills": drill_entries,
    }
    return Verdict(healthy=not problems, body=body)


def _job_entry(runs: JobRuns, *, next_run_at: datetime | None) -> dict[str, Any]:
    last = runs.last
    return {
        "last_status": last.status if last else None,
        "last_success_at": _iso(runs.success.finished_at if runs.success else None),
        "last_failure_at": _iso(runs.failure.finished_at if runs.failure else None),
        "last_error": runs.failure.error if runs.failure else None,
        "running": last is not None and last.status == "running",
        "next_run_at": _iso(next_run_at),
    }


def _judged(standing: Standing, found: tuple[Problem, ...]) -> dict[str, Any]:
    return {
        "scheduled": standing.stale_after_s is not None,
        "stale_after_s": standing.stale_after_s,
        "failing": standing.failing,
        "stale": any(p.check != f"{standing.kind}_failed" for p in found),
    }


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None
