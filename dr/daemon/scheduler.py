"""The daemon's scheduler (APScheduler): one job per scheduled backup and per scheduled drill.

Each scheduled job runs the same ``run_backup`` as ``kafka-dr backup run``, which records its
own run row and logs its outcome (dr.operation); the daemon adds the Prometheus metrics. A
failing job never stops the scheduler or the other jobs. Scheduled drills (dr.daemon.drills)
are run and reported the same way; the samplers (dr.daemon.probes) are added by the daemon.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from dr.config.schema import Settings
from dr.cron import crontab_trigger
from dr.daemon.backups import Runner
from dr.daemon.backups import run_backup_job as run_backup_job  # re-exported
from dr.daemon.drills import DRILL_JOB_PREFIX, DrillRunner, DrillWatch, run_drill_job
from dr.daemon.http import DaemonError
from dr.daemon.probes import SAMPLERS
from dr.drill.run import run_drill
from dr.log import get_logger
from dr.metrics import Metrics
from dr.state import StateStore

log = get_logger(__name__)

MISFIRE_GRACE_S = 60

TriggerFactory = Callable[[str], Any]


def scheduled_jobs(settings: Settings) -> dict[str, str]:
    """The backup jobs that have a schedule, with their cron expressions."""
    return {name: job.schedule for name, job in settings.backups.items() if job.schedule}


def scheduled_drills(settings: Settings) -> dict[str, str]:
    """The drills that have a schedule, with their cron expressions."""
    return {name: drill.schedule for name, drill in settings.drills.items() if drill.schedule}


def build_scheduler(
    settings: Settings,
    *,
    runner: Runner,
    state: StateStore,
    cancel: threading.Event,
    metrics: Metrics,
    trigger_factory: TriggerFactory = crontab_trigger,
    drill_runner: DrillRunner = run_drill,
    drill_watch: DrillWatch | None = None,
) -> BackgroundScheduler:
    """A scheduler (not started) with one job per scheduled backup and one per scheduled drill
    (id ``drill:<name>``), and room for the samplers. Raises DaemonError.

    A job never overlaps itself (max_instances=1): a run due while the previous one still runs
    is skipped. Runs that start late (a busy pool, a suspended host) are coalesced into one, and
    dropped when later than the grace time; each skip is logged as an event. ``drill_watch``
    keeps the drills' failed starts for /healthz (default: one of its own).
    """
    jobs, drills = scheduled_jobs(settings), scheduled_drills(settings)
    workers = len(jobs) + len(drills) + len(SAMPLERS)
    scheduler = BackgroundScheduler(
        timezone=UTC,
        # A thread per job: a long backup of one never delays the others.
        executors={"default": ThreadPoolExecutor(max_workers=workers)},
        job_defaults={
            "max_instances": 1,
            "coalesce": True,
            "misfire_grace_time": MISFIRE_GRACE_S,
        },
    )
    scheduler.add_listener(_log_skipped_run, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
    for name, expr in jobs.items():
        scheduler.add_job(
            run_backup_job,
            trigger=_trigger(trigger_factory, expr, key=f"backups.{name}.schedule"),
            id=name,
            name=f"backup {name}",
            kwargs={
                "job": name,
                "settings": settings,
                "runner": runner,
                "cancel": cancel,
                "metrics": metrics,
            },
        )
    watch = drill_watch or DrillWatch(state, settings.drills)
    for name, expr in drills.items():
        scheduler.add_job(
            run_drill_job,
            trigger=_trigger(trigger_factory, expr, key=f"drills.{name}.schedule"),
            id=f"{DRILL_JOB_PREFIX}{name}",
            name=f"drill {name}",
            kwargs={
                "drill": name,
                "settings": settings,
                "runner": drill_runner,
                "cancel": cancel,
                "watch": watch,
                "metrics": metrics,
            },
        )
    return scheduler


def _trigger(factory: TriggerFactory, expr: str, *, key: str) -> Any:
    try:
        return factory(expr)
    except ValueError as exc:
        raise DaemonError(f"{key} '{expr}' is not a valid cron expression: {exc}") from None


def _log_skipped_run(event: Any) -> None:
    # APScheduler's own log lines are plain text; the daemon's log is one JSON event per fact.
    job_id: str = event.job_id
    if job_id.startswith("sampler:"):
        kind, field = "sampler", "sampler"
    elif job_id.startswith(DRILL_JOB_PREFIX):
        kind, field = "drill", "drill"
    else:
        kind, field = "backup", "job"
    named = {field: job_id.removeprefix(DRILL_JOB_PREFIX).removeprefix("sampler:")}
    if event.code == EVENT_JOB_MAX_INSTANCES:
        log.warning(f"{kind}_skipped", **named, reason="the previous run is still running")
    else:
        log.warning(
            f"{kind}_missed",
            **named,
            scheduled_at=_iso(event.scheduled_run_time),
            reason=f"the scheduler was more than {MISFIRE_GRACE_S} s late",
        )


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None
