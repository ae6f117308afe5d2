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
    at = datetime.fromtimestamp(report.measured_at, UTC)
    for flow in report.flows:
        state.add_sample(RPO_METRIC, {"flow": flow.flow}, flow.rpo_seconds, at)
        state.add_sample(LAG_METRIC, {"flow": flow.flow}, float(flow.lag_messages), at)
    for job in report.backups:
        state.add_sample(RPO_METRIC, {"job": job.job}, job.rpo_seconds, at)
        state.add_sample(LAG_METRIC, {"job": job.job}, float(job.lag_messages), at)
    if metrics is not None:
        metrics.record_rpo(report)
    for name, error in report.errors.items():
        log.warning("rpo_unmeasured", name=name, error=error)
    log.info(
        "rpo_sampled",
        flows={f.flow: round(f.rpo_seconds, 1) for f in report.flows},
        jobs={b.job: round(b.rpo_seconds, 1) for b in report.backups},
        breached=report.breached,
    )
    return report


def rpo_history(settings: Settings, state: StateStore, since: datetime) -> list[SeriesSummary]:
    """min, mean, max, p99 and breaches of each flow's and job's RPO since `since`."""
    target = settings.objectives.rpo_seconds
    series: dict[tuple[str, str], list[float]] = {}
    for sample in state.samples(RPO_METRIC, since):
        for kind in ("flow", "job"):
            if kind in sample.labels:
                series.setdefault((kind, sample.labels[kind]), []).append(sample.value)
    return [
        summarise(kind, name, values, target) for (kind, name), values in sorted(series.items())
    ]


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
