"""Cluster health: the daily checklist of a production Kafka runbook, as one result.

Per cluster: reachable, cluster id, brokers online against the inventory, the KRaft quorum,
and the under-replicated, under-min-ISR and offline partitions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from confluent_kafka import KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    ConfigResource,
    ResourceType,
)

from dr.config.schema import ClusterSettings, ToolSettings
from dr.errors import ClusterUnreachableError, DrError, KafkaError
from dr.kafka import admin as kadmin
from dr.kafka.client import ClusterAdmin, admin_client
from dr.kafka.jars import KafkaJars, kafka_jars
from dr.kafka.quorum import QuorumStatus, describe_quorum
from dr.log import get_logger

log = get_logger(__name__)

# A voter that has not caught up with the leader for this long is reported as lagging.
VOTER_CAUGHT_UP_TOLERANCE_S = 30.0


@dataclass(frozen=True)
class PartitionState:
    """A partition that needs attention."""

    topic: str
    partition: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    min_isr: int


@dataclass(frozen=True)
class ClusterHealth:
    """What ``kafka-dr status`` reports for one cluster."""

    name: str
    reachable: bool
    cluster_id: str | None = None
    brokers_expected: tuple[int, ...] = ()
    brokers_online: tuple[int, ...] = ()
    under_replicated: tuple[PartitionState, ...] = ()
    under_min_isr: tuple[PartitionState, ...] = ()
    offline: tuple[PartitionState, ...] = ()
    quorum: QuorumStatus | None = None
    problems: tuple[str, ...] = field(default=())
    error: str | None = None

    @property
    def missing_brokers(self) -> tuple[int, ...]:
        return tuple(b for b in self.brokers_expected if b not in self.brokers_online)

    @property
    def healthy(self) -> bool:
        return self.reachable and not self.problems


@dataclass(frozen=True)
class HealthReport:
    """Health of every cluster checked."""

    clusters: tuple[ClusterHealth, ...]

    @property
    def healthy(self) -> bool:
        return all(c.healthy for c in self.clusters)

    @property
    def any_unreachable(self) -> bool:
        return any(not c.reachable for c in self.clusters)


JarsProvider = Callable[[], KafkaJars]


def check_health(
    clusters: Mapping[str, ClusterSettings],
    *,
    tools: ToolSettings,
    timeout_s: float | None = None,
) -> HealthReport:
    """Check every named cluster in parallel and return their health (never raises for a
    cluster that is down: it is reported unreachable). Each request waits timeout_s, by
    default the cluster's own timeout_s."""

    def jars() -> KafkaJars:
        return kafka_jars(tools.kafka_version, kafka_home=tools.kafka_home)

    pool = ThreadPoolExecutor(max_workers=max(1, len(clusters)))
    try:
        futures = [
            pool.submit(check_cluster, name, settings, jars=jars, timeout_s=timeout_s)
            for name, settings in clusters.items()
        ]
        return HealthReport(clusters=tuple(f.result() for f in futures))
    finally:
        # Interrupted (Ctrl-C), this returns at once: a check blocked in a request is not
        # waited for. Otherwise every check is done already.
        pool.shutdown(wait=False, cancel_futures=True)


def check_cluster(
    name: str, cluster: ClusterSettings, *, jars: JarsProvider, timeout_s: float | None = None
) -> ClusterHealth:
    """The health of one cluster; requests wait timeout_s (default: the cluster's)."""
    expected = tuple(sorted(b.id for b in cluster.brokers))
    admin = admin_client(cluster, timeout_s=timeout_s)
    timeout_s = admin.timeout_s
    try:
        cluster_id, online = _describe(admin, timeout_s)
    except ClusterUnreachableError as exc:
        # A result, not a failure of this function: whoever reports the health says it.
        log.info("cluster_unreachable", cluster=name, reason=str(exc))
        return ClusterHealth(name=name, reachable=False, brokers_expected=expected, error=str(exc))
    problems: list[str] = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        quorum_future = pool.submit(_quorum, cluster, jars)
        try:
            partitions, unreadable = _partition_states(admin, timeout_s)
        except KafkaError as exc:
            partitions, unreadable = [], []
            problems.append(str(exc))
        quorum, quorum_problem = quorum_future.result()
    if unreadable:
        problems.append(
            f"min.insync.replicas unreadable for {len(unreadable)} topics "
            f"(e.g. '{unreadable[0]}'): under-min-ISR may be undercounted"
        )
    urp = tuple(p for p in partitions if p.leader >= 0 and len(p.isr) < len(p.replicas))
    under_min = tuple(p for p in partitions if p.leader >= 0 and len(p.isr) < p.min_isr)
    offline = tuple(p for p in partitions if p.leader < 0)
    missing = [b for b in expected if b not in online]
    if missing:
        problems.append(f"brokers not online: {', '.join(map(str, missing))}")
    if offline:
        problems.append(f"{len(offline)} offline partitions")
    if under_min:
        problems.append(f"{len(under_min)} under-min-ISR partitions")
    if urp:
        problems.append(f"{len(urp)} under-replicated partitions")
    if quorum_problem:
        problems.append(quorum_problem)
    health = ClusterHealth(
        name=name,
        reachable=True,
        cluster_id=cluster_id,
        brokers_expected=expected,
        brokers_online=online,
        under_replicated=urp,
        under_min_isr=under_min,
        offline=offline,
        quorum=quorum,
        problems=tuple(problems),
    )
    log.info("cluster_checked", cluster=name, healthy=health.healthy, problems=list(problems))
    return health


