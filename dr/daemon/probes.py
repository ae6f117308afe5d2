"""The daemon's samplers: RPO, cluster health and MirrorMaker's health on a schedule, and the
preflight once at start-up. Each result goes to the metrics (and the RPO to the state store);
a scrape only reads what the last run left, so it answers at once even when a cluster is down.

Each sampler runs in a thread of its own, never overlaps itself, and is waited for at most
``Probes.timeout_s`` (less when the daemon stops): a cluster that hangs costs one thread and
one log event per interval, never a blocked scheduler or a slow shutdown.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger

from dr.config.schema import Settings
from dr.daemon.exports import (
    flow_names,
    publish_cluster_health,
    publish_mirror_states,
    publish_mirror_unknown,
    publish_preflight,
)
from dr.errors import DrError
from dr.kafka.health import HealthReport, check_health
from dr.log import get_logger
from dr.metrics import Metrics
from dr.mirror.deploy import MirrorState
from dr.mirror.deploy import status as mirror_status
from dr.objectives.history import record_sample
from dr.objectives.rpo import RpoReport, measure_rpo
from dr.operation import describe_error
from dr.preflight import PreflightCheck, PreflightReport, run_preflight
from dr.state import StateStore

log = get_logger(__name__)

T = TypeVar("T")
HEALTH_INTERVAL_S = 60.0  # cluster and MirrorMaker health
PROBE_TIMEOUT_S = 120.0  # longest wait for one sampler run (the quorum tool alone takes <= 45 s)
SAMPLE_RETENTION_DAYS = 90  # RPO history kept in the state store
SAMPLERS = ("rpo", "cluster_health", "mirror_health", "preflight")  # each with its thread


def check_clusters(settings: Settings) -> HealthReport:
    """The health of every configured cluster, as `kafka-dr status` checks it."""
    return check_health(settings.clusters, tools=settings.tools)


def mirror_states(settings: Settings) -> Sequence[MirrorState]:
    """Each flow's state, as `kafka-dr mirror status` reads it; none without flows."""
    return mirror_status(settings) if flow_names(settings) else []


@dataclass(frozen=True)
class Probes:
    """What the samplers call (the real checks by default; fakes in tests), how often the
    health ones run, and how long a run is waited for."""

    rpo: Callable[[Settings], RpoReport] = measure_rpo
    clusters: Callable[[Settings], HealthReport] = check_clusters
    mirror: Callable[[Settings], Sequence[MirrorState]] = mirror_states
    preflight: Callable[[Settings], PreflightReport] = run_preflight
    health_interval_s: float = HEALTH_INTERVAL_S
    timeout_s: float = PROBE_TIMEOUT_S


class ProbeUnfinished(DrError):
    """A sampler run did not finish in time, or its previous run still runs."""


