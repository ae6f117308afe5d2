"""Rolling restart: every node of a cluster, one at a time, gated on the cluster's state.

The order is fixed when the run starts and kept in its params (a resume restarts the same
nodes in the same order): brokers that are not controllers, then the standby controllers,
the active controller (the metadata quorum's leader) last. In combined mode (broker and
controller in one process, as in the lab) the node that leads the quorum is restarted last,
so the quorum elects a new leader once, at the end.

Steps, for each node N in that order (each safe to run twice):

1. preflight_N      no partition offline or under-replicated, none of N's partitions left
                    below min.insync.replicas without it, and a caught-up quorum majority
                    without it (waits up to --settle-timeout for a transient state to clear,
                    then stops naming the partitions).
2. stop_N           graceful stop (SIGTERM: controlled shutdown moves its leaders away),
                    killed when it has not stopped by --stop-timeout. Checked again first
                    when the preflight is old (a resumed run).
3. start_N          started through its host access (done when it runs already).
4. await_N          registered again, back in the quorum (caught up with its leader since
                    it stopped), and no partition under-replicated; --ready-timeout, else the
                    run stops with what is missing (resume continues with this node).
5. elect_leaders_N  a preferred leader election: its leaderships return.

Then ``verify``: every node registered, nothing offline or under-replicated, and how many
partitions are led by a broker other than their preferred one.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from dr.config.schema import Settings
from dr.errors import DrError, UsageError
from dr.log import get_logger
from dr.playbooks.broker_common import (
    AccessFor,
    ClusterProbe,
    cluster_settings_of,
    host_access,
    live_probe,
    wait_for,
)
from dr.playbooks.broker_safety import back_in_quorum, check_stop, nodes_in_order, readiness
from dr.steps import Playbook, Step, StepContext

log = get_logger(__name__)

PLAYBOOK = "broker-restart"
STOP_TIMEOUT_S = 120.0
READY_TIMEOUT_S = 300.0
SETTLE_TIMEOUT_S = 60.0
# A preflight older than this is done again right before the stop (a resumed run).
PREFLIGHT_FRESH_S = 30.0


def restart_params(
    settings: Settings,
    cluster: str,
    *,
    nodes: list[int] | None = None,
    probe: ClusterProbe | None = None,
    stop_timeout_s: float = STOP_TIMEOUT_S,
    ready_timeout_s: float = READY_TIMEOUT_S,
    settle_timeout_s: float = SETTLE_TIMEOUT_S,
) -> dict[str, Any]:
    """The run's params: the nodes in restart order with their roles, read from the cluster
    now. Raises UsageError for an unknown cluster or a node not in its inventory."""
    cluster_settings_of(settings, cluster)
    probe = probe or live_probe(settings, cluster)
    view, quorum = probe.view(), probe.quorum()
    inventory = [b.id for b in settings.clusters[cluster].brokers]
    voters = sorted(v.node_id for v in quorum.voters)
    known = inventory or sorted(set(view.brokers) | set(voters))
    unknown = [n for n in nodes or [] if n not in known]
    if unknown:
        listed = ", ".join(map(str, known))
        raise UsageError(f"cluster '{cluster}' has no node {unknown[0]} (its nodes: {listed})")
    return {
        "cluster": cluster,
        **nodes_in_order(view, quorum, nodes or known),
        "stop_timeout_s": stop_timeout_s,
        "ready_timeout_s": ready_timeout_s,
        "settle_timeout_s": settle_timeout_s,
    }


def restart_playbook(
    settings: Settings,
    params: Mapping[str, Any],
    *,
    probe: ClusterProbe | None = None,
    access: AccessFor | None = None,
) -> Playbook:
    """The rolling restart of params["cluster"] in params["order"] (see restart_params)."""
    cluster = params["cluster"]
    cluster_settings_of(settings, cluster)
    book = _Restart(
        params,
        probe or live_probe(settings, cluster),
        access or host_access(settings, cluster),
    )
    steps: list[Step] = []
    for n in params["order"]:
        steps += book.node_steps(int(n))
    steps.append(
        Step(
            "verify",
            f"every restarted node registered, nothing offline or under-replicated on {cluster}",
            book.verify,
            touches="nothing (reads the cluster)",
        )
    )
    return Playbook(
        name=PLAYBOOK, source=cluster, target=cluster, params=dict(params), steps=tuple(steps)
    )


class _Restart:
    def __init__(self, params: Mapping[str, Any], probe: ClusterProbe, access: AccessFor):
        self.params, self.probe, self.access = params, probe, access
        self.cluster: str = params["cluster"]
        self.brokers = {int(n) for n in params["brokers"]}
        self.voters = {int(n) for n in params["voters"]}

    def node_steps(self, n: int) -> list[Step]:
        role = self._role(n)
        return [
            Step(
                f"preflight_{n}",
                f"check {role} {n} may stop: nothing offline or under-replicated, its "
                "partitions stay at or above min.insync.replicas, the quorum keeps a majority",
                lambda ctx: self.preflight(n),
                touches="nothing (reads the cluster)",
            ),
            Step(
                f"stop_{n}",
                f"stop {role} {n} gracefully (controlled shutdown; killed after "
                f"{self.params['stop_timeout_s']:.0f}s)",
                lambda ctx: self.stop(ctx, n),
                destructive=True,
                touches=f"node {n} of {self.cluster}",
            ),
            Step(
                f"start_{n}",
                f"start {role} {n}",
                lambda ctx: self.start(n),
                check=lambda ctx: self.started(ctx, n),
                touches=f"node {n} of {self.cluster}",
            ),
            Step(
                f"await_{n}",
                f"wait until {n} is registered, back in the quorum and nothing is "
                f"under-replicated (at most {self.params['ready_timeout_s']:.0f}s)",
                lambda ctx: self.await_back(ctx, n),
                touches="nothing (reads the cluster)",
            ),
            Step(
                f"elect_leaders_{n}",
                "run a preferred leader election (leaderships return to their first replica)",
                lambda ctx: self.elect(),
                touches=f"partition leaders of {self.cluster}",
            ),
        ]

    def _role(self, n: int) -> str:
        if n == self.params.get("active_controller"):
            return "active controller" + (" and broker" if n in self.brokers else "")
        if n in self.voters:
            return "controller" + (" and broker" if n in self.brokers else "")
        return "broker"

    # -- steps ------------------------------------------------------------------------------
    def preflight(self, n: int) -> dict[str, Any]:
        found: dict[str, Any] = {}

        def safe() -> str | None:
            check = check_stop(self.probe.view(with_min_isr=True), n, self.probe.quorum())
            found["hosted_partitions"] = check.hosted
            return check.problem()

        waited = wait_for(
            safe,
            timeout_s=float(self.params["settle_timeout_s"]),
            failure=f"node {n} of '{self.cluster}' was not safe to stop",
            event="restart_preflight",
            node=n,
        )
        return {**found, "waited_s": waited, "checked_at": time.time()}

    def stop(self, ctx: StepContext, n: int) -> dict[str, Any]:
        host = self.access(n)
        checked_at = float(ctx.output(f"preflight_{n}").get("checked_at", 0.0))
        if host.status().running and time.time() - checked_at > PREFLIGHT_FRESH_S:
            check = check_stop(self.probe.view(with_min_isr=True), n, self.probe.quorum())
            if not check.ok:
                raise DrError(f"node {n} of '{self.cluster}' may not stop now: {check.problem()}")
        began = time.time()
        stopped = host.stop(deadline_s=float(self.params["stop_timeout_s"]))
        log.info("broker_stopped", cluster=self.cluster, node=n, how=stopped.how)
        return {
            "how": stopped.how,
            "seconds": round(stopped.seconds, 3),
            "began_at": began,
            "stopped_at": time.time(),
        }

    def started(self, ctx: StepContext, n: int) -> bool:
        ctx.output(f"stop_{n}")  # in a plan: known once the node has been stopped
        return self.access(n).status().running is True

    def start(self, n: int) -> dict[str, Any]:
        self.access(n).start()
        return {"started_at": time.time()}

    def await_back(self, ctx: StepContext, n: int) -> dict[str, Any]:
        stopped = ctx.output(f"stop_{n}")
        since = float(stopped.get("stopped_at", time.time()))
        deadline = time.monotonic() + float(self.params["ready_timeout_s"])
        failure = f"node {n} of '{self.cluster}' did not come back"
        out: dict[str, Any] = {}
        if n in self.brokers:

            def registered() -> str | None:
                if self.access(n).status().running is False:
                    raise DrError(f"node {n} of '{self.cluster}' exited after its start")
                return None if n in self.probe.view().brokers else f"broker {n} not registered"

            out["registered_after_s"] = wait_for(
                registered, timeout_s=deadline - time.monotonic(), failure=failure, node=n
            )

        def in_quorum() -> str | None:
            return back_in_quorum(
                self.probe.quorum(),
                n,
                voter=n in self.voters,
                since_epoch_s=since,
                now_epoch_s=time.time(),
            )

        out["in_quorum_after_s"] = wait_for(
            in_quorum, timeout_s=deadline - time.monotonic(), failure=failure, node=n
        )
        out["replicated_after_s"] = wait_for(
            lambda: readiness(self.probe.view(), n, broker=n in self.brokers),
            timeout_s=deadline - time.monotonic(),
            failure=failure,
            node=n,
        )
        out["down_s"] = round(time.time() - float(stopped.get("began_at", since)), 3)
        log.info("broker_back", cluster=self.cluster, node=n, down_s=out["down_s"])
        return out

    def elect(self) -> dict[str, Any]:
        election = self.probe.elect_preferred_leaders()
        return {"elected": election.elected, "failed": election.failed}

    def verify(self, ctx: StepContext) -> dict[str, Any]:
        order = [int(n) for n in self.params["order"]]

        def whole() -> str | None:
            view = self.probe.view()
            missing = [n for n in order if n in self.brokers and n not in view.brokers]
            if missing:
                return f"brokers not registered: {', '.join(map(str, missing))}"
            return readiness(view, order[-1], broker=False) if order else None

        wait_for(
            whole,
            timeout_s=float(self.params["settle_timeout_s"]),
            failure=f"cluster '{self.cluster}' is not whole after the restart",
        )
        view = self.probe.view()
        return {
            "restarted": order,
            "down_s": {str(n): ctx.outputs.get(f"await_{n}", {}).get("down_s") for n in order},
            "partitions": len(view.partitions),
            "not_preferred_leaders": len(view.not_preferred()),
        }
