"""Scenario broker-loss: one broker killed, brought back through ``broker replace``, and the
time from the kill to the cluster fully replicated again measured (destructive: the runner lets
it run only with --destructive and the cluster drillable).

1. The node: the configured one, else the highest registered broker id. It is killed only when
   the cluster is whole (nothing offline or under-replicated), none of its partitions would
   fall below min.insync.replicas and the metadata quorum keeps a caught-up majority without
   it (the rolling restart's own rule): a drill tests recovery, it does not cause an outage.
2. The kill goes through the cluster's host access (``clusters.C.access``: lab, command, ssh):
   a stop with a zero deadline, that is a SIGTERM at once followed by a kill. Its disk is
   left as it is: the replace formats only a disk that is gone.
3. The ``broker replace`` playbook, run through the step engine as ``kafka-dr broker replace
   --yes`` runs it (journaled, resumable), with what is left of the deadline.
   It starts once the cluster has fenced the node (at most a minute), as it would for an
   operator who saw the node go.
4. The cluster polled until no partition is under-replicated or offline and the node is
   registered: the RTO runs from the kill to that moment.

The whole scenario is bounded by a deadline: twice the RTO objective, at least ten minutes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from dr.config.drills import BrokerLossScenario
from dr.drill.context import DrillContext, now
from dr.drill.model import Objective, iso
from dr.drill.playbook_runs import run_evidence, run_in_drill, why_stopped
from dr.errors import DrError
from dr.kafka.cluster_state import ClusterView
from dr.log import get_logger
from dr.playbooks.broker_common import AccessFor, ClusterProbe, host_access, live_probe, wait_for
from dr.playbooks.broker_replace import QuorumTools, replace_params, replace_playbook
from dr.playbooks.broker_restart import READY_TIMEOUT_S
from dr.playbooks.broker_safety import check_stop, readiness
from dr.steps import RunResult

log = get_logger(__name__)

SCENARIO = "broker-loss"
MIN_DEADLINE_S = 600.0
POLL_S = 2.0
NOTICE_S = 60.0  # longest wait for the cluster to fence the killed node before the replace
KILL = "a stop with a zero deadline through the host access: SIGTERM, then a kill at once"


@dataclass
class Loss:
    """One broker lost by the drill: which, when, and the cluster's URP count since."""

    cluster: str
    node: int
    deadline_s: float
    killed_at: datetime = field(default_factory=now)
    samples: list[list[float]] = field(default_factory=list)  # [seconds since kill, URP]
    noticed_after_s: float | None = None  # when the cluster no longer listed the node
    last_count: int | None = None  # under-replicated partitions at the last poll

    @property
    def subject(self) -> str:
        return f"{self.cluster} node {self.node}"

    def since_kill(self, at: datetime | None = None) -> float:
        return round(((at or now()) - self.killed_at).total_seconds(), 3)

    def left_s(self) -> float:
        return max(1.0, self.deadline_s - self.since_kill())

    def sample(self, view: ClusterView) -> None:
        count = self.last_count = len(view.under_replicated)
        if not self.samples or self.samples[-1][1] != count:
            self.samples.append([round(self.since_kill(), 1), count])

    def inputs(self) -> dict[str, object]:
        return {
            "cluster": self.cluster,
            "node": self.node,
            "deadline_s": self.deadline_s,
            "deadline_from": f"twice objectives.rto_seconds, at least {MIN_DEADLINE_S:.0f}s",
        }


def run_broker_loss(ctx: DrillContext, scenario: BrokerLossScenario) -> None:
    """Kill, replace and time one broker of the scenario's cluster (see the module)."""
    lose_broker(ctx, scenario)


