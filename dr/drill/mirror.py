"""Scenario ``mirror`` (non-destructive): for each flow, the RPO now against its objective, the
offset translation checked record by record (dr.drill.mirror_translation), topic drift and
MirrorMaker's health.

Per flow it records: both clusters (with their ids), the ``rpo`` objective and check, one
``translation`` check per sampled group, and the ``topic_drift`` and ``connectors`` checks. A
flow whose cluster does not answer gets error checks naming it, and the next flow is checked.
"""

from __future__ import annotations

import time
from typing import Any

from dr.config.drills import MirrorScenario
from dr.config.schema import MirrorFlow
from dr.drill.context import DrillContext, now
from dr.drill.mirror_translation import FAILURES, check_translation
from dr.drill.model import CheckOutcome, ClusterRef, Objective
from dr.drill.units import duration
from dr.mirror.deploy import MirrorState, status
from dr.mirror.health import Problem
from dr.mirror.status import FlowStatus
from dr.objectives.rpo import FlowRpo, PartitionRpo, measure_flow

SCENARIO = "mirror"
RPO_HOW = (
    "now minus the timestamp of the oldest source record not yet on the target, worst "
    "partition; how far replication got is read from the replica's own records"
)
FLOW_CHECKS = ("rpo", "translation", "topic_drift", "connectors")
# Problems of MirrorMaker itself, as `mirror status` finds them (topics and drift aside).
RUNTIME_CHECKS = frozenset({"process", "connector", "task", "restart", "heartbeat"})
_LISTED = 20  # partitions or problems listed in a check's evidence, at most


def run_mirror(ctx: DrillContext, scenario: MirrorScenario) -> None:
    """Check every flow of the scenario, one timeline step each; records, never raises for
    what it finds (DrillCancelled aside)."""
    flows = {f.name: f for f in (ctx.settings.mirror.flows if ctx.settings.mirror else [])}
    for name in scenario.flows:
        ctx.check_cancelled()
        with ctx.recorder.step(SCENARIO, f"flow {name}"):
            flow = flows.get(name)
            if flow is None:
                known = ", ".join(flows) or "none configured"
                ctx.recorder.check(
                    SCENARIO, "flow", name, "error",
                    f"no mirror flow '{name}' under mirror.flows (flows: {known})",
                    started=now(),
                )  # fmt: skip
                continue
            _check_flow(ctx, flow, scenario)


def _check_flow(ctx: DrillContext, flow: MirrorFlow, scenario: MirrorScenario) -> None:
    refs = [ctx.cluster_ref(flow.source), ctx.cluster_ref(flow.target)]
    silent = [ref for ref in refs if ref.cluster_id is None]
    if silent:
        _record_unreachable(ctx, flow, silent[0])
        return
    _check_rpo(ctx, flow)
    ctx.check_cancelled()
    state = _check_state(ctx, flow)
    ctx.check_cancelled()
    check_translation(ctx, flow, scenario, groups=state.flow.groups if state else None)


def _record_unreachable(ctx: DrillContext, flow: MirrorFlow, ref: ClusterRef) -> None:
    """Every check of the flow is an error naming the cluster; the RPO is unmeasured."""
    started = now()
    why = f"cluster '{ref.name}' ({ref.bootstrap_servers}) did not answer"
    ctx.recorder.objective(
        Objective(
            scenario=SCENARIO,
            kind="rpo",
            subject=flow.name,
            target_seconds=ctx.settings.flow_objectives(flow.name).rpo_seconds,
            measured_seconds=None,
            unmeasured=why,
            how=RPO_HOW,
        )
    )
    for name in FLOW_CHECKS:
        ctx.recorder.check(
            SCENARIO, name, flow.name, "error",
            f"flow {flow.name}: not checked: {why}",
            started=started, evidence={"cluster": ref.name},
        )  # fmt: skip


