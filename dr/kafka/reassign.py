"""Partition reassignment and broker registration, through Kafka's own tools from the jars.

confluent-kafka has no ListPartitionReassignments, AlterPartitionReassignments, DescribeLogDirs
or UnregisterBroker, so kafka-dr runs the classes behind ``kafka-reassign-partitions.sh``
(``ReassignPartitionsCommand``: --execute, --verify, --cancel, --list), ``kafka-log-dirs.sh``
(``LogDirsCommand --describe``) and ``kafka-cluster.sh`` (``ClusterTool unregister`` and, on
4.x, ``list-endpoints --include-fenced-brokers``), the same class names in 3.9 and 4.x. Their
output is parsed here and nowhere else; replica sets and ISRs come from the Python admin client.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException, TopicCollection
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    ConfigResource,
    ResourceType,
)

from dr.config.schema import ClusterSettings
from dr.errors import KafkaError
from dr.kafka.admin import reason, with_retry
from dr.kafka.client import java_properties_file
from dr.kafka.jars import KafkaJars
from dr.kafka.java import run_tool

REASSIGN_TOOL = "org.apache.kafka.tools.reassign.ReassignPartitionsCommand"
LOG_DIRS_TOOL = "org.apache.kafka.tools.LogDirsCommand"
CLUSTER_TOOL = "org.apache.kafka.tools.ClusterTool"
TOOL_TIMEOUT_S = 90.0
BROKER_THROTTLES = ("leader.replication.throttled.rate", "follower.replication.throttled.rate")
TOPIC_THROTTLES = (
    "leader.replication.throttled.replicas",
    "follower.replication.throttled.replicas",
)

TP = tuple[str, int]
_LISTED = re.compile(
    r"^(?P<tp>\S+): replicas: (?P<replicas>[\d,]*)\.(?: adding: (?P<adding>[\d,]+)\.)?"
    r"(?: removing: (?P<removing>[\d,]+)\.)?$"
)


@dataclass(frozen=True)
class Ongoing:
    """A partition reassignment the controller is carrying out."""

    topic: str
    partition: int
    replicas: tuple[int, ...]
    adding: tuple[int, ...]
    removing: tuple[int, ...]

    @property
    def tp(self) -> TP:
        return (self.topic, self.partition)

    @property
    def target(self) -> tuple[int, ...]:
        """The replica set it ends with."""
        return tuple(b for b in self.replicas if b not in self.removing)


@dataclass(frozen=True)
class PartitionReplicas:
    """A partition's replica set (in order: the first is the preferred leader) and its ISR."""

    topic: str
    partition: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    leader: int | None


@dataclass(frozen=True)
class Broker:
    """An online broker and its rack (``broker.rack``, None when unset)."""

    id: int
    rack: str | None


def _tool_args(cluster: ClusterSettings, props: Path | None) -> list[str]:
    args = ["--bootstrap-server", cluster.bootstrap_servers]
    return [*args, "--command-config", str(props)] if props is not None else args