def lose_broker(
    ctx: DrillContext,
    scenario: BrokerLossScenario,
    *,
    probe: ClusterProbe | None = None,
    access: AccessFor | None = None,
    quorum_tools: QuorumTools | None = None,
    deadline_s: float | None = None,
    poll_s: float = POLL_S,
) -> None:
    """The scenario over the live cluster, or over what is passed (unit tests); everything
    found is recorded. Raises DrError when the cluster cannot be read before the kill."""
    cluster = scenario.cluster
    probe = probe or live_probe(ctx.settings, cluster)
    access = access or host_access(ctx.settings, cluster)
    ctx.cluster_ref(cluster)
    if deadline_s is None:
        deadline_s = max(MIN_DEADLINE_S, 2 * ctx.settings.objectives.rto_seconds)
    view = probe.view(with_min_isr=True)
    node = scenario.broker if scenario.broker is not None else _highest(cluster, view)
    loss = Loss(cluster, node, deadline_s)
    ctx.check_cancelled()  # the last moment a stop leaves the cluster untouched
    not_killed = _kill(ctx, loss, view, probe, access)
    if not_killed is not None:
        _objective(ctx, loss, None, f"no broker was lost: {not_killed}")
        return
    _await_noticed(loss, probe, poll_s)
    result = _replace(ctx, loss, probe, access, quorum_tools)
    if result is None or result.status != "completed":
        _objective(ctx, loss, None, "the replace did not complete: nothing was timed")
        return
    _await_whole(ctx, loss, probe, result, poll_s)


def _highest(cluster: str, view: ClusterView) -> int:
    if not view.brokers:
        raise DrError(f"cluster '{cluster}' has no registered broker to lose")
    return max(view.brokers)


def _kill(
    ctx: DrillContext, loss: Loss, view: ClusterView, probe: ClusterProbe, access: AccessFor
) -> str | None:
    """Kill the node when the cluster can lose it; the check says what was done. Returns
    None once it is killed, else why it was not."""
    started = now()
    safety = check_stop(view, loss.node, probe.quorum())
    problem = safety.problem()
    if problem is None and loss.node not in view.brokers:
        problem = f"broker {loss.node} is not registered in '{loss.cluster}'"
    if problem is not None:
        ctx.recorder.check(
            SCENARIO, "broker_killed", loss.subject, "error",
            f"node {loss.node} of '{loss.cluster}' was not killed: {problem}",
            started=started, inputs=loss.inputs(),
        )  # fmt: skip
        return problem
    host = access(loss.node)
    loss.killed_at = now()
    stopped = host.stop(deadline_s=0.0)
    kind = getattr(ctx.settings.clusters[loss.cluster].access, "kind", "configured")
    loss.sample(probe.view())
    killed = stopped.how != "not-running"
    ctx.recorder.check(
        SCENARIO,
        "broker_killed",
        loss.subject,
        killed,
        f"node {loss.node} of '{loss.cluster}' on {host.host} "
        + (
            f"killed through its {kind} host access ({stopped.how} after "
            f"{stopped.seconds:.1f}s), disk left in place"
            if killed
            else "was not running when the drill came to kill it"
        ),
        started=started,
        inputs=loss.inputs(),
        evidence={
            "node": loss.node,
            "host": host.host,
            "how": stopped.how,
            "method": KILL,
            "access": kind,
            "killed_at": iso(loss.killed_at),
            "stop_seconds": round(stopped.seconds, 3),
            "partitions_on_node": safety.hosted,
        },
    )
    return "it was not running when the drill came to kill it" if not killed else None


def _await_noticed(loss: Loss, probe: ClusterProbe, poll_s: float) -> None:
    """Until the cluster has fenced the node (the under-replicated partitions show), as an
    operator would see it before replacing it: bounded, and never a reason to stop."""

    def listed() -> str | None:
        view = probe.view()
        loss.sample(view)
        return f"broker {loss.node} still registered" if loss.node in view.brokers else None

    try:
        wait_for(listed, timeout_s=min(NOTICE_S, loss.left_s()), failure="not fenced",
                 poll_s=poll_s, event="drill_broker_loss_waiting", node=loss.node)  # fmt: skip
        loss.noticed_after_s = loss.since_kill()
    except DrError:
        pass  # the replace's assess reads the cluster as it is


