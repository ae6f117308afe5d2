"""Recording: the values the kafka-dr metrics take from backups, drills and RPO reports, and
their text exposition.

Conventions (docs/monitoring.md): times are Unix timestamps and ``0`` means "never" (so that
``time() - x`` is huge for a job that never succeeded, and an age alert fires for it too); a
state is one series per possible value, 1 for the current one (``..._status{status="failed"}
1``); a figure that was not measured has no series, never a 0.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.metrics_core import Metric

from dr.metrics.families import Families

BACKUP_STATUSES = ("never_run", "running", "succeeded", "failed", "cancelled")
DRILL_STATUSES = ("never_run", "passed", "failed", "error", "refused")


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
    def outcome(self) -> str: ...

    @property
    def checks_failed(self) -> int | None: ...

    @property
    def objectives_missed(self) -> int | None: ...

    @property
    def rto_seconds(self) -> float | None: ...


class Metrics(Families):
    """The kafka-dr metrics, with what records them and renders them."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        # Held while a snapshot (cluster or mirror health) is replaced and while rendering,
        # so that a scrape never sees a half-replaced snapshot.
        self._render_lock = threading.RLock()
        self._last_success: dict[str, float] = {}
        self._drill_success: dict[str, float] = {}

    @contextmanager
    def replacing(self) -> Iterator[None]:
        """Hold off scrapes while a snapshot's series are cleared and set again."""
        with self._render_lock:
            yield

    def record_rpo(self, report: Any) -> None:
        """Set the RPO gauges from an RpoReport (flows per topic, jobs).

        A flow or job that could not be measured, wholly (an error) or in part (a partition
        whose RPO is unknown), is flagged ``..._rpo_unmeasured`` 1 and its unknown RPO gauges
        keep their last values, unless that was 0 (see _forget_zeros): an unmeasured RPO never
        reads 0. A lag that is known is set even then. A flow whose heartbeat is stale or
        missing is flagged kafka_dr_mirror_stalled 1 (0 otherwise).
        """
        unmeasured, stalled = set(report.unmeasured), set(report.stalled)
        names = {f.flow for f in report.flows} | {b.job for b in report.backups}
        for name in names | set(report.errors):
            flag = 1 if name in unmeasured else 0
            if is_flow(name):
                self.mirror_rpo_unmeasured.labels(name).set(flag)
            else:
                self.backup_rpo_unmeasured.labels(name).set(flag)
        for flow in report.flows:
            for topic, (rpo, lag) in _per_topic(flow.partitions).items():
                if rpo is not None:
                    self.mirror_rpo.labels(flow.flow, topic).set(rpo)
                else:
                    _forget_zeros(self.mirror_rpo, flow=flow.flow, topic=topic)
                if lag is not None:
                    self.mirror_lag.labels(flow.flow, topic).set(lag)
            if flow.heartbeat_age_seconds is not None:
                self.mirror_heartbeat_age.labels(flow.flow).set(flow.heartbeat_age_seconds)
            self.mirror_stalled.labels(flow.flow).set(1 if flow.flow in stalled else 0)
        for job in report.backups:
            if job.rpo_seconds is not None:
                self.backup_rpo.labels(job.job).set(job.rpo_seconds)
            else:
                _forget_zeros(self.backup_rpo, backup_job=job.job)
            if job.lag_messages is not None:
                self.backup_lag.labels(job.job).set(job.lag_messages)
        failed = set(report.errors)
        self.mark_rpo_unmeasured(
            flows=[n for n in failed if is_flow(n)], jobs=[n for n in failed if not is_flow(n)]
        )
        self.sample_time.labels("rpo").set(report.measured_at)

    def mark_rpo_unmeasured(self, *, flows: Iterable[str], jobs: Iterable[str]) -> None:
        """Flag these flows and jobs unmeasured (the sampler failed as a whole); an RPO of 0
        they had is no longer exported (see _forget_zeros)."""
        for flow in flows:
            self.mirror_rpo_unmeasured.labels(flow).set(1)
            _forget_zeros(self.mirror_rpo, flow=flow)
        for job in jobs:
            self.backup_rpo_unmeasured.labels(job).set(1)
            _forget_zeros(self.backup_rpo, backup_job=job)

    def declare_backup_job(
        self, job: str, *, stale_after_s: float | None = None, last_success: datetime | None = None
    ) -> None:
        """Make the job's series exist before its first run: never run, never succeeded nor
        failed (timestamps 0), 0 failures, not running, RPO unmeasured."""
        self.set_backup_status(job, "never_run")
        self.backup_last_success.labels(job).set(0)
        self.backup_last_failure.labels(job).set(0)
        for counter in (self.backup_failures, self.backup_records, self.backup_bytes):
            counter.labels(job)
        self.backup_running.labels(job).set(0)
        self.backup_rpo_unmeasured.labels(job).set(1)
        if stale_after_s is not None:
            self.backup_stale_after.labels(job).set(stale_after_s)
        if last_success is not None:
            self.observe_last_success(job, last_success)

    def set_backup_status(self, job: str, status: str) -> None:
        """The status of the job's latest run that started (one of BACKUP_STATUSES)."""
        _set_state(self.backup_status, (job,), BACKUP_STATUSES, status)

    def observe_last_failure(self, job: str, finished_at: datetime | None) -> None:
        """The time the job's last failed run finished (None: it never failed)."""
        self.backup_last_failure.labels(job).set(_epoch(finished_at))

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
        Sets the last-success time and duration unless a later success is already known.
        """
        at = finished_at.timestamp()
        with self._lock:
            if at <= self._last_success.get(job, float("-inf")):
                return
            self._last_success[job] = at
            self.backup_last_success.labels(job).set(at)
            if duration_s is not None:
                self.backup_duration.labels(job).set(max(duration_s, 0.0))

    def record_backup_failure(self, job: str) -> None:
        """Count a failed backup."""
        self.backup_failures.labels(job).inc()

    def set_backup_running(self, job: str, running: bool) -> None:
        """Mark a backup of the job as running or not."""
        self.backup_running.labels(job).set(1 if running else 0)

    def observe_drill(
        self,
        drill: str,
        last: DrillFigures | None,
        *,
        last_success_at: datetime | None,
        last_failure_at: datetime | None = None,
        running: bool = False,
    ) -> None:
        """Set the drill's series from its last run (None: never run) and the times its last
        passed and last failed runs finished (the last success only moves forward: it stays
        when that run is no longer among the rows read). A figure the last run did not
        measure has no series, never a 0."""
        with self._lock:
            at = self._drill_success.get(drill, 0.0)
            if last_success_at is not None:
                at = max(at, last_success_at.timestamp())
            self._drill_success[drill] = at
            self.drill_last_success.labels(drill).set(at)
            self.drill_last_failure.labels(drill).set(_epoch(last_failure_at))
            self.drill_running.labels(drill).set(1 if running else 0)
            outcome = last.outcome if last is not None else "never_run"
            _set_state(self.drill_status, (drill,), DRILL_STATUSES, outcome)
            self.drill_last_run.labels(drill).set(_epoch(last.finished_at if last else None))
            for gauge, value in (
                (self.drill_checks_failed, last.checks_failed if last else None),
                (self.drill_objectives_missed, last.objectives_missed if last else None),
                (self.drill_rto, last.rto_seconds if last else None),
            ):
                if value is None:
                    gauge.remove(drill)
                else:
                    gauge.labels(drill).set(value)

    # -- exposition ---------------------------------------------------------------------------

    def render(self) -> bytes:
        """The metrics in the Prometheus text exposition format, without ``_created`` series."""
        with self._render_lock:
            return generate_latest(_WithoutCreated(self.registry))

    def exported_names(self) -> frozenset[str]:
        """Every series name the daemon may export (counters with their ``_total``)."""
        names: set[str] = set()
        for family in self.registry.collect():
            names.add(f"{family.name}_total" if family.type == "counter" else family.name)
        return frozenset(names)


class _WithoutCreated:
    """The registry's metrics without the ``_created`` samples of counters: they double the
    series of every counter for a figure Prometheus does not use (prometheus_client's own
    switch, disable_created_metrics(), is process-wide)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        for family in self._registry.collect():
            family.samples = [s for s in family.samples if not s.name.endswith("_created")]
            yield family