def _check_rpo(ctx: DrillContext, flow: MirrorFlow) -> None:
    """The flow's RPO now, from the data (dr.objectives.rpo), as an objective and a check."""
    started = now()
    try:
        rpo = measure_flow(ctx.settings, flow, now=time.time())
    except FAILURES as exc:
        target = ctx.settings.flow_objectives(flow.name).rpo_seconds
        ctx.recorder.objective(
            Objective(
                SCENARIO, "rpo", flow.name, target, None,
                unmeasured=f"the RPO of flow {flow.name} could not be measured: {exc}",
                how=RPO_HOW,
            )
        )  # fmt: skip
        ctx.recorder.check(
            SCENARIO, "rpo", flow.name, "error",
            f"flow {flow.name}: the RPO could not be measured: {exc}", started=started,
        )  # fmt: skip
        return
    ctx.recorder.objective(
        Objective(
            SCENARIO, "rpo", flow.name, rpo.target_seconds, rpo.rpo_seconds,
            unmeasured=rpo.unmeasured, how=RPO_HOW,
        )
    )  # fmt: skip
    outcome, summary = rpo_outcome(rpo)
    ctx.recorder.check(
        SCENARIO, "rpo", flow.name, outcome, summary,
        started=started, inputs={"target_seconds": rpo.target_seconds},
        evidence=rpo_evidence(rpo),
    )  # fmt: skip


def rpo_outcome(rpo: FlowRpo) -> tuple[CheckOutcome, str]:
    """Passed when measured within the objective, failed past it, error when unmeasured."""
    target = f"{rpo.target_seconds:g} s"
    if rpo.rpo_seconds is None:
        return "error", f"flow {rpo.flow}: RPO unmeasured: {rpo.unmeasured or 'unknown reason'}"
    worst = _worst(rpo)
    behind = "" if rpo.lag_messages is None else f", {rpo.lag_messages} records behind"
    where = f" (worst: {worst.topic}-{worst.partition})" if worst and worst.rpo_seconds else ""
    stalled = f"; {rpo.stalled}" if rpo.stalled else ""
    text = f"flow {rpo.flow}: RPO {duration(rpo.rpo_seconds)}{behind}{where}"
    if rpo.breached:
        return "failed", f"{text}, over the {target} objective{stalled}"
    return "passed", f"{text}, within the {target} objective{stalled}"


def rpo_evidence(rpo: FlowRpo) -> dict[str, Any]:
    """The partitions behind the figure: the worst one, those lagging, those unmeasured."""
    worst = _worst(rpo)
    lagging = sorted(
        (p for p in rpo.partitions if p.lag_messages),
        key=lambda p: (-(p.rpo_seconds or 0.0), p.topic, p.partition),
    )
    return {
        "rpo_seconds": rpo.rpo_seconds,
        "target_seconds": rpo.target_seconds,
        "unmeasured": rpo.unmeasured,
        "lag_messages": rpo.lag_messages,
        "partitions": len(rpo.partitions),
        "worst_partition": None if worst is None else _partition(worst),
        "lagging": [_partition(p) for p in lagging[:_LISTED]],
        "lagging_count": len(lagging),
        "unmeasured_partitions": [
            {"topic": p.topic, "partition": p.partition, "reason": p.unmeasured}
            for p in rpo.partitions
            if p.rpo_seconds is None
        ][:_LISTED],
        "missing_topics": list(rpo.missing_topics),
        "heartbeat_age_seconds": rpo.heartbeat_age_seconds,
        "stalled": rpo.stalled,
    }


def _worst(rpo: FlowRpo) -> PartitionRpo | None:
    measured = [p for p in rpo.partitions if p.rpo_seconds is not None]
    return max(measured, key=lambda p: (p.rpo_seconds or 0.0, p.lag_messages or 0), default=None)


def _partition(p: PartitionRpo) -> dict[str, Any]:
    return {
        "topic": p.topic,
        "partition": p.partition,
        "target_topic": p.target_topic,
        "rpo_seconds": p.rpo_seconds,
        "lag_messages": p.lag_messages,
        "source_end": p.source_end,
    }


