"""The daemon: scheduled backup jobs and drills (APScheduler), /metrics and /healthz, clean
shutdown.

Each scheduled job runs the same ``run_backup`` as ``kafka-dr backup run``, which records its
own run row and logs its outcome (dr.operation); the daemon adds the Prometheus metrics. A
failing job never stops the scheduler or the other jobs. /healthz and the backup-age metrics
read the state store, so they show the runs started by ``kafka-dr backup run`` too. Scheduled
drills (dr.daemon.drills) are run and reported the same way.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from dr.backup.runner import run_backup
from dr.config.schema import Settings
from dr.cron import crontab_trigger
from dr.daemon.backups import Runner
from dr.daemon.backups import run_backup_job as run_backup_job  # re-exported
from dr.daemon.drills import (
    DRILL_JOB_PREFIX,
    DrillRunner,
    DrillWatch,
    drill_health,
    run_drill_job,
)
from dr.daemon.http import DaemonError, HttpEndpoint, Response
from dr.drill.run import run_drill
from dr.log import get_logger
from dr.metrics import CONTENT_TYPE, Metrics, default_metrics
from dr.objectives.history import sample_rpo
from dr.state import StateError, StateStore

log = get_logger(__name__)

MISFIRE_GRACE_S = 60
RPO_SAMPLER = "rpo-sampler"
SAMPLE_RETENTION_DAYS = 90  # RPO history kept in the state store
_JSON = "application/json"

TriggerFactory = Callable[[str], Any]

# -- the scheduler ------------------------------------------------------------------------


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
    (id ``drill:<name>``). Raises DaemonError.

    A job never overlaps itself (max_instances=1): a run due while the previous one still runs
    is skipped. Runs that start late (a busy pool, a suspended host) are coalesced into one, and
    dropped when later than the grace time; each skip is logged as an event. ``drill_watch``
    keeps the drills' failed starts for /healthz (default: one of its own).
    """
    jobs, drills = scheduled_jobs(settings), scheduled_drills(settings)
    scheduler = BackgroundScheduler(
        timezone=UTC,
        # A thread per job: a long backup of one never delays the others.
        executors={"default": ThreadPoolExecutor(max_workers=len(jobs) + len(drills) + 1)},
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
    if settings.backups or (settings.mirror and settings.mirror.flows):
        scheduler.add_job(
            _sample_rpo,
            trigger=IntervalTrigger(seconds=settings.daemon.rpo_sample_interval_s, timezone=UTC),
            id=RPO_SAMPLER,
            name="RPO sampler",
            kwargs={"settings": settings, "state": state, "metrics": metrics},
        )
    return scheduler


def _trigger(factory: TriggerFactory, expr: str, *, key: str) -> Any:
    try:
        return factory(expr)
    except ValueError as exc:
        raise DaemonError(f"{key} '{expr}' is not a valid cron expression: {exc}") from None


def _sample_rpo(*, settings: Settings, state: StateStore, metrics: Metrics) -> None:
    try:
        sample_rpo(settings, state, metrics)
        state.prune_samples(datetime.now(UTC) - timedelta(days=SAMPLE_RETENTION_DAYS))
    except Exception as exc:  # sampling must never stop the daemon
        log.warning("rpo_sample_failed", error=str(exc))


def _log_skipped_run(event: Any) -> None:
    # APScheduler's own log lines are plain text; the daemon's log is one JSON event per fact.
    job_id: str = event.job_id
    kind, field = ("drill", "drill") if job_id.startswith(DRILL_JOB_PREFIX) else ("backup", "job")
    named = {field: job_id.removeprefix(DRILL_JOB_PREFIX)}
    if event.code == EVENT_JOB_MAX_INSTANCES:
        log.warning(f"{kind}_skipped", **named, reason="the previous run is still running")
    else:
        log.warning(
            f"{kind}_missed",
            **named,
            scheduled_at=_iso(event.scheduled_run_time),
            reason=f"the scheduler was more than {MISFIRE_GRACE_S} s late",
        )


# -- the daemon -----------------------------------------------------------------------------


class Daemon:
    """The scheduler and the HTTP endpoint, started and stopped together."""

    def __init__(
        self,
        settings: Settings,
        *,
        runner: Runner,
        metrics: Metrics | None = None,
        trigger_factory: TriggerFactory = crontab_trigger,
        drill_runner: DrillRunner = run_drill,
    ) -> None:
        if settings.state is None:
            raise DaemonError("settings.state is not set: load the config with load_config")
        self.settings = settings
        self.state = StateStore(settings.state)
        self.metrics = metrics or default_metrics()
        self.cancel = threading.Event()
        self.jobs = sorted(scheduled_jobs(settings))
        # Every configured job, scheduled or not: `kafka-dr backup run` records its runs in the
        # same state store, so /healthz and the backup-age metrics show them all.
        self.backup_jobs = sorted(settings.backups)
        self.drills = sorted(scheduled_drills(settings))
        # Every configured drill, scheduled or not, as for the backup jobs.
        self.drill_watch = DrillWatch(self.state, settings.drills)
        # APScheduler's info lines repeat what each run logs, in plain text; its warnings
        # (skipped and missed runs) are logged as events by _log_skipped_run.
        logging.getLogger("apscheduler").setLevel(logging.ERROR)
        self._scheduler = build_scheduler(
            settings,
            runner=runner,
            state=self.state,
            cancel=self.cancel,
            metrics=self.metrics,
            trigger_factory=trigger_factory,
            drill_runner=drill_runner,
            drill_watch=self.drill_watch,
        )
        self._http: HttpEndpoint | None = None
        self._stopped = False
        self._store_readable = True

    @property
    def port(self) -> int:
        """The HTTP port listened on."""
        if self._http is None:
            raise DaemonError("the daemon is not started")
        return self._http.port

    def start(self) -> None:
        """Recover interrupted runs, serve HTTP, start the scheduler. Raises DrError."""
        self.state.recover_interrupted_runs()
        for job in self.backup_jobs:
            self.metrics.declare_backup_job(job)
        self.refresh_metrics()
        self._http = HttpEndpoint(
            self.settings.daemon.listen, {"/metrics": self._metrics, "/healthz": self._healthz}
        )
        try:
            self._scheduler.start()
        except BaseException:
            self._http.close()
            raise
        log.info(
            "daemon_started",
            jobs=self.jobs,
            drills=self.drills,
            listen=self.settings.daemon.listen,
        )

    def stop(self) -> None:
        """Cancel running backups, wait for them to stop, close the HTTP endpoint."""
        if self._stopped:
            return
        self._stopped = True
        self.cancel.set()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)
        if self._http is not None:
            self._http.close()
            self._http = None
        log.info("daemon_stopped")

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Whether the daemon is healthy: its scheduler runs and no drill's last run failed;
        with each job's last status and each drill's last run as the state store has them,
        whoever ran them (the daemon or the CLI). Raises StateError.

        A skipped run (another run held the job's lock) is no news of the job: ``last_status``
        is that of the latest run that did start. A drill never run does not fail health.
        """
        running = bool(self._scheduler.running)
        jobs: dict[str, Any] = {}
        for name in self.backup_jobs:
            last = self.state.last_run(name, include_skipped=False)
            success = self.state.last_success(name)
            jobs[name] = {
                "last_status": last.status if last else None,
                "last_success_at": _iso(success.finished_at if success else None),
                "running": last is not None and last.status == "running",
                "scheduled": name in self.jobs,
                "next_run_at": _iso(self._next_run(name)),
            }
        standings = self.drill_watch.standings()
        drills = {
            name: drill_health(
                standing,
                scheduled=name in self.drills,
                next_run_at=self._next_run(f"{DRILL_JOB_PREFIX}{name}"),
            )
            for name, standing in standings.items()
        }
        failing = [name for name, standing in standings.items() if standing.failing]
        status = "stopped" if not running else "failing" if failing else "ok"
        body = {"status": status, "jobs": jobs, "drills": drills, "failing_drills": failing}
        return running and not failing, body

    def _next_run(self, job_id: str) -> datetime | None:
        scheduled = self._scheduler.get_job(job_id) if self._scheduler.running else None
        next_run: datetime | None = getattr(scheduled, "next_run_time", None)
        return next_run

    def refresh_metrics(self) -> None:
        """Bring the last-success time, age and duration of each job, and each drill's
        metrics, up to the state store, which also holds the runs of the CLI. A store that
        cannot be read leaves the metrics as they are (logged once, until it can be read
        again)."""
        try:
            for name in self.backup_jobs:
                success = self.state.last_success(name)
                if success is not None and success.finished_at is not None:
                    self.metrics.observe_last_success(
                        name, success.finished_at, duration_s=success.duration_s
                    )
            self.drill_watch.publish(self.metrics)
        except StateError as exc:
            if self._store_readable:
                log.warning("state_read_failed", error=exc.message)
            self._store_readable = False
        else:
            self._store_readable = True

    def _metrics(self) -> Response:
        self.refresh_metrics()
        return Response(200, CONTENT_TYPE, self.metrics.render())

    def _healthz(self) -> Response:
        try:
            healthy, body = self.health()
        except StateError as exc:
            healthy, body = False, {"status": "error", "error": exc.message}
        return Response(200 if healthy else 503, _JSON, json.dumps(body).encode())


def run_daemon(
    settings: Settings,
    *,
    runner: Runner = run_backup,
    stop: threading.Event | None = None,
    metrics: Metrics | None = None,
    trigger_factory: TriggerFactory = crontab_trigger,
    drill_runner: DrillRunner = run_drill,
) -> None:
    """Run the scheduled backups and drills and serve /metrics and /healthz until stopped.

    Stops when ``stop`` is set or, when called from the main thread, on SIGTERM or SIGINT (a
    second signal acts as the default one would). Running backups are cancelled at their next
    segment boundary and recorded as cancelled. Raises DrError when the daemon cannot start.
    """
    stop = stop or threading.Event()
    daemon = Daemon(
        settings,
        runner=runner,
        metrics=metrics,
        trigger_factory=trigger_factory,
        drill_runner=drill_runner,
    )
    with _stop_on_signals(stop):
        daemon.start()
        try:
            while not stop.wait(1.0):
                pass
        finally:
            daemon.stop()


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = (signal.SIGTERM, signal.SIGINT)
    previous = {s: signal.getsignal(s) for s in signals}

    def restore() -> None:
        for s, handler in previous.items():
            signal.signal(s, handler)

    def on_signal(signum: int, _frame: object) -> None:
        log.info("daemon_stopping", signal=signal.Signals(signum).name)
        restore()  # a second signal stops the process the hard way
        stop.set()

    for s in signals:
        signal.signal(s, on_signal)
    try:
        yield
    finally:
        restore()