def is_flow(name: str) -> bool:
    """Whether an RPO report's name is a mirror flow's (``source->target``): job names cannot
    hold a ``>``."""
    return "->" in name


def _set_state(gauge: Gauge, labels: Sequence[str], states: Sequence[str], current: str) -> None:
    for state in states:
        gauge.labels(*labels, state).set(1 if state == current else 0)


def _epoch(at: datetime | None) -> float:
    return at.timestamp() if at is not None else 0.0


def _forget_zeros(gauge: Gauge, **labels: str) -> None:
    """Remove the gauge's series with these labels that read 0. An RPO that cannot be measured
    keeps its last value (a breach alert holds through a passing failure to measure), but a 0
    kept would say "nothing to lose" with nothing measured: that series goes instead."""
    for metric in gauge.collect():
        for sample in metric.samples:
            if sample.value == 0 and all(sample.labels.get(k) == v for k, v in labels.items()):
                gauge.remove(*sample.labels.values())


def _per_topic(partitions: Any) -> dict[str, tuple[float | None, int | None]]:
    """Each topic's worst partition RPO and total lag; None when one partition's is unknown."""
    out: dict[str, tuple[float | None, int | None]] = {}
    for part in partitions:
        rpo, lag = out.get(part.topic, (0.0, 0))
        rpo = None if rpo is None or part.rpo_seconds is None else max(rpo, part.rpo_seconds)
        lag = None if lag is None or part.lag_messages is None else lag + part.lag_messages
        out[part.topic] = (rpo, lag)
    return out
