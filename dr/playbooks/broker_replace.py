"""Broker replacement: one node's data is gone (a new disk or host); it comes back as the
same node of the same cluster, and the cluster copies its replicas back onto it.

Steps (each safe to run twice; a resumed run skips those journaled done):

1. assess            the cluster answers (its cluster id is recorded: the node is formatted
                     with it); the node is not running; its config is on its host (laid down
                     by whoever provisions it) and says it is node N; the metadata quorum has
                     a leader and, without N, a caught-up majority.
2. stop_node         no half-started process is left (stopping a stopped node is no error).
3. format_storage    the storage tool formats its empty log dirs with the SAME cluster id
                     (``--ignore-formatted``: a dir already formatted is left alone; a dir of
                     another cluster is refused by the tool). Dynamic quorum (KIP-853):
                     ``--no-initial-controllers``, the node joins an existing quorum.
4. remove_old_voter  dynamic quorum, N a voter: the voter (N, old directory id) is removed, as
                     the disk that held that directory is gone. Static quorum: nothing to do.
5. start_node        started through its host access.
6. await_rejoined    registered as a broker and back in the metadata quorum (a static voter
                     caught up with the leader; in a dynamic quorum, an observer first).
7. add_voter         dynamic quorum, N was a voter: once caught up, (N, new directory id) is
                     added with ``kafka-metadata-quorum add-controller`` (or by the node itself
                     with controller.quorum.auto.join.enable). Static quorum: nothing to do.
8. await_replicated  no partition under-replicated (progress reported); the RTO ends here:
                     from the run's start to the cluster fully replicated.
9. elect_leaders     a preferred leader election: N leads its partitions again.
10. verify           the cluster still has the assessed id, so does the node's storage; every
                     partition fully replicated.

A static voter whose metadata log is gone is, when formatted again, an empty voter: it could
help elect a leader missing committed metadata if the other voters were not caught up. Step 1
refuses unless a caught-up majority remains without it, and step 6 waits until it has caught
up. With a dynamic quorum the new directory id makes it a new voter, added only once caught up.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from dr.config.schema import Settings
from dr.errors import DrError, UsageError
from dr.hosts.base import HostError
from dr.kafka.jars import KafkaJars, kafka_jars
from dr.kafka.node_config import NodeConfig, node_config, parse_properties
from dr.kafka.quorum_membership import add_controller, describe_membership, remove_controller
from dr.log import get_logger
from dr.playbooks.broker_common import (
    AccessFor,
    ClusterProbe,
    cluster_settings_of,
    host_access,
    live_probe,
    wait_for,
)
from dr.playbooks.broker_restart import READY_TIMEOUT_S, STOP_TIMEOUT_S
from dr.playbooks.broker_safety import back_in_quorum, quorum_blocker, readiness
from dr.steps import Playbook, Step, StepContext

QUORUM_SETTLE_S = 60.0  # how long assess waits for a caught-up majority without the node

log = get_logger(__name__)

PLAYBOOK = "broker-replace"
Progress = Callable[[str], None]


class QuorumTools:
    """The dynamic-quorum changes, through Kafka's own tool (a fake in unit tests)."""

    def __init__(self, settings: Settings, cluster: str) -> None:
        self.cluster = settings.clusters[cluster]
        self.tools = settings.tools

    def _jars(self) -> KafkaJars:
        return kafka_jars(self.tools.kafka_version, kafka_home=self.tools.kafka_home)

    def voter_directory(self, node_id: int) -> tuple[bool, str | None]:
        """Whether node_id is a voter, and its directory id (None: static quorum)."""
        voter = describe_membership(self.cluster, self._jars()).voter(node_id)
        return voter is not None, None if voter is None else voter.directory_id

    def remove(self, node_id: int, directory_id: str) -> None:
        remove_controller(self.cluster, self._jars(), node_id=node_id, directory_id=directory_id)

    def add(self, config: Mapping[str, str], meta_properties: bytes) -> None:
        add_controller(
            self.cluster, self._jars(), node_config=config, meta_properties=meta_properties
        )


