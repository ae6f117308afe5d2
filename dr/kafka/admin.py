"""Admin queries the backup and restore need: topics, offsets, configs, ACLs, users (consumer
groups are in dr.kafka.groups).

Every function takes an AdminClient and a timeout, and raises KafkaError naming the cluster
object at fault; nothing here decides anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from confluent_kafka import (
    IsolationLevel,
    KafkaException,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    OffsetSpec,
    ResourcePatternType,
    ResourceType,
)

from dr.errors import ClusterUnreachableError, DrError, KafkaError
from dr.kafka.authz import not_authorized, refused_kind
from dr.log import get_logger
from dr.retry import call_with_retries

log = get_logger(__name__)

TP = tuple[str, int]
T = TypeVar("T")
RETRY_DEADLINE_S = 60.0
# Errors a cluster answers with while it moves leaders or loads coordinators: worth a retry.
_TRANSIENT = {
    "NOT_LEADER_FOR_PARTITION",
    "LEADER_NOT_AVAILABLE",
    "UNKNOWN_TOPIC_OR_PART",
    "COORDINATOR_LOAD_IN_PROGRESS",
    "COORDINATOR_NOT_AVAILABLE",
    "NOT_COORDINATOR",
    "REQUEST_TIMED_OUT",
    "_TIMED_OUT",
    "_TRANSPORT",
    "NOT_CONTROLLER",
    "REBALANCE_IN_PROGRESS",
    "UNKNOWN_LEADER_EPOCH",  # a leader just elected (a topic just created or a broker lost)
    "FENCED_LEADER_EPOCH",
}


def with_retry(call: Callable[[], T], *, what: str, deadline_s: float = RETRY_DEADLINE_S) -> T:
    """Run call, retrying transient Kafka errors with backoff until deadline_s; each retry is
    logged. Raises the last KafkaException when the deadline passes or the error is final."""
    return call_with_retries(
        call,
        deadline_s=deadline_s,
        transient=is_transient,
        event="kafka_retry",
        fields={"what": what},
        describe=reason,
    )


def is_transient(exc: BaseException) -> bool:
    """True for an error a cluster answers with while it moves leaders or loads coordinators."""
    if not isinstance(exc, KafkaException):
        return False
    err: Any = exc.args[0] if exc.args else None
    name = err.name() if err is not None and hasattr(err, "name") else ""
    return name in _TRANSIENT or bool(hasattr(err, "retriable") and err.retriable())


@dataclass(frozen=True)
class TopicInfo:
    """A topic's shape and the configs set on it (not broker defaults)."""

    name: str
    partitions: int
    replication_factor: int
    configs: dict[str, str]


def reason(exc: BaseException) -> str:
    """The Kafka error's own words, one line."""
    if isinstance(exc, KafkaException) and exc.args:
        err = exc.args[0]
        return str(err.str()) if hasattr(err, "str") else str(err)
    return str(exc) or type(exc).__name__


def where(admin: AdminClient) -> str:
    """'cluster 'NAME' (BOOTSTRAP): ' for a client made by admin_client, '' for another."""
    label = getattr(admin, "label", None)
    return f"{label}: " if label else ""


def failed(
    admin: AdminClient,
    what: str,
    exc: BaseException,
    *,
    operation: str | None = None,
    resource: str | None = None,
) -> DrError:
    """The error to raise when a request failed: a cluster that cannot be reached at all says
    so itself (ClusterUnreachable); a refusal for authorization becomes NotAuthorizedError
    naming ``operation`` on ``resource`` (what the request needed, when the caller knows);
    any other failure becomes a KafkaError naming the cluster, what failed and the reason."""
    if isinstance(exc, ClusterUnreachableError):
        return exc
    denied = not_authorized(
        exc,
        cluster=getattr(admin, "cluster_name", None) or "?",
        principal=getattr(admin, "principal", None) or "its client's principal",
        operation=operation,
        resource=resource,
    )
    if denied is not None:
        return denied
    return KafkaError(f"{where(admin)}{what}: {reason(exc)}")


def cluster_id(admin: AdminClient, timeout_s: float) -> str:
    """The cluster's id, from a metadata request any live broker answers: DescribeCluster goes
    to the broker the metadata names as controller, which for a few seconds after a broker dies
    may be the dead one."""
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise failed(admin, f"did not answer within {timeout_s:g}s", exc) from None
    if not metadata.cluster_id:
        raise KafkaError(
            f"{where(admin)}the cluster did not say its cluster id (a broker older than Kafka "
            "0.10?)"
        )
    return str(metadata.cluster_id)


def broker_count(admin: AdminClient, timeout_s: float) -> int:
    """The live brokers, from metadata (any broker answers; see cluster_id)."""
    try:
        return len(admin.list_topics(timeout=timeout_s).brokers)
    except KafkaException as exc:
        raise failed(admin, f"did not answer within {timeout_s:g}s", exc) from None


