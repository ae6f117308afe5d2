"""Prometheus metrics: every name and label of kafka-dr in one place, on a private registry.

The metrics live on their own ``CollectorRegistry`` rather than prometheus_client's global one,
so that importing kafka-dr never adds series to another program's /metrics. The module-level
functions act on the process's default set, which the daemon serves; tests build their own
``Metrics``.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


class BackupFigures(Protocol):
    """What the metrics need from a finished backup (dr.backup.runner.BackupResult has it)."""

    @property
    def records(self) -> int: ...

    @property
    def bytes(self) -> int: ...

    @property
    def started_at(self) -> datetime: ...

    @property
    def finished_at(self) -> datetime: ...


class DrillFigures(Protocol):
    """What the metrics need from a drill's last run (dr.daemon.drills.LastDrill has it)."""

    @property
    def finished_at(self) -> datetime: ...

    @property
    def passed(self) -> bool: ...

    @property
    def checks_failed(self) -> int | None: ...

    @property
    def objectives_missed(self) -> int | None: ...

    @property
    def rto_seconds(self) -> float | None: ...


class Metrics:
    """The kafka-dr metrics on one registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._lock = threading.Lock()
        self._last_success: dict[str, float] = {}
        self._drill_success: dict[str, float] = {}
        r = self.registry
        self.backup_last_success = Gauge(
            "kafka_dr_backup_last_success_timestamp_seconds",
            "Unix time at which the last successful backup of the job finished.",
            ["job"],
            registry=r,
        )
        self.backup_records = Counter(
            "kafka_dr_backup_records_total",
            "Records stored by successful backups of the job.",
            ["job"],
            registry=r,
        )
        self.backup_bytes = Counter(
            "kafka_dr_backup_bytes_total",
            "Bytes stored by successful backups of the job.",
            ["job"],
            registry=r,
        )
        self.backup_duration = Gauge(
            "kafka_dr_backup_duration_seconds",
            "Duration of the last successful backup of the job.",
            ["job"],
            registry=r,
        )
        self.backup_failures = Counter(
            "kafka_dr_backup_failures_total",
            "Backups of the job that failed (cancelled runs are not failures).",
            ["job"],
            registry=r,
        )
        self.backup_running = Gauge(
            "kafka_dr_backup_running",
            "1 while a backup of the job is running, else 0.",
            ["job"],
            registry=r,
        )
        self.backup_age = Gauge(
            "kafka_dr_backup_age_seconds",
            "Seconds since the last successful backup of the job finished.",
            ["job"],
            registry=r,
        )
        self.rpo = Gauge(
            "kafka_dr_rpo_seconds",
            "Measured recovery point of the flow's topic: how much data a failover would lose.",
            ["flow", "topic"],
            registry=r,
        )
        self.replication_lag = Gauge(
            "kafka_dr_replication_lag_messages",
            "Messages of the topic not yet replicated by the flow.",
            ["flow", "topic"],
            registry=r,
        )
        self.heartbeat_age = Gauge(
            "kafka_dr_heartbeat_age_seconds",
            "Seconds since the flow's last MirrorMaker heartbeat reached the target.",
            ["flow"],
            registry=r,
        )

        self.replication_stalled = Gauge(
            "kafka_dr_replication_stalled",
            "1 when the flow's newest heartbeat on the target is stale or missing (heartbeats "
            "on): nothing shows that MirrorMaker replicates, whatever the RPO says.",
            ["flow"],
            registry=r,
        )
        self.rpo_unmeasured = Gauge(
            "kafka_dr_rpo_unmeasured",
            "1 when the last RPO sample of the flow or job could not measure it (its RPO gauges "
            "keep their last values).",
            ["name"],
            registry=r,
        )
        self.backup_rpo = Gauge(
            "kafka_dr_backup_rpo_seconds",
            "Age of the oldest record of the job's topics not yet in the store.",
            ["job"],
            registry=r,
        )

        self._declare_drill_metrics()

    def _declare_drill_metrics(self) -> None:
        r = self.registry
        self.drill_last_run = Gauge(
            "kafka_dr_drill_last_run_timestamp_seconds",
            "Unix time at which the drill's last run finished (a scheduled run refused or "
            "stopped before its report counts, at the time it was tried).",
            ["drill"],
            registry=r,
        )
        self.drill_last_success = Gauge(
            "kafka_dr_drill_last_success_timestamp_seconds",
            "Unix time at which the last run of the drill that passed finished.",
            ["drill"],
            registry=r,
        )
        self.drill_last_run_passed = Gauge(
            "kafka_dr_drill_last_run_passed",
            "1 when the drill's last run passed, 0 when it failed, errored or was refused.",
            ["drill"],
            registry=r,
        )
        self.drill_checks_failed = Gauge(
            "kafka_dr_drill_checks_failed",
            "Checks of the drill's last run that failed or errored (absent when it made no "
            "report).",
            ["drill"],
            registry=r,
        )
        self.drill_objectives_missed = Gauge(
            "kafka_dr_drill_objectives_missed",
            "RPO/RTO objectives of the drill's last run missed or not measured (absent when it "
            "made no report).",
            ["drill"],
            registry=r,
        )
        self.drill_rto = Gauge(
            "kafka_dr_drill_rto_seconds",
            "Worst RTO measured by the drill's last run (absent when it measured none).",
            ["drill"],
            registry=r,
        )

    def record_rpo(self, report: Any) -> None:
        """Set the RPO gauges from an RpoReport (flows per topic, jobs).

        A flow or job that could not be measured, wholly (an error) or in part (a partition
        whose RPO is unknown), is flagged kafka_dr_rpo_unmeasured=1 and its unknown RPO gauges
        keep their last values: they are never set to 0 for want of a measurement. A lag that
        is known is set even then. A flow whose heartbeat is stale or missing is flagged
        kafka_dr_replication_stalled=1 (0 otherwise).
        """
        unmeasured, stalled = set(report.unmeasured), set(report.stalled)
        for name in [f.flow for f in report.flows] + [b.job for b in report.backups]:
            self.rpo_unmeasured.labels(name=name).set(1 if name in unmeasured else 0)
        for name in report.errors:
            self.rpo_unmeasured.labels(name=name).set(1)
        for flow in report.flows:
            for topic, (rpo, lag) in _per_topic(flow.partitions).items():
                if rpo is not None:
                    self.rpo.labels(flow=flow.flow, topic=topic).set(rpo)
                if lag is not None:
                    self.replication_lag.labels(flow=flow.flow, topic=topic).set(lag)
            if flow.heartbeat_age_seconds is not None:
                self.heartbeat_age.labels(flow=flow.flow).set(flow.heartbeat_age_seconds)
            self.replication_stalled.labels(flow=flow.flow).set(1 if flow.flow in stalled else 0)
        for job in report.backups:
            if job.rpo_seconds is not None:
                self.backup_rpo.labels(job=job.job).set(job.rpo_seconds)

    def declare_backup_job(self, job: str, *, last_success: datetime | None = None) -> None:
        """Make the job's series exist before its first run (0 failures, not running).

        ``last_success`` (from the state store) seeds the last-success time and the age, so
        that an alert on backup age survives a restart of the daemon.
        """
        self.backup_failures.labels(job)
        self.backup_records.labels(job)
        self.backup_bytes.labels(job)
        self.backup_running.labels(job).set(0)
        if last_success is not None:
            self.observe_last_success(job, last_success)

    def record_backup_success(self, job: str, result: BackupFigures) -> None:
        """Count a successful backup: records, bytes, duration and last-success time."""
        self.backup_records.labels(job).inc(max(result.records, 0))
        self.backup_bytes.labels(job).inc(max(result.bytes, 0))
        duration = (result.finished_at - result.started_at).total_seconds()
        self.observe_last_success(job, result.finished_at, duration_s=duration)

    def observe_last_success(
        self, job: str, finished_at: datetime, *, duration_s: float | None = None
    ) -> None:
        """A successful backup of ``job`` finished at ``finished_at`` (reported by the daemon's
        own run, or read from the state store, which also holds `kafka-dr backup run`'s runs).
        Sets the last-success time, age and duration unless a later success is already known.
        """
        at = finished_at.timestamp()
        with self._lock:
            if at <= self._last_success.get(job, float("-inf")):
                return
            self._last_success[job] = at
            self.backup_last_success.labels(job).set(at)
            self.backup_age.labels(job).set_function(lambda: max(time.time() - at, 0.0))
            if duration_s is not None:
                self.backup_duration.labels(job).set(max(duration_s, 0.0))

    def record_backup_failure(self, job: str) -> None:
        """Count a failed backup."""
        self.backup_failures.labels(job).inc()

    def set_backup_running(self, job: str, running: bool) -> None:
        """Mark a backup of the job as running or not."""
        self.backup_running.labels(job).set(1 if running else 0)

    def observe_drill(
        self, drill: str, last: DrillFigures | None, *, last_success_at: datetime | None
    ) -> None:
        """Set the drill's gauges from its last run (None: never run, no series) and the time
        its last passed run finished (which only moves forward: it stays when that run is no
        longer among the rows read). A figure the last run did not measure has no series,
        never a 0."""
        with self._lock:
            if last_success_at is not None:
                at = last_success_at.timestamp()
                if at > self._drill_success.get(drill, float("-inf")):
                    self._drill_success[drill] = at
                    self.drill_last_success.labels(drill).set(at)
            if last is None:
                return
            self.drill_last_run.labels(drill).set(last.finished_at.timestamp())
            self.drill_last_run_passed.labels(drill).set(1 if last.passed else 0)
            for gauge, value in (
                (self.drill_checks_failed, last.checks_failed),
                (self.drill_objectives_missed, last.objectives_missed),
                (self.drill_rto, last.rto_seconds),
            ):
                if value is None:
                    gauge.remove(drill)
                else:
                    gauge.labels(drill).set(value)

    def render(self) -> bytes:
        """The metrics in the Prometheus text exposition format."""
        return generate_latest(self.registry)


def _per_topic(partitions: Any) -> dict[str, tuple[float | None, int | None]]:
    """Each topic's worst partition RPO and total lag; None when one partition's is unknown."""
    out: dict[str, tuple[float | None, int | None]] = {}
    for part in partitions:
        rpo, lag = out.get(part.topic, (0.0, 0))
        rpo = None if rpo is None or part.rpo_seconds is None else max(rpo, part.rpo_seconds)
        lag = None if lag is None or part.lag_messages is None else lag + part.lag_messages
        out[part.topic] = (rpo, lag)
    return out


_default = Metrics()


def default_metrics() -> Metrics:
    """The process's metrics, served by the daemon's /metrics."""
    return _default


def record_backup_success(job: str, result: BackupFigures) -> None:
    """Count a successful backup of ``job`` on the default metrics."""
    _default.record_backup_success(job, result)


def record_backup_failure(job: str) -> None:
    """Count a failed backup of ``job`` on the default metrics."""
    _default.record_backup_failure(job)


def set_backup_running(job: str, running: bool) -> None:
    """Mark a backup of ``job`` as running or not on the default metrics."""
    _default.set_backup_running(job, running)


def render() -> bytes:
    """The default metrics in the Prometheus text exposition format."""
    return _default.render()
