"""RPO history: samples taken by the daemon into the state store, and their summaries."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from dr.config.schema import Settings
from dr.log import get_logger
from dr.metrics import Metrics
from dr.objectives.rpo import RpoReport, measure_rpo
from dr.state import StateStore

log = get_logger(__name__)

RPO_METRIC = "rpo_seconds"
LAG_METRIC = "lag_messages"


@dataclass(frozen=True)
class SeriesSummary:
    """One flow's or job's RPO over a window."""

    kind: str  # "flow" or "job"
    name: str
    samples: int
    min: float
    mean: float
    max: float
    p99: float
    breaches: int
    target_seconds: float


def sample_rpo(settings: Settings, state: StateStore, metrics: Metrics | None = None) -> RpoReport:
    """Measure RPO now, store one sample per flow and job, and update the gauges."""
    report = measure_rpo(settings)
    record_sample(report, state, metrics)
    return report


def record_sample(report: RpoReport, state: StateStore, metrics: Metrics | None = None) -> None:
    """Store the report's samples, update the gauges, and log the outcome.

    A flow or job that could not be measured stores no RPO sample (a gap in the series, never
    a zero) and no lag sample when its lag is unknown; each is logged as ``rpo_unmeasured``.
    A flow whose replication looks stalled (stale heartbeat) is logged as
    ``replication_stalled``; its samples are stored as measured.
    """
    at = datetime.fromtimestamp(report.measured_at, UTC)
    series = [({"flow": f.flow}, f.rpo_seconds, f.lag_messages) for f in report.flows]
    series += [({"job": b.job}, b.rpo_seconds, b.lag_messages) for b in report.backups]
    for labels, rpo, lag in series:
        if rpo is not None:
            state.add_sample(RPO_METRIC, labels, rpo, at)
        if lag is not None:
            state.add_sample(LAG_METRIC, labels, float(lag), at)
    if metrics is not None:
        metrics.record_rpo(report)
    for name, reason in report.unmeasured.items():
        log.warning("rpo_unmeasured", name=name, reason=reason)
    for flow, reason in report.stalled.items():
        log.warning("replication_stalled", flow=flow, reason=reason)
    log.info(
        "rpo_sampled",
        flows={f.flow: _rounded(f.rpo_seconds) for f in report.flows},
        jobs={b.job: _rounded(b.rpo_seconds) for b in report.backups},
        breached=report.breached,
        unmeasured=sorted(report.unmeasured),
        stalled=sorted(report.stalled),
    )


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 1)


def rpo_history(settings: Settings, state: StateStore, since: datetime) -> list[SeriesSummary]:
    """min, mean, max, p99 and breaches of each flow's and job's RPO since `since`."""
    series: dict[tuple[str, str], list[float]] = {}
    for sample in state.samples(RPO_METRIC, since):
        for kind in ("flow", "job"):
            if kind in sample.labels:
                series.setdefault((kind, sample.labels[kind]), []).append(sample.value)
    return [
        summarise(kind, name, values, rpo_target(settings, kind, name))
        for (kind, name), values in sorted(series.items())
    ]


def rpo_target(settings: Settings, kind: str, name: str) -> float:
    """The RPO objective of a flow or job (its own, else the global one; a job no longer
    configured is measured against the global one)."""
    if kind == "job" and name in settings.backups:
        return settings.job_objectives(name).rpo_seconds
    if kind == "flow":
        return settings.flow_objectives(name).rpo_seconds
    return settings.objectives.rpo_seconds


def summarise(kind: str, name: str, values: list[float], target: float) -> SeriesSummary:
    ordered = sorted(values)
    rank = max(0, math.ceil(0.99 * len(ordered)) - 1)
    return SeriesSummary(
        kind=kind,
        name=name,
        samples=len(values),
        min=ordered[0],
        mean=sum(values) / len(values),
        max=ordered[-1],
        p99=ordered[rank],
        breaches=sum(1 for v in values if v > target),
        target_seconds=target,
    )