def list_topic_partitions(admin: AdminClient, timeout_s: float) -> dict[str, TopicInfo]:
    """Every topic with its partition count and replication factor (configs left empty)."""
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise failed(admin, "cannot list topics", exc) from None
    out: dict[str, TopicInfo] = {}
    for name, meta in metadata.topics.items():
        if meta.error is not None:
            continue
        rf = max((len(p.replicas) for p in meta.partitions.values()), default=0)
        out[name] = TopicInfo(name, len(meta.partitions), rf, {})
    return out


def topic_configs(
    admin: AdminClient, topics: Iterable[str], timeout_s: float
) -> dict[str, dict[str, str]]:
    """The configs set on each topic (source DYNAMIC_TOPIC_CONFIG), sensitive ones left out."""
    resources = [ConfigResource(ResourceType.TOPIC, t) for t in topics]
    if not resources:
        return {}
    out: dict[str, dict[str, str]] = {}
    for resource, future in admin.describe_configs(resources, request_timeout=timeout_s).items():
        try:
            entries = future.result(timeout=timeout_s + 5)
        except (KafkaException, TimeoutError) as exc:
            topic = f"topic '{resource.name}'"
            what = f"cannot read configs of {topic}"
            raise failed(admin, what, exc, operation="DESCRIBE_CONFIGS", resource=topic) from None
        out[resource.name] = {
            name: entry.value
            for name, entry in entries.items()
            if entry.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
            and not entry.is_sensitive
            and entry.value is not None
        }
    return out


def offsets(
    admin: AdminClient,
    tps: Iterable[TP],
    spec: str,
    timeout_s: float,
    *,
    committed: bool = True,
    deadline_s: float = RETRY_DEADLINE_S,
) -> dict[TP, int]:
    """Earliest or latest offsets; latest under read_committed is the last stable offset.
    Transient errors are retried until deadline_s."""
    offset_spec = (
        OffsetSpec.earliest()  # type: ignore[no-untyped-call]
        if spec == "earliest"
        else OffsetSpec.latest()  # type: ignore[no-untyped-call]
    )
    request = {TopicPartition(t, p): offset_spec for t, p in tps}
    if not request:
        return {}
    level = IsolationLevel.READ_COMMITTED if committed else IsolationLevel.READ_UNCOMMITTED

    def query() -> dict[TP, int]:
        futures = admin.list_offsets(request, isolation_level=level, request_timeout=timeout_s)
        out: dict[TP, int] = {}
        for tp, f in futures.items():
            try:
                out[(tp.topic, tp.partition)] = int(f.result(timeout=timeout_s + 5).offset)
            except KafkaException as exc:  # a refusal is final: no retry, the topic named
                if refused_kind(exc) is None:
                    raise
                topic = f"topic '{tp.topic}'"
                raise failed(admin, "", exc, operation="DESCRIBE", resource=topic) from None
        return out

    try:
        return with_retry(query, what=f"{spec} offsets", deadline_s=deadline_s)
    except (KafkaException, TimeoutError) as exc:
        first = next(iter(request))
        what = f"cannot read {spec} offsets (first: {first.topic}-{first.partition})"
        raise failed(admin, what, exc) from None


def acls(admin: AdminClient, timeout_s: float) -> list[dict[str, Any]] | str:
    """Every ACL binding, or the reason they cannot be read (e.g. no authorizer)."""
    if has_authorizer(admin, timeout_s) is False:
        return "unavailable: the cluster has no authorizer (authorizer.class.name is not set)"
    try:
        return describe_all_acls(admin, timeout_s)
    except (KafkaException, TimeoutError) as exc:
        return f"unavailable: {reason(exc)}"


def describe_all_acls(admin: AdminClient, timeout_s: float) -> list[dict[str, Any]]:
    """Every ACL binding of the cluster as a row (resource_type, name, pattern_type, principal,
    host, operation, permission); raises KafkaException or TimeoutError."""
    anything: Any = None  # the filter's "match any" for name, principal and host
    flt = AclBindingFilter(
        ResourceType.ANY,
        anything,
        ResourcePatternType.ANY,
        anything,
        anything,
        AclOperation.ANY,
        AclPermissionType.ANY,
    )
    bindings = admin.describe_acls(flt, request_timeout=timeout_s).result(timeout=timeout_s + 5)
    return [
        {
            "resource_type": b.restype.name,
            "name": b.name,
            "pattern_type": b.resource_pattern_type.name,
            "principal": b.principal,
            "host": b.host,
            "operation": b.operation.name,
            "permission": b.permission_type.name,
        }
        for b in bindings
    ]


