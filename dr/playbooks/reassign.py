"""Partition reassignments of one cluster: the plan a broker add or remove proposes, what is
moving now (``kafka-dr reassign status``) and the cancel playbook (``reassign cancel``).

Partition sizes come from the brokers' log dirs (Kafka's LogDirsCommand, DescribeLogDirs):
the bytes a new replica copies, not end offsets (a compacted or retention-trimmed partition
holds far fewer bytes than its offsets suggest). Racks come from the inventory
(``clusters.NAME.brokers[].rack``), else from what each broker says (``broker.rack``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dr.config.schema import ClusterSettings, Settings
from dr.errors import DrError, UsageError
from dr.kafka import reassign as kreassign
from dr.kafka.client import admin_client
from dr.kafka.jars import KafkaJars, kafka_jars
from dr.log import get_logger
from dr.playbooks.balance import ReassignmentPlan, plan_add, plan_remove
from dr.steps import Outputs, Playbook, Step, StepContext

log = get_logger(__name__)

SIZE_SOURCE = "log dirs on disk (DescribeLogDirs, the largest replica)"
CANCEL = "reassign-cancel"


class ClusterView:
    """One cluster as the reassignment procedures read it: admin client, tool jars, reads."""

    def __init__(self, settings: Settings, name: str) -> None:
        if name not in settings.clusters:
            known = ", ".join(settings.clusters)
            raise UsageError(f"no cluster '{name}' in the config (clusters: {known})")
        self.name = name
        self.settings = settings
        self.cluster: ClusterSettings = settings.clusters[name]
        self._jars: KafkaJars | None = None

    @property
    def jars(self) -> KafkaJars:
        if self._jars is None:
            tools = self.settings.tools
            self._jars = kafka_jars(tools.kafka_version, kafka_home=tools.kafka_home)
        return self._jars

    def admin(self) -> Any:
        return admin_client(self.cluster)

    def online(self) -> tuple[kreassign.Broker, ...]:
        return kreassign.online_brokers(self.admin(), self.cluster.timeout_s)

    def replicas(self) -> dict[kreassign.TP, kreassign.PartitionReplicas]:
        return kreassign.replica_sets(self.admin(), self.cluster.timeout_s)

    def ongoing(self) -> tuple[kreassign.Ongoing, ...]:
        return kreassign.ongoing_reassignments(self.cluster, self.jars)

    def racks(self, online: tuple[kreassign.Broker, ...]) -> dict[int, str | None]:
        racks: dict[int, str | None] = {b.id: b.rack for b in online}
        racks.update({b.id: b.rack for b in self.cluster.brokers if b.rack})
        return racks

    def throttles(self, brokers: list[int], topics: list[str]) -> list[str]:
        return kreassign.throttles_left(self.admin(), brokers, topics, self.cluster.timeout_s)

    def clear_throttles(self, topics: list[str]) -> list[str]:
        """Clear the replication throttles (every broker's, and these topics') the way Kafka's
        tool does once nothing moves: ``--verify`` of partitions already in place. Returns
        those still set afterwards (empty: cleared)."""
        current = self.replicas()
        wanted = set(topics)
        sample = {tp: p.replicas for tp, p in current.items() if tp[0] in wanted}
        if not sample and current:
            tp, first = next(iter(sorted(current.items())))
            sample = {tp: first.replicas}
        if sample:
            kreassign.finish_reassignment(self.cluster, self.jars, sample)
        return self.throttles([b.id for b in self.online()], topics)


def refuse_ongoing(view: ClusterView, ongoing: tuple[kreassign.Ongoing, ...]) -> None:
    """Raise DrError when a reassignment runs already (its replica sets are in flux)."""
    if ongoing:
        first = ongoing[0]
        raise DrError(
            f"{len(ongoing)} partition reassignment(s) in progress on '{view.name}' (first "
            f"{first.topic}-{first.partition}): wait for them ('kafka-dr reassign status "
            f"--cluster {view.name}') or cancel them ('kafka-dr reassign cancel')"
        )


def propose(settings: Settings, cluster: str, broker: int, kind: str) -> ReassignmentPlan:
    """The plan a ``broker add`` (kind "add") or ``broker remove`` would carry out now; raises
    DrError when a reassignment runs already or the broker is not online (add) or not known
    (remove), UsageError when the remaining brokers cannot hold a partition (remove)."""
    view = ClusterView(settings, cluster)
    online = view.online()
    refuse_ongoing(view, view.ongoing())
    ids = [b.id for b in online]
    placement = {tp: p.replicas for tp, p in view.replicas().items()}
    sizes = kreassign.partition_sizes(view.cluster, view.jars, ids)
    racks = view.racks(online)
    if kind == "add":
        return plan_add(
            placement, sizes, brokers=ids, new_broker=broker, racks=racks, size_source=SIZE_SOURCE
        )
    hosts = any(broker in r for r in placement.values())
    if broker not in ids and not hosts:
        raise DrError(
            f"broker {broker} is neither online in '{cluster}' nor holds any replica: "
            f"nothing to remove (online: {', '.join(str(i) for i in ids)})"
        )
    return plan_remove(
        placement, sizes, brokers=ids, leaving=broker, racks=racks, size_source=SIZE_SOURCE
    )


@dataclass(frozen=True)
class MovingPartition:
    """A reassignment in progress, with how far its new replicas have come."""

    topic: str
    partition: int
    replicas: tuple[int, ...]
    adding: tuple[int, ...]
    removing: tuple[int, ...]
    isr: tuple[int, ...]

    @property
    def caught_up(self) -> tuple[int, ...]:
        """The new replicas already in sync."""
        return tuple(b for b in self.adding if b in self.isr)


@dataclass(frozen=True)
class ReassignmentStatus:
    """What ``kafka-dr reassign status`` reports for one cluster."""

    cluster: str
    moving: tuple[MovingPartition, ...]
    throttles: tuple[str, ...]


def reassignment_status(settings: Settings, cluster: str) -> ReassignmentStatus:
    """The reassignments in progress and the replication throttles left; raises KafkaError
    when the cluster or the tool does not answer."""
    view = ClusterView(settings, cluster)
    ongoing = view.ongoing()
    replicas = view.replicas() if ongoing else {}
    moving = tuple(
        MovingPartition(
            o.topic,
            o.partition,
            o.replicas,
            o.adding,
            o.removing,
            replicas[o.tp].isr if o.tp in replicas else (),
        )
        for o in ongoing
    )
    online = [b.id for b in view.online()]
    throttles = view.throttles(online, sorted({o.topic for o in ongoing}))
    return ReassignmentStatus(cluster, moving, tuple(throttles))


def cancel_playbook(settings: Settings, cluster: str) -> Playbook:
    """``reassign cancel``: every reassignment in progress cancelled (each partition back to
    its replica set before), then no replication throttle left."""
    view = ClusterView(settings, cluster)

    def nothing_moving(_ctx: StepContext) -> bool:
        return not view.ongoing()

    def cancel(_ctx: StepContext) -> Outputs:
        ongoing = view.ongoing()
        kreassign.cancel_reassignments(view.cluster, view.jars, [o.tp for o in ongoing])
        log.info("reassignments_cancelled", cluster=cluster, partitions=len(ongoing))
        return {
            "cancelled": [f"{o.topic}-{o.partition}" for o in ongoing],
            "topics": sorted({o.topic for o in ongoing}),
        }

    def no_throttle(ctx: StepContext) -> bool:
        topics = list(ctx.outputs.get("cancel", {}).get("topics", []))
        return not view.throttles([b.id for b in view.online()], topics)

    def clear_throttle(ctx: StepContext) -> Outputs:
        topics = list(ctx.output("cancel").get("topics", []))
        left = view.clear_throttles(topics)
        if left:
            raise DrError(
                f"replication throttles are still set after the cancel ({left[0]}): remove "
                "them with kafka-configs --delete-config, or run the cancel again"
            )
        return {"throttles": []}

    return Playbook(
        name=CANCEL,
        source=cluster,
        target=cluster,
        params={"cluster": cluster},
        steps=(
            Step(
                "cancel",
                f"cancel every partition reassignment in progress on {cluster}",
                cancel,
                check=nothing_moving,
                destructive=True,
                touches=f"partition replica sets of {cluster} (back to before the reassignment)",
            ),
            Step(
                "clear_throttle",
                "clear the replication throttles, check that none is left",
                clear_throttle,
                check=no_throttle,
                touches="nothing (reads broker and topic configs)",
            ),
        ),
    )