def replace_params(
    settings: Settings,
    cluster: str,
    node: int,
    *,
    stop_timeout_s: float = STOP_TIMEOUT_S,
    ready_timeout_s: float = READY_TIMEOUT_S,
    replicate_timeout_s: float = 3600.0,
) -> dict[str, Any]:
    """The run's params; raises UsageError for an unknown cluster or node."""
    cluster_settings_of(settings, cluster)
    inventory = [b.id for b in settings.clusters[cluster].brokers]
    if inventory and node not in inventory:
        raise UsageError(
            f"cluster '{cluster}' has no node {node} in its inventory "
            f"(its nodes: {', '.join(map(str, inventory))})"
        )
    return {
        "cluster": cluster,
        "node": node,
        "stop_timeout_s": stop_timeout_s,
        "ready_timeout_s": ready_timeout_s,
        "replicate_timeout_s": replicate_timeout_s,
    }


def replace_playbook(
    settings: Settings,
    params: Mapping[str, Any],
    *,
    probe: ClusterProbe | None = None,
    access: AccessFor | None = None,
    quorum_tools: QuorumTools | None = None,
    progress: Progress | None = None,
) -> Playbook:
    """The replacement of node params["node"] of params["cluster"] (see replace_params)."""
    cluster, n = params["cluster"], int(params["node"])
    cluster_settings_of(settings, cluster)
    book = _Replace(
        params,
        probe or live_probe(settings, cluster),
        (access or host_access(settings, cluster))(n),
        quorum_tools or QuorumTools(settings, cluster),
        progress or (lambda _line: None),
    )
    where = f"node {n} of {cluster}"
    steps = (
        Step("assess", f"check {cluster} answers, {where} is down and its config is in place, "
             "the quorum keeps a caught-up majority without it", book.assess,
             touches="nothing (reads the cluster and the node's config)"),
        Step("stop_node", f"make sure {where} is not running", book.stop_node,
             touches=where),
        Step("format_storage", f"format the log dirs of {where} with {cluster}'s cluster id",
             book.format_storage, check=book.formatted, destructive=True,
             touches=f"the empty log dirs of {where}"),
        Step("remove_old_voter", "dynamic quorum only: remove the voter of the lost disk",
             book.remove_old_voter, destructive=True, touches=f"the metadata quorum of {cluster}"),
        Step("start_node", f"start {where}", book.start_node,
             check=book.started, touches=where),
        Step("await_rejoined", f"wait until {where} is registered and back in the quorum",
             book.await_rejoined, touches="nothing (reads the cluster)"),
        Step("add_voter", "dynamic quorum only: add it as a voter once caught up",
             book.add_voter, destructive=True, touches=f"the metadata quorum of {cluster}"),
        Step("await_replicated", f"wait until every partition is fully replicated on {cluster}",
             book.await_replicated, touches="nothing (reads the cluster)",
             switches_clients=True),
        Step("elect_leaders", "run a preferred leader election", book.elect_leaders,
             touches=f"partition leaders of {cluster}"),
        Step("verify", f"check the cluster id of {cluster} and of {where}, and full replication",
             book.verify, touches="nothing (reads the cluster and the node)"),
    )  # fmt: skip
    return Playbook(name=PLAYBOOK, source=cluster, target=cluster, params=dict(params), steps=steps)


