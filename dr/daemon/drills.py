"""Scheduled DR drills: the job that runs one, and each drill's last run for /healthz and the
``kafka_dr_drill_*`` metrics.

A scheduled drill is the same ``run_drill`` as ``kafka-dr drill run`` (trigger ``daemon``, never
destructive), which records its own row in the state store; the daemon logs one outcome event
per run. So /healthz and the metrics read the store, and show drills run by hand too.

A drill that could not start leaves no row: refused (it has a destructive scenario, which the
daemon never runs) or stopped by an error before its report. The daemon keeps the latest such
failure in memory: it counts as the drill's last run, failed, until a newer run is recorded.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog

from dr.config.schema import Settings
from dr.drill.choice import DrillRefused
from dr.drill.model import DESTRUCTIVE
from dr.log import get_logger
from dr.metrics import Metrics
from dr.operation import describe_error, log_outcome, outcome_of
from dr.state import StateError, StateStore
from dr.state.drill_runs import DrillRun

log = get_logger(__name__)

DRILL_JOB_PREFIX = "drill:"  # scheduler ids: a drill may share its name with a backup job
RECENT_RUNS = 50  # rows read per drill to find its last finished and last passed run
NEVER_RUN = "never run"


class DrillReportHead(Protocol):
    """What the daemon reads of a finished drill's report (dr.drill.model.DrillReport)."""

    @property
    def drill_id(self) -> str: ...

    @property
    def outcome(self) -> str: ...


class DrillFinished(Protocol):
    """What ``run_drill`` returns (dr.drill.run.DrillResult), as far as the daemon reads it."""

    @property
    def report(self) -> DrillReportHead: ...


class DrillRunner(Protocol):
    """The signature of ``dr.drill.run.run_drill`` that the daemon calls; the drill records
    its own row in the state store."""

    def __call__(
        self,
        settings: Settings,
        drill: str,
        *,
        destructive: bool,
        trigger: str,
        cancel: threading.Event | None,
    ) -> DrillFinished: ...


@dataclass(frozen=True)
class LastDrill:
    """A drill's last run as /healthz and the metrics show it. ``outcome`` is passed, failed or
    error as the drill recorded it, or refused / error for a scheduled run that did not get as
    far as a report (``drill_id`` None then)."""

    drill_id: str | None
    outcome: str
    finished_at: datetime
    checks_failed: int | None = None
    objectives_missed: int | None = None
    rto_seconds: float | None = None
    report: str | None = None
    report_html: str | None = None
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"


@dataclass(frozen=True)
class DrillStanding:
    """One configured drill: its last run (None: never run), when it last passed, and whether
    a run of it is under way."""

    drill: str
    last: LastDrill | None
    last_success_at: datetime | None
    running: bool
    last_failure_at: datetime | None = None
    last_error: str | None = None

    @property
    def failing(self) -> bool:
        return self.last is not None and not self.last.passed


class DrillWatch:
    """The configured drills' last runs: the state store's rows, and the scheduled runs that
    could not start (kept in memory). Safe to share between the job threads and HTTP."""

    def __init__(self, state: StateStore, drills: Iterable[str]) -> None:
        self.state = state
        self.drills = tuple(sorted(drills))
        self._lock = threading.Lock()
        self._not_started: dict[str, LastDrill] = {}

    def not_started(self, drill: str, *, outcome: str, error: str) -> None:
        """A scheduled run of ``drill`` that ended without a recorded row, now."""
        last = LastDrill(drill_id=None, outcome=outcome, finished_at=datetime.now(UTC), error=error)
        with self._lock:
            self._not_started[drill] = last

    def standing(self, drill: str) -> DrillStanding:
        """The drill's standing from its recent rows. Raises StateError."""
        runs = self.state.drill_runs(drill=drill, limit=RECENT_RUNS)
        finished = [r for r in runs if r.status != "running" and r.finished_at is not None]
        passed = next((r for r in finished if r.status == "passed"), None)
        not_passed = next((r for r in finished if r.status != "passed"), None)
        last = _last_of(finished[0]) if finished else None
        failure = _last_of(not_passed) if not_passed else None
        with self._lock:
            failed_start = self._not_started.get(drill)
        if failed_start is not None:
            if last is None or failed_start.finished_at > last.finished_at:
                last = failed_start
            if failure is None or failed_start.finished_at > failure.finished_at:
                failure = failed_start
        return DrillStanding(
            drill=drill,
            last=last,
            last_success_at=passed.finished_at if passed else None,
            running=bool(runs) and runs[0].status == "running" and _alive(runs[0].pid),
            last_failure_at=failure.finished_at if failure else None,
            last_error=_failure_detail(failure) if failure else None,
        )

    def standings(self) -> dict[str, DrillStanding]:
        """Every configured drill's standing. Raises StateError."""
        return {name: self.standing(name) for name in self.drills}

    def publish(self, metrics: Metrics) -> None:
        """Set the drill metrics from the standings. Raises StateError."""
        for name, standing in self.standings().items():
            metrics.observe_drill(
                name,
                standing.last,
                last_success_at=standing.last_success_at,
                last_failure_at=standing.last_failure_at,
                running=standing.running,
            )