def _replace(
    ctx: DrillContext,
    loss: Loss,
    probe: ClusterProbe,
    access: AccessFor,
    quorum_tools: QuorumTools | None,
) -> RunResult | None:
    """`broker replace` of the killed node; a replace that does not complete says the node
    is left down, and how to bring it back."""
    started = now()
    left = loss.left_s()
    params = replace_params(
        ctx.settings,
        loss.cluster,
        loss.node,
        ready_timeout_s=min(READY_TIMEOUT_S, left),
        replicate_timeout_s=left,
    )
    book = replace_playbook(ctx.settings, params, probe=probe, access=access,
                            quorum_tools=quorum_tools)  # fmt: skip
    again = f"kafka-dr broker replace --cluster {loss.cluster} --broker {loss.node}"
    try:
        result = run_in_drill(ctx, SCENARIO, book, label=f"broker replace {loss.subject}")
    except DrError as exc:
        _left_down(ctx, loss, f"the replace did not start ({exc})", again, started)
        return None
    done = result.status == "completed"
    ctx.recorder.check(
        SCENARIO,
        "replace_completed",
        loss.subject,
        done,
        f"broker replace of node {loss.node} completed (run {result.run_id}) in "
        f"{(now() - started).total_seconds():.1f}s"
        if done
        else f"broker replace of node {loss.node} failed: {why_stopped(result)}",
        started=started,
        inputs={key: params[key] for key in ("ready_timeout_s", "replicate_timeout_s")},
        evidence=run_evidence(result),
    )
    if not done:
        resume = f"kafka-dr playbook resume {result.run_id}"
        _left_down(ctx, loss, f"run {result.run_id} stopped", resume, started)
    return result


def _left_down(ctx: DrillContext, loss: Loss, why: str, command: str, started: datetime) -> None:
    log.warning("drill_broker_left_down", cluster=loss.cluster, node=loss.node, why=why)
    ctx.recorder.check(
        SCENARIO, "broker_left_down", loss.subject, "error",
        f"NODE {loss.node} OF '{loss.cluster}' MAY BE LEFT DOWN after the drill killed it: "
        f"{why}; bring it back with '{command}'",
        started=started, evidence={"node": loss.node, "command": command},
    )  # fmt: skip


def _await_whole(
    ctx: DrillContext, loss: Loss, probe: ClusterProbe, result: RunResult, poll_s: float
) -> None:
    """Poll until nothing is under-replicated or offline and the node is registered; the
    time since the kill is the RTO."""
    started = now()
    replicated = next((s for s in result.steps if s.name == "await_replicated"), None)
    if replicated is not None and replicated.started_at is not None:
        shift = loss.since_kill(replicated.started_at)
        for at_s, count in replicated.outputs.get("under_replicated", []):
            loss.samples.append([round(shift + float(at_s), 1), int(count)])

    def not_yet() -> str | None:
        view = probe.view()
        loss.sample(view)
        return readiness(view, loss.node, broker=True)

    try:
        wait_for(
            not_yet,
            timeout_s=loss.left_s(),
            failure=f"'{loss.cluster}' was not whole again",
            poll_s=poll_s,
            event="drill_broker_loss_waiting",
            node=loss.node,
        )
        seconds: float | None = loss.since_kill()
        problem = None
    except DrError as exc:
        seconds, problem = None, str(exc)
    samples = sorted(loss.samples, key=lambda sample: sample[0])
    ctx.recorder.check(
        SCENARIO,
        "fully_replicated",
        loss.subject,
        seconds is not None,
        f"'{loss.cluster}' fully replicated {seconds:.1f}s after node {loss.node} was killed"
        if seconds is not None
        else f"{problem} ({loss.deadline_s:.0f}s deadline from the kill)",
        started=started,
        inputs=loss.inputs(),
        evidence={
            "under_replicated": samples,
            "final_under_replicated": loss.last_count,
            "unregistered_after_s": loss.noticed_after_s,
        },
    )
    _objective(ctx, loss, seconds, problem)


def _objective(ctx: DrillContext, loss: Loss, seconds: float | None, problem: str | None) -> None:
    ctx.recorder.objective(
        Objective(
            scenario=SCENARIO,
            kind="rto",
            subject=f"broker-loss {loss.subject}",
            target_seconds=ctx.settings.objectives.rto_seconds,
            measured_seconds=seconds,
            unmeasured=None if seconds is not None else problem,
            how=f"from the kill of node {loss.node} to the first poll that found no partition "
            f"of '{loss.cluster}' under-replicated or offline and the node registered",
        )
    )