class _Replace:
    def __init__(
        self,
        params: Mapping[str, Any],
        probe: ClusterProbe,
        host: Any,
        quorum_tools: QuorumTools,
        progress: Progress,
    ) -> None:
        self.params, self.probe, self.host = params, probe, host
        self.quorum_tools, self.progress = quorum_tools, progress
        self.cluster: str = params["cluster"]
        self.n = int(params["node"])
        self.where = f"node {self.n} of '{self.cluster}'"

    # -- 1 ----------------------------------------------------------------------------------
    def assess(self, ctx: StepContext) -> dict[str, Any]:
        view = self.probe.view()
        status = self.host.status()
        if status.running:
            raise DrError(
                f"{self.where} is running ({status.detail}): replace is for a node whose data "
                f"is gone; for a running node use 'kafka-dr broker restart --cluster "
                f"{self.cluster} --broker {self.n}'"
            )
        config = self._config()
        voter, old_directory = self.quorum_tools.voter_directory(self.n)
        # Right after the node died the quorum may still be electing, or a new leader may not
        # yet know when its followers last caught up: wait for a caught-up majority a while.
        deadline = time.monotonic() + QUORUM_SETTLE_S
        while True:
            quorum = self.probe.quorum()
            blocker = (
                f"the metadata quorum of '{self.cluster}' has no leader"
                if quorum.leader_id is None
                else quorum_blocker(quorum, self.n)
            )
            if blocker is None:
                break
            if time.monotonic() >= deadline:
                raise DrError(f"{self.where} cannot rejoin safely now: {blocker}")
            time.sleep(1.0)
        return {
            "cluster_id": view.cluster_id,
            "quorum": config.quorum,
            "roles": list(config.roles),
            "voter": voter,
            "old_directory_id": old_directory,
            "log_dirs": list(config.log_dirs),
            "metadata_log_dir": config.metadata_log_dir,
            "under_replicated_at_start": len(view.under_replicated),
        }

    def _config(self) -> NodeConfig:
        path = self.host.config_file
        try:
            text = self.host.read_file(path).decode()
        except HostError as exc:
            raise DrError(
                f"the config of {self.where} ({path}) cannot be read: {exc.message}; lay it "
                "down on the node (it is not part of the lost data), then resume"
            ) from None
        config = node_config(text, where=f"{path} on {self.host.host}")
        if config.node_id != self.n:
            raise DrError(f"{path} on {self.host.host} is the config of node {config.node_id}")
        return config

    # -- 2, 3, 4, 5 ---------------------------------------------------------------------------
    def stop_node(self, ctx: StepContext) -> dict[str, Any]:
        stopped = self.host.stop(deadline_s=float(self.params["stop_timeout_s"]))
        return {"how": stopped.how}

    def _meta(self, ctx: StepContext) -> dict[str, str]:
        path = f"{ctx.output('assess')['metadata_log_dir'].rstrip('/')}/meta.properties"
        try:
            return parse_properties(self.host.read_file(path).decode())
        except HostError:
            return {}

    def formatted(self, ctx: StepContext) -> bool:
        meta = self._meta(ctx)
        return meta.get("cluster.id") == ctx.output("assess")["cluster_id"] and meta.get(
            "node.id"
        ) == str(self.n)

    def format_storage(self, ctx: StepContext) -> dict[str, Any]:
        assessed = ctx.output("assess")
        args = ["format", "--cluster-id", assessed["cluster_id"], "--config", self.host.config_file]
        args.append("--ignore-formatted")
        if assessed["quorum"] == "dynamic":
            args.append("--no-initial-controllers")  # join the existing quorum, never seed one
        output = self.host.storage_tool(args, timeout_s=120)
        meta = self._meta(ctx)
        if meta.get("cluster.id") != assessed["cluster_id"]:
            raise DrError(
                f"{self.where}: after formatting, its meta.properties says cluster "
                f"{meta.get('cluster.id')}, not {assessed['cluster_id']}"
            )
        lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
        return {"directory_id": meta.get("directory.id"), "tool": lines[-1:] or []}

    def remove_old_voter(self, ctx: StepContext) -> dict[str, Any]:
        assessed = ctx.output("assess")
        old, new = assessed["old_directory_id"], ctx.output("format_storage").get("directory_id")
        if assessed["quorum"] != "dynamic" or not assessed["voter"]:
            return {"skipped": f"{assessed['quorum']} quorum" if assessed["voter"] else "no voter"}
        if old is None or old == new:
            return {"skipped": "the voter's directory is unchanged"}
        voter, directory = self.quorum_tools.voter_directory(self.n)
        if voter and directory == old:
            self.quorum_tools.remove(self.n, old)
        return {"removed": {"node": self.n, "directory_id": old}}

    def started(self, ctx: StepContext) -> bool:
        ctx.output("stop_node")  # in a plan: known once the node has been stopped
        return self.host.status().running is True

    def start_node(self, ctx: StepContext) -> dict[str, Any]:
        self.host.start()
        return {"started_at": time.time()}

    # -- 6, 7 -------------------------------------------------------------------------------
    def await_rejoined(self, ctx: StepContext) -> dict[str, Any]:
        assessed = ctx.output("assess")
        since = float(ctx.output("start_node").get("started_at", time.time() - 1))
        timeout = float(self.params["ready_timeout_s"])
        deadline = time.monotonic() + timeout
        failure = f"{self.where} did not rejoin"
        out: dict[str, Any] = {}
        if "broker" in assessed["roles"]:

            def registered() -> str | None:
                if self.host.status().running is False:
                    raise DrError(f"{self.where} exited after its start")
                return None if self.n in self.probe.view().brokers else "not registered"

            out["registered_after_s"] = wait_for(
                registered, timeout_s=timeout, failure=failure, node=self.n
            )
        # A static voter rejoins as a voter; a dynamic one as an observer until added.
        as_voter = assessed["voter"] and assessed["quorum"] == "static"
        out["in_quorum_after_s"] = wait_for(
            lambda: back_in_quorum(
                self.probe.quorum(),
                self.n,
                voter=as_voter,
                since_epoch_s=since,
                now_epoch_s=time.time(),
            ),
            timeout_s=max(1.0, deadline - time.monotonic()),
            failure=failure,
            node=self.n,
        )
        return out

    def add_voter(self, ctx: StepContext) -> dict[str, Any]:
        assessed = ctx.output("assess")
        if assessed["quorum"] != "dynamic" or not assessed["voter"]:
            return {"skipped": f"{assessed['quorum']} quorum" if assessed["voter"] else "no voter"}
        config = self._config()
        new = ctx.output("format_storage").get("directory_id")
        voter, directory = self.quorum_tools.voter_directory(self.n)
        auto = config.properties.get("controller.quorum.auto.join.enable", "false") == "true"
        if not (voter and directory == new) and not auto:
            path = f"{assessed['metadata_log_dir'].rstrip('/')}/meta.properties"
            self.quorum_tools.add(config.properties, self.host.read_file(path))

        def added() -> str | None:
            is_voter, current = self.quorum_tools.voter_directory(self.n)
            return None if is_voter and current == new else "not a voter yet"

        waited = wait_for(
            added,
            timeout_s=float(self.params["ready_timeout_s"]),
            failure=f"{self.where} was not added to the quorum's voters",
        )
        return {
            "added": {"node": self.n, "directory_id": new},
            "auto_join": auto,
            "waited_s": waited,
        }

    # -- 8, 9, 10 ---------------------------------------------------------------------------
    def await_replicated(self, ctx: StepContext) -> dict[str, Any]:
        samples: list[list[float]] = []
        started = time.monotonic()

        def replicated() -> str | None:
            view = self.probe.view()
            count = len(view.under_replicated)
            if not samples or samples[-1][1] != count:
                samples.append([round(time.monotonic() - started, 1), count])
                self.progress(f"under-replicated partitions: {count}")
            return readiness(view, self.n, broker=True)

        waited = wait_for(
            replicated,
            timeout_s=float(self.params["replicate_timeout_s"]),
            failure=f"'{self.cluster}' was not fully replicated again",
            event="replace_progress",
            node=self.n,
        )
        return {"replicated_after_s": waited, "under_replicated": samples}

    def elect_leaders(self, ctx: StepContext) -> dict[str, Any]:
        election = self.probe.elect_preferred_leaders()
        return {"elected": election.elected, "failed": election.failed}

    def verify(self, ctx: StepContext) -> dict[str, Any]:
        expected = ctx.output("assess")["cluster_id"]
        view = self.probe.view()
        if view.cluster_id != expected:
            raise DrError(f"'{self.cluster}' now has cluster id {view.cluster_id}, not {expected}")
        meta = self._meta(ctx)
        if meta.get("cluster.id") != expected:
            raise DrError(f"{self.where} has cluster id {meta.get('cluster.id')}, not {expected}")
        problem = readiness(view, self.n, broker=True)
        if problem:
            raise DrError(f"'{self.cluster}' is not whole after the replacement: {problem}")
        hosted = sum(1 for p in view.partitions if self.n in p.replicas)
        return {
            "cluster_id": expected,
            "directory_id": meta.get("directory.id"),
            "partitions_on_node": hosted,
            "partitions": len(view.partitions),
        }