def _describe(admin: ClusterAdmin, timeout_s: float) -> tuple[str, tuple[int, ...]]:
    try:
        desc = admin.describe_cluster(request_timeout=timeout_s).result(timeout=timeout_s + 5)
    except ClusterUnreachableError:
        raise
    except (KafkaException, TimeoutError) as exc:
        # DescribeCluster waits for the controller the metadata names; for some seconds after
        # the active controller dies that is the dead node. Any live broker answers a metadata
        # request: a cluster electing a new controller is degraded, not unreachable.
        try:
            metadata = admin.list_topics(timeout=timeout_s)
        except KafkaException:
            metadata = None
        if metadata is None or not metadata.cluster_id:
            raise ClusterUnreachableError(
                f"{admin.label} did not answer within {timeout_s:g}s: {kadmin.reason(exc)}"
            ) from None
        return str(metadata.cluster_id), tuple(sorted(metadata.brokers))
    return str(desc.cluster_id), tuple(sorted(n.id for n in desc.nodes))


def _partition_states(
    admin: ClusterAdmin, timeout_s: float
) -> tuple[list[PartitionState], list[str]]:
    """Every partition's state, and the topics whose min.insync.replicas could not be read."""
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise kadmin.failed(admin, "cannot list topics", exc) from None
    min_isr = _min_isr(admin, list(metadata.topics), timeout_s)
    unreadable = sorted(t for t in metadata.topics if t not in min_isr)
    out: list[PartitionState] = []
    for topic, meta in metadata.topics.items():
        for pid, part in meta.partitions.items():
            out.append(
                PartitionState(
                    topic=topic,
                    partition=pid,
                    leader=part.leader,
                    replicas=tuple(part.replicas),
                    isr=tuple(part.isrs),
                    min_isr=min_isr.get(topic, 1),
                )
            )
    return out, unreadable


def _min_isr(admin: AdminClient, topics: list[str], timeout_s: float) -> dict[str, int]:
    if not topics:
        return {}
    resources = [ConfigResource(ResourceType.TOPIC, t) for t in topics]
    out: dict[str, int] = {}
    for resource, future in admin.describe_configs(resources, request_timeout=timeout_s).items():
        try:
            entries = future.result(timeout=timeout_s + 5)
        except (KafkaException, TimeoutError):
            continue  # reported by the caller as unreadable
        entry = entries.get("min.insync.replicas")
        if entry is not None and entry.value is not None:
            out[resource.name] = int(entry.value)
    return out


def _quorum(cluster: ClusterSettings, jars: JarsProvider) -> tuple[QuorumStatus | None, str | None]:
    try:
        quorum = describe_quorum(cluster, jars())
    except DrError as exc:
        return None, f"quorum unreadable: {exc}"
    if quorum.leader_id is None:
        return quorum, "quorum has no leader"
    lagging = [
        v.node_id
        for v in quorum.voters
        if v.role != "leader"
        and (v.last_caught_up_age_s is None or v.last_caught_up_age_s > VOTER_CAUGHT_UP_TOLERANCE_S)
    ]
    if lagging:
        return quorum, f"quorum voters lagging: {', '.join(map(str, lagging))}"
    return quorum, None
