"""The daemon: scheduled backup jobs and drills, the samplers, /metrics and /healthz, and a
clean shutdown.

/healthz and the job and drill metrics read the state store, so they show the runs started by
``kafka-dr backup run`` and ``kafka-dr drill run`` too. Cluster health, MirrorMaker's health
and RPO come from the samplers (dr.daemon.probes), on a schedule: a scrape never waits for a
cluster.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from dr.backup.runner import run_backup
from dr.config.schema import Settings
from dr.cron import crontab_trigger
from dr.daemon.backups import Runner
from dr.daemon.drills import DrillRunner, DrillWatch
from dr.daemon.exports import declare_configured, publish_job_runs, read_job_runs
from dr.daemon.health import judge
from dr.daemon.http import DaemonError, HttpEndpoint, Response
from dr.daemon.probes import Probes, Samplers, preflight_summary
from dr.daemon.scheduler import TriggerFactory, build_scheduler, scheduled_drills, scheduled_jobs
from dr.daemon.standing import stale_after_s
from dr.drill.run import run_drill
from dr.log import get_logger
from dr.metrics import CONTENT_TYPE, Metrics, default_metrics
from dr.state import StateError, StateStore

log = get_logger(__name__)

_JSON = "application/json"


class Daemon:
    """The scheduler, the samplers and the HTTP endpoint, started and stopped together."""

    def __init__(
        self,
        settings: Settings,
        *,
        runner: Runner,
        metrics: Metrics | None = None,
        trigger_factory: TriggerFactory = crontab_trigger,
        drill_runner: DrillRunner = run_drill,
        probes: Probes | None = None,
    ) -> None:
        if settings.state is None:
            raise DaemonError("settings.state is not set: load the config with load_config")
        self.settings = settings
        self.state = StateStore(settings.state)
        self.metrics = metrics or default_metrics()
        self.cancel = threading.Event()
        self.started_at = datetime.now(UTC)
        self.jobs = sorted(scheduled_jobs(settings))
        self.drills = sorted(scheduled_drills(settings))
        # Every configured job and drill, scheduled or not: `kafka-dr backup run` and `drill
        # run` record their runs in the same state store, so /healthz and the metrics show
        # them all; only a scheduled one can be stale.
        self.stale_after = {n: _stale_after(j.schedule) for n, j in settings.backups.items()}
        self.drill_stale_after = {n: _stale_after(d.schedule) for n, d in settings.drills.items()}
        self.drill_watch = DrillWatch(self.state, settings.drills)
        # APScheduler's info lines repeat what each run logs, in plain text; its warnings
        # (skipped and missed runs) are logged as events by the scheduler's listener.
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
        self.samplers = Samplers(
            settings,
            probes=probes or Probes(),
            state=self.state,
            metrics=self.metrics,
            cancel=self.cancel,
        )
        self._http: HttpEndpoint | None = None
        self._preflight: threading.Thread | None = None
        self._stopped = False
        self._store_readable = True

    @property
    def port(self) -> int:
        """The HTTP port listened on."""
        if self._http is None:
            raise DaemonError("the daemon is not started")
        return self._http.port

    def start(self) -> None:
        """Recover interrupted runs, declare every job, flow and drill's series, serve HTTP,
        start the scheduler (the samplers run at once) and the preflight, in the background.
        Raises DrError."""
        self.state.recover_interrupted_runs()
        self.started_at = datetime.now(UTC)
        declare_configured(
            self.metrics,
            self.settings,
            started_at=self.started_at,
            stale_after=self.stale_after,
            drill_stale_after=self.drill_stale_after,
        )
        self.refresh_metrics()
        self._http = HttpEndpoint(
            self.settings.daemon.listen, {"/metrics": self._metrics, "/healthz": self._healthz}
        )
        try:
            self.samplers.add_jobs(self._scheduler)
            self._scheduler.start()
        except BaseException:
            self._http.close()
            raise
        self._preflight = self.samplers.start_preflight()
        log.info(
            "daemon_started",
            jobs=self.jobs,
            drills=self.drills,
            listen=self.settings.daemon.listen,
        )

    def stop(self) -> None:
        """Cancel running backups and samplers, wait for the backups to stop, close the HTTP
        endpoint."""
        if self._stopped:
            return
        self._stopped = True
        self.cancel.set()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)
        if self._preflight is not None:
            self._preflight.join(timeout=5)  # it gives up at once when cancelled
        if self._http is not None:
            self._http.close()
            self._http = None
        log.info("daemon_stopped")

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Whether the daemon is healthy — its scheduler runs, and no configured backup job
        or drill is failing, stale or never succeeded (dr.daemon.standing) — with the failing
        checks, each job's and drill's standing as the state store has it (whoever ran them)
        and the start-up preflight. Raises StateError."""
        verdict = judge(
            state=self.state,
            running=bool(self._scheduler.running),
            jobs=self.stale_after,
            drills=self.drill_watch.standings(),
            drill_stale_after=self.drill_stale_after,
            next_run=self._next_run,
            started_at=self.started_at,
        )
        preflight = preflight_summary(self.samplers.preflight, self.samplers.preflight_at)
        return verdict.healthy, {**verdict.body, "preflight": preflight}

    def _next_run(self, job_id: str) -> datetime | None:
        scheduled = self._scheduler.get_job(job_id) if self._scheduler.running else None
        next_run: datetime | None = getattr(scheduled, "next_run_time", None)
        return next_run

    def refresh_metrics(self) -> None:
        """Bring each job's last status, success and failure, and each drill's metrics, up to
        the state store, which also holds the runs of the CLI. A store that cannot be read
        leaves the metrics as they are (logged once, until it can be read again)."""
        try:
            for name in self.settings.backups:
                publish_job_runs(self.metrics, name, read_job_runs(self.state, name))
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
            problem = {
                "check": "state_store",
                "subject": str(self.state.path),
                "detail": exc.message,
            }
            healthy, body = False, {"status": "error", "error": exc.message, "failing": [problem]}
        return Response(200 if healthy else 503, _JSON, json.dumps(body).encode())


def _stale_after(schedule: str | None) -> float | None:
    try:
        return stale_after_s(schedule)
    except ValueError as exc:  # a schedule that (almost) never fires: it cannot go stale
        log.warning("stale_limit_unknown", schedule=schedule, reason=str(exc))
        return None


def run_daemon(
    settings: Settings,
    *,
    runner: Runner = run_backup,
    stop: threading.Event | None = None,
    metrics: Metrics | None = None,
    trigger_factory: TriggerFactory = crontab_trigger,
    drill_runner: DrillRunner = run_drill,
    probes: Probes | None = None,
) -> None:
    """Run the scheduled backups, drills and samplers and serve /metrics and /healthz until
    stopped.

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
        probes=probes,
    )
    with _stop_on_signals(stop):
        daemon.start()
        try:
            while not stop.wait(1.0):
                pass
        finally:
            daemon.stop()


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