def scram_users(admin: AdminClient, timeout_s: float) -> list[dict[str, Any]] | str:
    """SCRAM user names and mechanisms (never credentials), or why they cannot be read.

    Asked only when the principal may DESCRIBE the cluster: librdkafka's answer to a refused
    DescribeUserScramCredentials brings the whole process down."""
    try:
        found = admin.describe_cluster(
            include_authorized_operations=True, request_timeout=timeout_s
        ).result(timeout=timeout_s + 5)
    except (KafkaException, TimeoutError) as exc:
        return f"unavailable: {reason(exc)}"
    allowed = {op.name for op in found.authorized_operations or ()}
    if not allowed & {"DESCRIBE", "ALL"}:
        return "unavailable: not authorized to DESCRIBE the cluster"
    try:
        future = admin.describe_user_scram_credentials(request_timeout=timeout_s)
        result = future.result(timeout=timeout_s + 5)  # type: ignore[union-attr]
    except (KafkaException, TimeoutError) as exc:
        return f"unavailable: {reason(exc)}"
    return [
        {"user": user, "mechanisms": sorted(i.mechanism.name for i in desc.scram_credential_infos)}
        for user, desc in sorted(result.items())
    ]


def create_topic(admin: AdminClient, topic: TopicInfo, timeout_s: float) -> None:
    new = NewTopic(
        topic.name,
        num_partitions=topic.partitions,
        replication_factor=topic.replication_factor,
        config=topic.configs,
    )
    try:
        admin.create_topics([new], operation_timeout=timeout_s)[topic.name].result(
            timeout=timeout_s + 5
        )
    except (KafkaException, TimeoutError) as exc:
        what, named = f"cannot create topic '{topic.name}'", f"topic '{topic.name}'"
        raise failed(admin, what, exc, operation="CREATE", resource=named) from None


def add_partitions(admin: AdminClient, topic: str, total: int, timeout_s: float) -> None:
    try:
        admin.create_partitions([NewPartitions(topic, total)])[topic].result(timeout=timeout_s + 5)
    except (KafkaException, TimeoutError) as exc:
        what = f"cannot grow topic '{topic}' to {total} partitions"
        raise failed(admin, what, exc, operation="ALTER", resource=f"topic '{topic}'") from None


@dataclass(frozen=True)
class TopicState:
    """A topic's Kafka id and, per partition, its leader's node id (None: no leader now)."""

    name: str
    topic_id: str
    leaders: dict[int, int | None]


def topic_states(
    admin: AdminClient, names: Iterable[str], timeout_s: float
) -> dict[str, TopicState]:
    """Id and partition leaders of each named topic that exists (DescribeTopics).

    Topic ids are given as Kafka's own tools print them (URL-safe base64, as in
    `kafka-topics --describe`). A topic that vanished meanwhile is left out.
    """
    wanted = sorted(set(names))
    if not wanted:
        return {}

    def query() -> dict[str, TopicState]:
        futures = admin.describe_topics(TopicCollection(wanted), request_timeout=timeout_s)
        out: dict[str, TopicState] = {}
        for name, future in futures.items():
            try:
                desc = future.result(timeout=timeout_s + 5)
            except KafkaException as exc:
                if error_name(exc) == "UNKNOWN_TOPIC_OR_PART":
                    continue
                if refused_kind(exc) is not None:  # final: no retry, the topic named
                    topic = f"topic '{name}'"
                    raise failed(admin, "", exc, operation="DESCRIBE", resource=topic) from None
                raise
            leaders = {
                p.id: (p.leader.id if p.leader is not None and p.leader.id >= 0 else None)
                for p in desc.partitions
            }
            out[name] = TopicState(name, kafka_uuid(str(desc.topic_id)), leaders)
        return out

    try:
        return with_retry(
            query, what="topic descriptions", deadline_s=min(RETRY_DEADLINE_S, timeout_s)
        )
    except (KafkaException, TimeoutError) as exc:
        raise failed(admin, f"cannot describe topics (first: {wanted[0]})", exc) from None


def kafka_uuid(text: str) -> str:
    """A Kafka Uuid as Kafka prints it: URL-safe base64 without padding."""
    return text.replace("+", "-").replace("/", "_").rstrip("=")


def error_name(exc: KafkaException) -> str:
    """The Kafka error's name ('GROUP_ID_NOT_FOUND'), '' when it has none."""
    err: Any = exc.args[0] if exc.args else None
    return str(err.name()) if err is not None and hasattr(err, "name") else ""


def has_authorizer(admin: AdminClient, timeout_s: float) -> bool | None:
    """Whether the brokers run an authorizer (authorizer.class.name is set on a broker), or
    None when that cannot be read."""
    try:
        brokers = sorted(admin.list_topics(timeout=timeout_s).brokers)
        if not brokers:
            return None
        resource = ConfigResource(ResourceType.BROKER, str(brokers[0]))
        configs = admin.describe_configs([resource], request_timeout=timeout_s)[resource].result(
            timeout=timeout_s + 5
        )
    except (KafkaException, TimeoutError, IndexError):
        return None
    entry = configs.get("authorizer.class.name")
    return bool(entry is not None and entry.value)
