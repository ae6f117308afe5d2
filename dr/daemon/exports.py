"""What the daemon puts on its metrics: the configured jobs, flows and drills from start-up, and
the results of its samplers (cluster health, mirror health, the preflight), each replacing the
previous snapshot whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from dr.config.schema import Settings
from dr.kafka.health import ClusterHealth, HealthReport
from dr.metrics import Metrics
from dr.mirror.deploy import MirrorState
from dr.mirror.health import STATES
from dr.preflight import PreflightReport
from dr.state import RunRecord, StateStore

# The states Kafka Connect gives a connector or a task.
CONNECT_STATES = ("UNASSIGNED", "RUNNING", "PAUSED", "STOPPED", "FAILED", "RESTARTING")


@dataclass(frozen=True)
class JobRuns:
    """What the state store holds on a backup job: its latest run that started (a skipped run
    says nothing of the job), its last success and its last failure."""

    last: RunRecord | None
    success: RunRecord | None
    failure: RunRecord | None


def read_job_runs(state: StateStore, job: str) -> JobRuns:
    """The job's runs as the state store has them, whoever ran them. Raises StateError."""
    return JobRuns(
        last=state.last_run(job, include_skipped=False),
        success=state.last_success(job),
        failure=state.last_failure(job),
    )


def flow_names(settings: Settings) -> list[str]:
    """The configured mirror flows, as source->target."""
    return [f.name for f in settings.mirror.flows] if settings.mirror else []


def declare_configured(
    metrics: Metrics,
    settings: Settings,
    *,
    started_at: datetime,
    stale_after: Mapping[str, float | None],
    drill_stale_after: Mapping[str, float | None],
) -> None:
    """Give every configured job, flow and drill its series before anything ran: never run,
    timestamps 0, RPO unmeasured, flow state unknown; with the objectives and the staleness
    limits of each."""
    metrics.start_time.set(started_at.timestamp())
    metrics.preflight_time.set(0)
    for sampler in ("rpo", "cluster_health", "mirror_health"):
        metrics.sample_failures.labels(sampler)
    for job in settings.backups:
        metrics.declare_backup_job(job, stale_after_s=stale_after.get(job))
        objectives = settings.job_objectives(job)
        metrics.backup_rpo_objective.labels(job).set(objectives.rpo_seconds)
        metrics.backup_rto_objective.labels(job).set(objectives.rto_seconds)
    for flow in flow_names(settings):
        objectives = settings.flow_objectives(flow)
        metrics.mirror_rpo_objective.labels(flow).set(objectives.rpo_seconds)
        metrics.mirror_rto_objective.labels(flow).set(objectives.rto_seconds)
        metrics.mirror_rpo_unmeasured.labels(flow).set(1)
    publish_mirror_unknown(metrics, flow_names(settings))
    for drill in settings.drills:
        metrics.observe_drill(drill, None, last_success_at=None)
        limit = drill_stale_after.get(drill)
        if limit is not None:
            metrics.drill_stale_after.labels(drill).set(limit)


def publish_job_runs(metrics: Metrics, job: str, runs: JobRuns) -> None:
    """The job's last run status, last success (with its duration) and last failure."""
    metrics.set_backup_status(job, runs.last.status if runs.last else "never_run")
    if runs.success is not None and runs.success.finished_at is not None:
        metrics.observe_last_success(
            job, runs.success.finished_at, duration_s=runs.success.duration_s
        )
    metrics.observe_last_failure(job, runs.failure.finished_at if runs.failure else None)


def publish_cluster_health(metrics: Metrics, report: HealthReport, *, at: float) -> None:
    """Replace the cluster series with the report's: a cluster that did not answer has
    reachable 0 and no partition or quorum figures (unknown, not 0)."""
    gauges = (
        metrics.cluster_reachable,
        metrics.cluster_healthy,
        metrics.brokers_expected,
        metrics.brokers_online,
        metrics.urp,
        metrics.under_min_isr,
        metrics.offline,
        metrics.quorum_lag,
    )
    with metrics.replacing():
        for gauge in gauges:
            gauge.clear()
        for cluster in report.clusters:
            _publish_cluster(metrics, cluster)
        metrics.sample_time.labels("cluster_health").set(at)


def _publish_cluster(metrics: Metrics, health: ClusterHealth) -> None:
    name = health.name
    metrics.cluster_reachable.labels(name).set(1 if health.reachable else 0)
    metrics.cluster_healthy.labels(name).set(1 if health.healthy else 0)
    metrics.brokers_expected.labels(name).set(len(health.brokers_expected))
    if not health.reachable:
        return
    metrics.brokers_online.labels(name).set(len(health.brokers_online))
    metrics.urp.labels(name).set(len(health.under_replicated))
    metrics.under_min_isr.labels(name).set(len(health.under_min_isr))
    metrics.offline.labels(name).set(len(health.offline))
    if health.quorum is not None:
        metrics.quorum_lag.labels(name).set(health.quorum.max_voter_lag)


def publish_mirror_states(
    metrics: Metrics, states: Sequence[MirrorState], *, flows: Iterable[str], at: float
) -> None:
    """Replace the mirror health series with ``states``; a configured flow they do not cover
    is unknown."""
    with metrics.replacing():
        for gauge in (metrics.mirror_state, metrics.connector_state, metrics.connector_tasks):
            gauge.clear()
        seen = set()
        for state in states:
            flow = state.flow.flow
            seen.add(flow)
            _set_flow_state(metrics, flow, state.health.state)
            for connector in state.connectors or ():
                known = (*CONNECT_STATES, *{connector.state} - set(CONNECT_STATES))
                for name in known:
                    labels = (flow, connector.name, name)
                    metrics.connector_state.labels(*labels).set(1 if connector.state == name else 0)
                    tasks = sum(1 for t in connector.tasks if t.state == name)
                    metrics.connector_tasks.labels(*labels).set(tasks)
        for flow in flows:
            if flow not in seen:
                _set_flow_state(metrics, flow, "unknown")
        metrics.sample_time.labels("mirror_health").set(at)


def publish_mirror_unknown(metrics: Metrics, flows: Iterable[str]) -> None:
    """Every flow in state unknown (MirrorMaker's health could not be read), no connector
    series."""
    with metrics.replacing():
        for gauge in (metrics.mirror_state, metrics.connector_state, metrics.connector_tasks):
            gauge.clear()
        for flow in flows:
            _set_flow_state(metrics, flow, "unknown")


def _set_flow_state(metrics: Metrics, flow: str, current: str) -> None:
    for state in STATES:
        metrics.mirror_state.labels(flow, state).set(1 if state == current else 0)


def publish_preflight(metrics: Metrics, report: PreflightReport, *, at: float) -> None:
    """Replace the preflight series with the report's: each check ok (1, a warning too) or
    failed (0), the number of warnings, and when it finished."""
    with metrics.replacing():
        metrics.preflight_check_ok.clear()
        for check in report.checks:
            ok = 0 if check.status == "fail" else 1
            metrics.preflight_check_ok.labels(check.name, check.subject).set(ok)
        metrics.preflight_warnings.set(sum(1 for c in report.checks if c.status == "warn"))
        metrics.preflight_time.set(at)
