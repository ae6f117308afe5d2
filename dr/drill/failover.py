"""Scenario failover: a real failover of one flow and (unless ``failback: false``) the failback,
through the playbooks: the very runs ``kafka-dr failover --force --yes`` and ``kafka-dr failback
--yes`` make, journaled, hooked and resumable as theirs are (destructive: the runner lets it
run only with --destructive and both clusters drillable).

What it measures, and from where:

- RPO: the failover's own ``record_loss`` step. The source answers during a drill, so the
  failover runs with ``force`` and that step reads both clusters: the age of the oldest record
  not yet on the target, and how many there were, when the failover decided. When it could not
  measure, the objective is unmeasured with its reason (never 0, never a guess).
- RTO: each run's journal. The failover's from its start to the end of ``switch_clients``; the
  failback's write-unavailable window, from the start of ``stop_producers`` to the end of
  ``switch_clients``.
- What never reached the target: the failback's ``find_divergence`` (archived by its next
  step). In a drill it also holds what clients wrote on the source between the cut and their
  switch, so it is reported beside the RPO, not as it.

A failover that completed and a failback that did not leave the clients on the target: a check
of its own says so, naming the run to resume.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from dr.config.drills import FailoverScenario
from dr.drill.context import DrillCancelled, DrillContext, now
from dr.drill.model import CheckOutcome, Objective
from dr.drill.playbook_runs import run_evidence, run_in_drill, why_stopped
from dr.errors import DrError
from dr.log import get_logger
from dr.playbooks import failed_over
from dr.playbooks.failover import failover_playbook
from dr.playbooks.giveback import failback_playbook
from dr.steps import RunResult

log = get_logger(__name__)

SCENARIO = "failover"
PARTITIONS_SHOWN = 100  # diverged partitions listed in the evidence; the rest are counted
FAILOVER_RTO = "the failover's journal: from its start to the end of switch_clients"
FAILBACK_RTO = (
    "the failback's journal: the write-unavailable window, from the start of stop_producers "
    "to the end of switch_clients"
)


def run_failover(ctx: DrillContext, scenario: FailoverScenario) -> None:
    """Fail the flow over and back; what the runs find is recorded. Raises DrError when the
    flow is failed over already (a drill never starts from there) or the failover cannot
    start (another run holds the pair's lock, a hook cannot run)."""
    source, target = flow_pair(scenario.flow)
    ctx.cluster_ref(source)
    ctx.cluster_ref(target)
    flow = f"{source}->{target}"
    earlier = failed_over(ctx.settings).get(flow)
    if earlier is not None:
        raise DrError(
            f"flow {flow} is failed over already (run {earlier}): fail back first with "
            f"'kafka-dr failback --from {target} --to {source}'"
        )
    started = now()
    book = failover_playbook(ctx.settings, source=source, target=target, force=True)
    over = run_in_drill(ctx, SCENARIO, book, label=f"failover {flow}")
    record_failover(ctx, over, started=started)
    if over.status != "completed":
        return
    if not scenario.failback:
        ctx.recorder.check(
            SCENARIO,
            "failback",
            f"{target}->{source}",
            "warning",
            f"not run (failback: false): clients stay on {target}; fail back with "
            f"'kafka-dr failback --from {target} --to {source}'",
            started=now(),
            evidence={"failover_run": over.run_id},
        )
        return
    fail_back(ctx, over)


def flow_pair(flow: str) -> tuple[str, str]:
    """``source->target`` as (source, target)."""
    source, _, target = flow.partition("->")
    return source.strip(), target.strip()


def fail_back(ctx: DrillContext, over: RunResult) -> None:
    """The failback of a completed failover; when it cannot start or does not complete, the
    drill says loudly that the clusters are left failed over."""
    started = now()
    pair = f"{over.target}->{over.source}"
    try:
        ctx.check_cancelled()
        book = failback_playbook(
            ctx.settings,
            ctx.state,
            source=over.target,
            target=over.source,
            failover_run=over.run_id,
        )
        back = run_in_drill(ctx, SCENARIO, book, label=f"failback {pair}")
    except DrError as exc:
        ctx.recorder.check(
            SCENARIO, "failback", pair, "error", f"failback {pair} did not start: {exc}",
            started=started, evidence={"failover_run": over.run_id},
        )  # fmt: skip
        left_failed_over(ctx, over, None, reason=str(exc), started=started)
        if isinstance(exc, DrillCancelled):
            raise
        return
    record_failback(ctx, back, failover_run=over.run_id, started=started)
    if back.status != "completed":
        left_failed_over(ctx, over, back, reason=why_stopped(back), started=started)


def record_failover(ctx: DrillContext, over: RunResult, *, started: datetime) -> None:
    """The failover's check, its RTO and its RPO."""
    flow = f"{over.source}->{over.target}"
    committed = over.outputs("commit_offsets")
    failed_groups = list(committed.get("failed", []))
    outcome: CheckOutcome = "passed"
    if over.status != "completed":
        outcome = "failed"
        summary = (
            f"failover {flow} failed: {why_stopped(over)}; resume with "
            f"'kafka-dr playbook resume {over.run_id}'"
        )
    else:
        summary = f"failover {flow} completed (run {over.run_id}), RTO {_seconds(over)}"
        if failed_groups:
            outcome = "warning"
            summary += (
                f"; {len(failed_groups)} groups not committed, first "
                f"{failed_groups[0].get('group')}: {failed_groups[0].get('reason')}"
            )
    ctx.recorder.check(
        SCENARIO,
        "failover",
        flow,
        outcome,
        summary,
        started=started,
        inputs={
            "flow": flow,
            "force": True,
            "why_force": "the source answers during a drill; a failover refuses a live source "
            "without --force",
        },
        evidence={
            **run_evidence(over),
            "groups_committed": sorted(committed.get("committed", {})),
            "groups_failed": failed_groups,
            "record_loss": _loss_evidence(over.outputs("record_loss")),
        },
    )
    ctx.recorder.objective(rto_objective(ctx, over, f"failover {flow}", how=FAILOVER_RTO))
    ctx.recorder.objective(rpo_objective(ctx, over))


def record_failback(
    ctx: DrillContext, back: RunResult, *, failover_run: str, started: datetime
) -> None:
    """The failback's check (with what never reached the replicas) and its RTO."""
    pair = f"{back.source}->{back.target}"
    found = back.outputs("find_divergence")
    archive = back.outputs("archive_divergence")
    copied = back.outputs("copy_back").get("records")
    if back.status == "completed":
        summary = (
            f"failback {pair} completed (run {back.run_id}), write-unavailable "
            f"{_seconds(back)}: {copied} records copied back to {back.target}; "
            f"{found.get('records')} records {back.target} held that never reached "
            f"{back.source}, archived as backup {archive.get('backup_id')}"
        )
    else:
        summary = (
            f"failback {pair} failed: {why_stopped(back)}; resume with "
            f"'kafka-dr playbook resume {back.run_id}'"
        )
    ctx.recorder.check(
        SCENARIO,
        "failback",
        pair,
        back.status == "completed",
        summary,
        started=started,
        inputs={"failover_run": failover_run},
        evidence={
            **run_evidence(back),
            "copied_back": copied,
            "divergence": _divergence_evidence(found, archive),
        },
    )
    ctx.recorder.objective(rto_objective(ctx, back, f"failback {pair}", how=FAILBACK_RTO))


def left_failed_over(
    ctx: DrillContext,
    over: RunResult,
    back: RunResult | None,
    *,
    reason: str,
    started: datetime,
) -> None:
    """The loud part: the clients are left on the failover's target, and how to finish."""
    flow = f"{over.source}->{over.target}"
    resume = (
        f"kafka-dr playbook resume {back.run_id}"
        if back is not None
        else f"kafka-dr failback --from {over.target} --to {over.source}"
    )
    log.warning(
        "drill_left_failed_over",
        flow=flow,
        failover_run=over.run_id,
        failback_run=back.run_id if back else None,
        reason=reason,
    )
    ctx.recorder.check(
        SCENARIO,
        "clusters_left_failed_over",
        flow,
        "error",
        f"CLUSTERS LEFT FAILED OVER to {over.target} by run {over.run_id}: the failback did "
        f"not finish ({reason}); finish it with '{resume}'",
        started=started,
        evidence={
            "failover_run": over.run_id,
            "failback_run": back.run_id if back else None,
            "resume": resume,
        },
    )


def rto_objective(ctx: DrillContext, result: RunResult, subject: str, *, how: str) -> Objective:
    """A run's RTO from its journal, against the configured objective."""
    unmeasured = None
    if result.rto_seconds is None:
        unmeasured = f"the run did not switch the clients ({why_stopped(result)})"
    return Objective(
        scenario=SCENARIO,
        kind="rto",
        subject=subject,
        target_seconds=ctx.settings.flow_objectives(
            f"{result.source}->{result.target}"
        ).rto_seconds,
        measured_seconds=result.rto_seconds,
        unmeasured=unmeasured,
        how=how,
    )


def rpo_objective(ctx: DrillContext, over: RunResult) -> Objective:
    """The failover's RPO as its record_loss step measured it."""
    loss = over.outputs("record_loss")
    seconds = loss.get("rpo_seconds")
    records = loss.get("lost_records_estimate")
    if not loss:
        unmeasured: str | None = (
            f"the failover stopped before its record_loss step measured anything "
            f"({why_stopped(over)})"
        )
    elif seconds is None:
        unmeasured = loss.get("unmeasured") or "record_loss recorded neither an RPO nor why not"
    else:
        unmeasured = None
    counted = f"; {records} records not replicated then" if records is not None else ""
    return Objective(
        scenario=SCENARIO,
        kind="rpo",
        subject=f"failover {over.source}->{over.target}",
        target_seconds=ctx.settings.flow_objectives(f"{over.source}->{over.target}").rpo_seconds,
        measured_seconds=None if seconds is None else float(seconds),
        unmeasured=unmeasured,
        how=(
            f"the failover's record_loss step: the age of the oldest record on {over.source} "
            f"not yet on {over.target} when it decided, read on both clusters{counted}"
        ),
    )


def _seconds(result: RunResult) -> str:
    return "unmeasured" if result.rto_seconds is None else f"{result.rto_seconds:.1f}s"


def _loss_evidence(loss: Mapping[str, Any]) -> dict[str, Any]:
    partitions = [p for p in loss.get("partitions", []) if p.get("lost_records")]
    return {
        "measured": loss.get("measured"),
        "unmeasured": loss.get("unmeasured"),
        "rpo_seconds": loss.get("rpo_seconds"),
        "lost_records_estimate": loss.get("lost_records_estimate"),
        "heartbeat_age_seconds": loss.get("heartbeat_age_seconds"),
        "partitions_behind": partitions[:PARTITIONS_SHOWN],
        "partitions_behind_count": len(partitions),
    }


def _divergence_evidence(found: Mapping[str, Any], archive: Mapping[str, Any]) -> dict[str, Any]:
    partitions = [p for p in found.get("partitions", []) if p.get("records")]
    return {
        "records": found.get("records"),
        "partitions": partitions[:PARTITIONS_SHOWN],
        "partitions_count": len(partitions),
        "archive": dict(archive) or None,
    }
