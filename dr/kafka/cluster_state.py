"""A cluster's replication state as the broker procedures need it: which brokers are
registered, each partition's leader, replicas, ISR and min.insync.replicas, the metadata
quorum, and a preferred leader election.

``LiveCluster`` reads a real cluster (confluent-kafka, and Kafka's MetadataQuorumCommand for
the quorum: describe_cluster's controller is an arbitrary broker under KRaft); the procedures
take anything shaped like it, so their decisions are tested over a described cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from confluent_kafka import ElectionType, KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    ConfigResource,
    ResourceType,
)

from dr.config.schema import ClusterSettings, ToolSettings
from dr.errors import KafkaError
from dr.kafka.admin import failed, reason, with_retry
from dr.kafka.client import admin_client
from dr.kafka.jars import kafka_jars
from dr.kafka.quorum import QuorumStatus, describe_quorum

# min.insync.replicas when a topic's config cannot be read: the strictest a 3-replica topic has
# in practice would be 2; assuming 1 would let a restart drop a partition below its real minimum.
UNKNOWN_MIN_ISR = 2**31 - 1


@dataclass(frozen=True)
class PartitionReplicas:
    """One partition: its leader (-1: none), replicas in preference order, ISR, min ISR."""

    topic: str
    partition: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    min_isr: int = 1

    @property
    def name(self) -> str:
        return f"{self.topic}-{self.partition}"

    @property
    def offline(self) -> bool:
        return self.leader < 0

    @property
    def under_replicated(self) -> bool:
        return not self.offline and len(self.isr) < len(self.replicas)

    @property
    def preferred_leader(self) -> int | None:
        return self.replicas[0] if self.replicas else None


@dataclass(frozen=True)
class ClusterView:
    """The cluster at one moment."""

    cluster_id: str
    brokers: tuple[int, ...]  # registered (unfenced) brokers
    partitions: tuple[PartitionReplicas, ...]

    @property
    def offline(self) -> tuple[PartitionReplicas, ...]:
        return tuple(p for p in self.partitions if p.offline)

    @property
    def under_replicated(self) -> tuple[PartitionReplicas, ...]:
        return tuple(p for p in self.partitions if p.under_replicated)

    def not_preferred(self) -> tuple[PartitionReplicas, ...]:
        """Partitions led by another broker than their preferred (first) replica."""
        return tuple(p for p in self.partitions if not p.offline and p.leader != p.preferred_leader)


@dataclass(frozen=True)
class Election:
    """A preferred leader election: partitions moved back, and those that failed (why)."""

    elected: int
    failed: dict[str, str]


class LiveCluster:
    """One configured cluster, read and acted on through its brokers."""

    def __init__(
        self, cluster: ClusterSettings, tools: ToolSettings, *, timeout_s: float | None = None
    ):
        """Requests wait timeout_s, by default the cluster's own timeout_s."""
        self.settings, self.tools = cluster, tools
        self.timeout_s = cluster.timeout_s if timeout_s is None else timeout_s
        self._admin: AdminClient | None = None

    @property
    def admin(self) -> AdminClient:
        if self._admin is None:
            self._admin = admin_client(self.settings, timeout_s=self.timeout_s)
        return self._admin

    def view(self, *, with_min_isr: bool = False) -> ClusterView:
        """Registered brokers and every partition, from metadata (transient errors retried);
        raises KafkaError when the cluster does not answer. ``with_min_isr`` also reads each
        topic's min.insync.replicas."""
        t = self.timeout_s
        # One metadata request, which any live broker answers: DescribeCluster goes to the
        # broker named as controller, which just after a broker dies may be the dead one.
        try:
            metadata = with_retry(
                lambda: self.admin.list_topics(timeout=t), what="metadata", deadline_s=2 * t
            )
        except KafkaException as exc:
            raise failed(self.admin, "did not answer", exc) from None
        min_isr = _min_isr(self.admin, list(metadata.topics), t) if with_min_isr else {}
        partitions = tuple(
            PartitionReplicas(
                topic=topic,
                partition=pid,
                leader=int(part.leader),
                replicas=tuple(part.replicas),
                isr=tuple(part.isrs),
                min_isr=min_isr.get(topic, UNKNOWN_MIN_ISR) if with_min_isr else 1,
            )
            for topic, meta in sorted(metadata.topics.items())
            for pid, part in sorted(meta.partitions.items())
        )
        return ClusterView(
            cluster_id=str(metadata.cluster_id),
            brokers=tuple(sorted(metadata.brokers)),
            partitions=partitions,
        )

    def quorum(self) -> QuorumStatus:
        """The metadata quorum (leader, voters, observers); raises KafkaError."""
        jars = kafka_jars(self.tools.kafka_version, kafka_home=self.tools.kafka_home)
        return describe_quorum(self.settings, jars)

    def elect_preferred_leaders(self) -> Election:
        """Run a preferred leader election over every partition; raises KafkaError when the
        request fails as a whole (a partition that cannot move is reported, not raised)."""
        t = self.timeout_s
        try:
            # No timeout keywords: confluent-kafka 2.16's elect_leaders fails with any of them
            # (SystemError/TypeError in its C layer); its default is socket.timeout.ms (60 s).
            future = self.admin.elect_leaders(ElectionType.PREFERRED, None)
            results = future.result(timeout=max(t, 60.0) + 5)
        except (KafkaException, TimeoutError) as exc:
            raise KafkaError(f"preferred leader election failed: {reason(exc)}") from None
        elected, failed = 0, {}
        for tp, error in results.items():
            if error is None:
                elected += 1
                continue
            err: Any = error.args[0] if isinstance(error, KafkaException) and error.args else None
            if err is not None and hasattr(err, "name") and err.name() == "ELECTION_NOT_NEEDED":
                continue  # led by its preferred replica already
            failed[f"{tp.topic}-{tp.partition}"] = reason(error)
        return Election(elected=elected, failed=failed)


def _min_isr(admin: AdminClient, topics: list[str], timeout_s: float) -> dict[str, int]:
    """min.insync.replicas of each topic whose config could be read."""
    if not topics:
        return {}
    resources = [ConfigResource(ResourceType.TOPIC, t) for t in topics]
    out: dict[str, int] = {}
    for resource, future in admin.describe_configs(resources, request_timeout=timeout_s).items():
        try:
            entry = future.result(timeout=timeout_s + 5).get("min.insync.replicas")
        except (KafkaException, TimeoutError):
            continue  # left at UNKNOWN_MIN_ISR: the preflight then refuses and names it
        if entry is not None and entry.value is not None:
            out[resource.name] = int(entry.value)
    return out