@contextmanager
def _plan_file(moves: Mapping[TP, tuple[int, ...]]) -> Iterator[Path]:
    doc = {
        "version": 1,
        "partitions": [
            {"topic": t, "partition": p, "replicas": list(r)} for (t, p), r in sorted(moves.items())
        ],
    }
    fd, name = tempfile.mkstemp(prefix="kafka-dr-reassign-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(doc, handle)
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def _reassign(cluster: ClusterSettings, jars: KafkaJars, args: list[str]) -> str:
    with java_properties_file(cluster) as props:
        return run_tool(
            jars, REASSIGN_TOOL, [*_tool_args(cluster, props), *args], timeout_s=TOOL_TIMEOUT_S
        )


def ongoing_reassignments(cluster: ClusterSettings, jars: KafkaJars) -> tuple[Ongoing, ...]:
    """The reassignments in progress (``--list``); raises KafkaError when the tool fails."""
    return parse_ongoing(_reassign(cluster, jars, ["--list"]))


def parse_ongoing(output: str) -> tuple[Ongoing, ...]:
    """Parse ``--list`` output; raises KafkaError on a line it does not understand."""
    found = []
    for line in (ln.strip() for ln in output.splitlines()):
        if not line or line.startswith(("Current partition reassignments", "No partition")):
            continue
        match = _LISTED.match(line)
        if match is None:
            raise KafkaError(f"kafka-reassign-partitions --list printed an unexpected line: {line}")
        topic, _, partition = match["tp"].rpartition("-")
        found.append(
            Ongoing(
                topic=topic,
                partition=int(partition),
                replicas=_ids(match["replicas"]),
                adding=_ids(match["adding"]),
                removing=_ids(match["removing"]),
            )
        )
    return tuple(found)


def _ids(text: str | None) -> tuple[int, ...]:
    return tuple(int(x) for x in (text or "").split(",") if x)


def submit_reassignment(
    cluster: ClusterSettings,
    jars: KafkaJars,
    moves: Mapping[TP, tuple[int, ...]],
    *,
    throttle_bytes_s: int | None,
    additional: bool = False,
) -> None:
    """Submit these target replica sets (``--execute``), throttled when a rate is given: the
    brokers' replication rate and the topics' throttled replicas are set first. ``additional``
    adds them beside reassignments already running (the tool refuses otherwise). Raises
    KafkaError when the tool refuses (another reassignment running, a broker unknown)."""
    if not moves:
        return
    with _plan_file(moves) as path:
        args = ["--execute", "--reassignment-json-file", str(path)]
        if additional:
            args.append("--additional")
        if throttle_bytes_s is not None:
            args += ["--throttle", str(throttle_bytes_s)]
        _reassign(cluster, jars, args)


def finish_reassignment(
    cluster: ClusterSettings, jars: KafkaJars, moves: Mapping[TP, tuple[int, ...]]
) -> tuple[TP, ...]:
    """``--verify``: the partitions still moving; when none is, the tool clears every
    replication throttle it set. Raises KafkaError when the tool fails."""
    with _plan_file(moves) as path:
        output = _reassign(cluster, jars, ["--verify", "--reassignment-json-file", str(path)])
    moving = re.findall(r"Reassignment of partition (\S+) is still in progress", output)
    return tuple((tp.rpartition("-")[0], int(tp.rpartition("-")[2])) for tp in moving)


def cancel_reassignments(cluster: ClusterSettings, jars: KafkaJars, partitions: list[TP]) -> None:
    """Cancel these reassignments (``--cancel``): each partition goes back to its replica set
    before; the throttles are cleared. Raises KafkaError when the tool fails."""
    if not partitions:
        return
    with _plan_file({tp: (0,) for tp in partitions}) as path:  # replicas are not read
        _reassign(cluster, jars, ["--cancel", "--reassignment-json-file", str(path)])


def partition_sizes(cluster: ClusterSettings, jars: KafkaJars, brokers: list[int]) -> dict[TP, int]:
    """Bytes per partition on disk (``kafka-log-dirs --describe``): the largest replica's size,
    as a new replica copies about that much. Raises KafkaError when the tool fails."""
    with java_properties_file(cluster) as props:
        args = [*_tool_args(cluster, props), "--describe"]
        args += ["--broker-list", ",".join(str(b) for b in sorted(brokers))]
        output = run_tool(jars, LOG_DIRS_TOOL, args, timeout_s=TOOL_TIMEOUT_S)
    return parse_log_dirs(output)


def parse_log_dirs(output: str) -> dict[TP, int]:
    """Parse LogDirsCommand's JSON line; raises KafkaError when there is none."""
    line = next((ln for ln in output.splitlines() if ln.strip().startswith("{")), None)
    if line is None:
        raise KafkaError("kafka-log-dirs printed no JSON")
    sizes: dict[TP, int] = {}
    for broker in json.loads(line).get("brokers", []):
        for log_dir in broker.get("logDirs", []):
            for part in log_dir.get("partitions", []):
                if part.get("isFuture"):
                    continue
                topic, _, index = str(part["partition"]).rpartition("-")
                tp = (topic, int(index))
                sizes[tp] = max(sizes.get(tp, 0), int(part.get("size", 0)))
    return sizes


def unregister_broker(cluster: ClusterSettings, jars: KafkaJars, broker_id: int) -> bool:
    """Remove the broker's registration from the cluster metadata; False when it was not
    registered (already done). Raises KafkaError for any other failure."""
    with java_properties_file(cluster) as props:
        # the tool's options belong to its subcommand: `unregister --bootstrap-server ...`
        args = ["unregister", *_cluster_tool_args(cluster, props, jars), "--id", str(broker_id)]
        try:
            run_tool(jars, CLUSTER_TOOL, args, timeout_s=TOOL_TIMEOUT_S)
        except KafkaError as exc:
            text = exc.message.lower()
            if "not registered" in text or "brokeridnotregistered" in text:
                return False
            raise
    return True


def registered_brokers(cluster: ClusterSettings, jars: KafkaJars) -> set[int] | None:
    """Every registered broker, fenced ones included (``list-endpoints
    --include-fenced-brokers``); None on Kafka 3.x, whose tool cannot tell."""
    if jars.major < 4:
        return None
    with java_properties_file(cluster) as props:
        args = ["list-endpoints", *_cluster_tool_args(cluster, props, jars)]
        output = run_tool(
            jars, CLUSTER_TOOL, [*args, "--include-fenced-brokers"], timeout_s=TOOL_TIMEOUT_S
        )
    rows = [ln.split() for ln in output.splitlines() if ln.strip()]
    return {int(r[0]) for r in rows if r and r[0].isdigit()}


def _cluster_tool_args(cluster: ClusterSettings, props: Path | None, jars: KafkaJars) -> list[str]:
    args = ["--bootstrap-server", cluster.bootstrap_servers]
    if props is not None:
        args += ["--command-config" if jars.major >= 4 else "--config", str(props)]
    return args


def online_brokers(admin: AdminClient, timeout_s: float) -> tuple[Broker, ...]:
    """The brokers the cluster lists as online (DescribeCluster: fenced ones are not)."""
    try:
        desc = with_retry(
            lambda: admin.describe_cluster(request_timeout=timeout_s).result(timeout=timeout_s + 5),
            what="cluster description",
            deadline_s=timeout_s * 2,
        )
    except (KafkaException, TimeoutError) as exc:
        raise KafkaError(f"cannot describe the cluster: {reason(exc)}") from None
    return tuple(sorted((Broker(n.id, n.rack or None) for n in desc.nodes), key=lambda b: b.id))


def replica_sets(admin: AdminClient, timeout_s: float) -> dict[TP, PartitionReplicas]:
    """Every partition's replicas, ISR and leader (internal topics included)."""
    try:
        names = [
            t for t, meta in admin.list_topics(timeout=timeout_s).topics.items() if not meta.error
        ]
    except KafkaException as exc:
        raise KafkaError(f"cannot list topics: {reason(exc)}") from None
    if not names:
        return {}

    def query() -> dict[TP, PartitionReplicas]:
        futures = admin.describe_topics(TopicCollection(sorted(names)), request_timeout=timeout_s)
        out: dict[TP, PartitionReplicas] = {}
        for name, future in futures.items():
            for p in future.result(timeout=timeout_s + 5).partitions:
                leader = p.leader.id if p.leader is not None and p.leader.id >= 0 else None
                out[(name, p.id)] = PartitionReplicas(
                    name,
                    p.id,
                    tuple(n.id for n in p.replicas),
                    tuple(n.id for n in p.isr),
                    leader,
                )
        return out

    try:
        return with_retry(query, what="replica sets", deadline_s=timeout_s * 2)
    except (KafkaException, TimeoutError) as exc:
        raise KafkaError(f"cannot describe topics: {reason(exc)}") from None


def throttles_left(
    admin: AdminClient, brokers: list[int], topics: list[str], timeout_s: float
) -> list[str]:
    """The replication throttles still set, as ``broker 1: leader.replication.throttled.rate``
    and ``topic t: follower.replication.throttled.replicas`` (empty: none)."""
    # DescribeConfigs takes one BROKER resource per call; the topics go together.
    batches = [[ConfigResource(ResourceType.BROKER, str(b))] for b in sorted(brokers)]
    if topics:
        batches.append([ConfigResource(ResourceType.TOPIC, t) for t in sorted(set(topics))])
    left: list[str] = []
    try:
        for batch in batches:
            futures = admin.describe_configs(batch, request_timeout=timeout_s)
            for resource, future in futures.items():
                left += _throttles_of(resource, future.result(timeout=timeout_s + 5))
    except (KafkaException, TimeoutError) as exc:
        raise KafkaError(f"cannot read the replication throttles: {reason(exc)}") from None
    return sorted(left)


def _throttles_of(resource: ConfigResource, entries: Mapping[str, Any]) -> list[str]:
    broker = resource.restype == ResourceType.BROKER
    wanted, kind = (BROKER_THROTTLES, "broker") if broker else (TOPIC_THROTTLES, "topic")
    found = []
    for name in wanted:
        entry = entries.get(name)
        if entry is not None and entry.value and not entry.is_default:
            found.append(f"{kind} {resource.name}: {name}={entry.value}")
    return found