def _check_state(ctx: DrillContext, flow: MirrorFlow) -> MirrorState | None:
    """``topic_drift`` and ``connectors``, from what `mirror status` reads of the flow."""
    started = now()
    try:
        [state] = status(ctx.settings, flow.name)
    except FAILURES as exc:
        for name in ("topic_drift", "connectors"):
            ctx.recorder.check(
                SCENARIO, name, flow.name, "error",
                f"flow {flow.name}: mirror status could not be read: {exc}", started=started,
            )  # fmt: skip
        return None
    outcome, summary, evidence = drift_outcome(state.flow)
    ctx.recorder.check(
        SCENARIO, "topic_drift", flow.name, outcome, summary, started=started, evidence=evidence
    )
    outcome, summary, evidence = connectors_outcome(state)
    ctx.recorder.check(
        SCENARIO, "connectors", flow.name, outcome, summary, started=started, evidence=evidence
    )
    return state


def drift_outcome(found: FlowStatus) -> tuple[CheckOutcome, str, dict[str, Any]]:
    """Failed when a replicated topic is missing on the target or its partition count differs;
    a warning when only configs differ; passed otherwise."""
    partitions = [d for d in found.drift if d.what == "partitions"]
    configs = [d for d in found.drift if d.what != "partitions"]
    evidence = {
        "topics": found.topics,
        "missing_topics": list(found.missing_topics),
        "drift": [
            {"topic": d.topic, "target_topic": d.target_topic, "what": d.what,
             "source": d.source, "target": d.target}
            for d in found.drift
        ],
    }  # fmt: skip
    flow = f"flow {found.flow}"
    if found.missing_topics or partitions:
        parts = []
        if found.missing_topics:
            names = ", ".join(found.missing_topics[:5])
            parts.append(f"{len(found.missing_topics)} topic(s) not on the target ({names})")
        for d in partitions[:3]:
            parts.append(f"{d.topic} has {d.source} partitions, {d.target_topic} {d.target}")
        return "failed", f"{flow}: {'; '.join(parts)}", evidence
    if configs:
        first = configs[0]
        return (
            "warning",
            f"{flow}: {len(configs)} config difference(s) between topics and replicas (first: "
            f"{first.topic} {first.what} {first.source!r} vs {first.target!r})",
            evidence,
        )
    topics = f"{found.topics} topic{'' if found.topics == 1 else 's'}"
    return "passed", f"{flow}: {topics} replicated, none missing, no drift", evidence


def connectors_outcome(state: MirrorState) -> tuple[CheckOutcome, str, dict[str, Any]]:
    """Failed when MirrorMaker is failed, down, paused, stalled or degraded (a connector or task
    not running, a restart pending); a warning when nothing can tell (unknown); else passed."""
    problems: list[Problem] = [p for p in state.health.problems if p.check in RUNTIME_CHECKS]
    evidence: dict[str, Any] = {
        "state": state.health.state,
        "mode": "dedicated" if state.connectors is None else "connect",
        "problems": [{"check": p.check, "state": p.state, "message": p.message}
                     for p in problems][:_LISTED],
        "heartbeat_age_seconds": state.flow.heartbeat.age_s,
        "heartbeat": state.flow.heartbeat.verdict,
        "restart_pending": state.restart_pending,
    }  # fmt: skip
    if state.process is not None:
        evidence["process"] = {"running": state.process.running, "detail": state.process.detail}
    if state.connectors is not None:
        evidence["connectors"] = [
            {"name": c.name, "state": c.state,
             "tasks": [{"id": t.id, "state": t.state} for t in c.tasks]}
            for c in state.connectors
        ]  # fmt: skip
        evidence["missing_connectors"] = list(state.missing_connectors)
    flow = f"flow {state.flow.flow}"
    if not problems:
        what = (
            "MirrorMaker is running"
            if state.connectors is None
            else f"{len(state.connectors)} connectors RUNNING"
        )
        return "passed", f"{flow}: {what}, heartbeat {state.flow.heartbeat.verdict}", evidence
    first = problems[0].message
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    if state.health.state in ("running", "unknown"):
        return "warning", f"{flow}: {state.health.state}: {first}{more}", evidence
    return "failed", f"{flow}: {state.health.state}: {first}{more}", evidence