def run_drill_job(
    drill: str,
    *,
    settings: Settings,
    runner: DrillRunner,
    cancel: threading.Event,
    watch: DrillWatch,
    metrics: Metrics,
) -> None:
    """Run one scheduled drill and refresh the drill metrics; never raises (the scheduler goes
    on). A drill that ran logs its own outcome; a refused or crashed one is logged here.

    A refused drill (a destructive scenario: the daemon never passes --destructive) and one
    that stopped with an error count as failed runs; one skipped because another drill holds
    the host's drill lock, or cancelled by the daemon's stop, does not count."""
    started = time.monotonic()
    with structlog.contextvars.bound_contextvars(drill=drill):
        try:
            runner(settings, drill, destructive=False, trigger="daemon", cancel=cancel)
        except DrillRefused as exc:
            watch.not_started(drill, outcome="refused", error=exc.message)
            log.error("drill_refused", drill=drill, error=exc.message, hint=_hint(settings, drill))
        except Exception as exc:  # a drill must never stop the daemon
            if outcome_of(exc) == "failed":
                watch.not_started(drill, outcome="error", error=describe_error(exc))
            log_outcome("drill", exc, duration_s=round(time.monotonic() - started, 3))
        # A drill that ran logged its own outcome (drill_finished, dr.drill.run): one event,
        # whoever started it.
        try:
            watch.publish(metrics)
        except StateError as exc:
            log.warning("state_read_failed", error=exc.message)


def drill_health(
    standing: DrillStanding, *, scheduled: bool, next_run_at: datetime | None
) -> dict[str, Any]:
    """A drill's entry in /healthz: its last run (outcome ``never run`` when there is none)."""
    last = standing.last
    return {
        "outcome": last.outcome if last else NEVER_RUN,
        "drill_id": last.drill_id if last else None,
        "finished_at": _iso(last.finished_at if last else None),
        "checks_failed": last.checks_failed if last else None,
        "objectives_missed": last.objectives_missed if last else None,
        "rto_seconds": last.rto_seconds if last else None,
        "report": last.report if last else None,
        "report_html": last.report_html if last else None,
        "error": last.error if last else None,
        "last_success_at": _iso(standing.last_success_at),
        "last_failure_at": _iso(standing.last_failure_at),
        "running": standing.running,
        "scheduled": scheduled,
        "next_run_at": _iso(next_run_at),
    }


def _failure_detail(last: LastDrill) -> str:
    """One line on a run that did not pass: its error, or its failed checks and report."""
    if last.error:
        return last.error
    checks = f"{last.checks_failed} checks failed" if last.checks_failed else last.outcome
    return f"{checks} (report {last.report})" if last.report else checks


def _hint(settings: Settings, drill: str) -> str:
    spec = settings.drills.get(drill)
    destructive = [s for s in spec.scenarios.configured() if s in DESTRUCTIVE] if spec else []
    if not destructive:
        return "run it by hand with `kafka-dr drill run` to see why"
    return (
        f"the daemon never runs destructive scenarios ({', '.join(destructive)}): run drill "
        f"'{drill}' by hand with --destructive, or remove drills.{drill}.schedule"
    )


def _last_of(run: DrillRun) -> LastDrill:
    summary: Mapping[str, Any] = run.summary
    return LastDrill(
        drill_id=run.drill_id,
        outcome=run.status,
        finished_at=run.finished_at or run.started_at,
        checks_failed=_int(summary.get("checks_failed")),
        objectives_missed=_int(summary.get("objectives_missed")),
        rto_seconds=_float(summary.get("rto_seconds")),
        report=_text(summary.get("json")) or _text(summary.get("store_json")),
        report_html=_text(summary.get("html")),
        error=_text(summary.get("error")),
    )


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _alive(pid: int) -> bool:
    """Whether the process that started a running row still lives (a killed drill's row stays
    running until the next drill cleans up after it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None