class Bounded:
    """Runs a call in a daemon thread and waits for it at most ``timeout_s``, or until
    ``cancel`` is set; refuses to start while the previous call still runs."""

    def __init__(self, name: str, *, timeout_s: float, cancel: threading.Event) -> None:
        self.name = name
        self.timeout_s = timeout_s
        self.cancel = cancel
        self._thread: threading.Thread | None = None

    def __call__(self, call: Callable[[], T]) -> T:
        """The call's result; raises its exception, or ProbeUnfinished."""
        if self._thread is not None and self._thread.is_alive():
            raise ProbeUnfinished(f"{self.name}: the previous run has not finished yet")
        results: list[T] = []
        errors: list[BaseException] = []
        done = threading.Event()

        def target() -> None:
            try:
                results.append(call())
            except BaseException as exc:  # handed to the waiting thread
                errors.append(exc)
            finally:
                done.set()

        self._thread = threading.Thread(target=target, name=f"kafka-dr-{self.name}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self.timeout_s
        while not done.wait(min(0.1, max(deadline - time.monotonic(), 0.0))):
            if self.cancel.is_set():
                raise ProbeUnfinished(f"{self.name}: cancelled, the daemon is stopping")
            if time.monotonic() >= deadline:
                raise ProbeUnfinished(
                    f"{self.name} did not finish within {self.timeout_s:.0f}s: "
                    "check that the clusters and MirrorMaker answer"
                )
        if errors:
            raise errors[0]
        return results[0]


class Samplers:
    """The samplers of one daemon, feeding its metrics."""

    def __init__(
        self,
        settings: Settings,
        *,
        probes: Probes,
        state: StateStore,
        metrics: Metrics,
        cancel: threading.Event,
    ) -> None:
        self.settings = settings
        self.probes = probes
        self.state = state
        self.metrics = metrics
        self.cancel = cancel
        self.preflight: PreflightReport | None = None
        self.preflight_at: datetime | None = None
        self._bounded = {
            name: Bounded(name, timeout_s=probes.timeout_s, cancel=cancel) for name in SAMPLERS
        }

    def add_jobs(self, scheduler: BaseScheduler) -> None:
        """Schedule the samplers, each first run now."""
        now = datetime.now(UTC)
        health = self.probes.health_interval_s
        every: list[tuple[str, Callable[[], None], float]] = [
            ("cluster_health", self.sample_cluster_health, health),
        ]
        if flow_names(self.settings):
            every.append(("mirror_health", self.sample_mirror_health, health))
        if self.settings.backups or flow_names(self.settings):
            every.append(("rpo", self.sample_rpo, self.settings.daemon.rpo_sample_interval_s))
        for name, job, interval in every:
            trigger = IntervalTrigger(seconds=interval, timezone=UTC)
            scheduler.add_job(job, trigger=trigger, id=f"sampler:{name}", next_run_time=now)

    def start_preflight(self) -> threading.Thread:
        """Run the preflight once, in a thread of its own (not a scheduler job: a one-off job
        races the scheduler's shutdown when the daemon stops at once)."""
        thread = threading.Thread(target=self.run_preflight, name="kafka-dr-preflight", daemon=True)
        thread.start()
        return thread

    def _run(self, sampler: str, call: Callable[[Settings], T]) -> T | None:
        """The sampler's result, or None when it failed (logged and counted) or was cancelled."""
        try:
            return self._bounded[sampler](lambda: call(self.settings))
        except Exception as exc:  # a sampler must never stop the daemon
            if self.cancel.is_set():
                return None
            self.metrics.sample_failures.labels(sampler).inc()
            log.warning(f"{sampler}_sample_failed", error=describe_error(exc))
            return None

    def sample_rpo(self) -> None:
        """Measure RPO, store the samples, update the gauges; all unmeasured on failure."""
        report = self._run("rpo", self.probes.rpo)
        if report is None:
            if not self.cancel.is_set():
                flows, jobs = flow_names(self.settings), list(self.settings.backups)
                self.metrics.mark_rpo_unmeasured(flows=flows, jobs=jobs)
            return
        try:
            record_sample(report, self.state, self.metrics)
            self.state.prune_samples(datetime.now(UTC) - timedelta(days=SAMPLE_RETENTION_DAYS))
        except Exception as exc:  # the gauges are set; the history is what failed
            log.warning("rpo_sample_failed", error=describe_error(exc))

    def sample_cluster_health(self) -> None:
        """Check every cluster; their series replaced (left as they were on failure)."""
        report = self._run("cluster_health", self.probes.clusters)
        if report is not None:
            publish_cluster_health(self.metrics, report, at=time.time())

    def sample_mirror_health(self) -> None:
        """Read each flow's MirrorMaker state; every flow unknown on failure."""
        if not flow_names(self.settings):
            return
        states = self._run("mirror_health", self.probes.mirror)
        if states is None:
            if not self.cancel.is_set():
                publish_mirror_unknown(self.metrics, flow_names(self.settings))
            return
        publish_mirror_states(self.metrics, states, flows=flow_names(self.settings), at=time.time())

    def run_preflight(self) -> None:
        """Run `kafka-dr check`'s preflight once: log one event per failed check and a
        summary, export it. A failure never stops the daemon."""
        started = time.monotonic()
        try:
            report = self._bounded["preflight"](lambda: self.probes.preflight(self.settings))
        except Exception as exc:
            if self.cancel.is_set():
                return
            report = _crashed(exc)
            log.error("preflight_crashed", error=describe_error(exc), exc_info=True)
        self.preflight, self.preflight_at = report, datetime.now(UTC)
        log_preflight(report, duration_s=time.monotonic() - started)
        publish_preflight(self.metrics, report, at=self.preflight_at.timestamp())


def log_preflight(report: PreflightReport, *, duration_s: float) -> None:
    """One event per check that failed (error) or warned (warning), then the summary."""
    for check in report.checks:
        if check.status == "ok":
            continue
        event, level = (
            ("preflight_check_failed", log.error)
            if check.status == "fail"
            else ("preflight_check_warned", log.warning)
        )
        level(event, check=check.name, subject=check.subject, detail=check.detail, hint=check.hint)
    failed = [c.name for c in report.checks if c.status == "fail"]
    (log.info if report.ok else log.warning)(
        "preflight_done",
        ok=report.ok,
        checks=len(report.checks),
        failed=failed,
        warned=sum(1 for c in report.checks if c.status == "warn"),
        duration_s=round(duration_s, 3),
    )


def _crashed(exc: BaseException) -> PreflightReport:
    check = PreflightCheck(
        name="preflight ran",
        subject="kafka-dr",
        status="fail",
        detail=describe_error(exc),
        hint="run `kafka-dr check` to see it fail, and report the bug",
    )
    return PreflightReport(checks=(check,))


def preflight_summary(report: PreflightReport | None, at: datetime | None) -> dict[str, Any]:
    """The preflight's entry in /healthz (not part of its verdict): null until it ran."""
    if report is None:
        return {"ok": None, "finished_at": None, "failed": [], "warned": []}
    return {
        "ok": report.ok,
        "finished_at": at.isoformat() if at else None,
        "failed": [_check(c) for c in report.checks if c.status == "fail"],
        "warned": [_check(c) for c in report.checks if c.status == "warn"],
    }


def _check(check: PreflightCheck) -> dict[str, Any]:
    return {
        "check": check.name,
        "subject": check.subject,
        "detail": check.detail,
        "hint": check.hint,
    }
