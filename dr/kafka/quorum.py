"""The KRaft quorum, read with Kafka's own MetadataQuorumCommand from the same jars.

confluent-kafka has no DescribeMetadataQuorum, and its describe_cluster().controller is an
arbitrary broker under KRaft, so kafka-dr runs ``kafka-metadata-quorum describe --replication``
(the class behind kafka-metadata-quorum.sh) and parses its table by column name.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from dr.config.schema import ClusterSettings
from dr.errors import KafkaError
from dr.kafka.client import java_properties_file
from dr.kafka.jars import KafkaJars
from dr.kafka.java import run_tool

QUORUM_TOOL = "org.apache.kafka.tools.MetadataQuorumCommand"


@dataclass(frozen=True)
class QuorumMember:
    """A voter or observer of the metadata quorum, as the leader sees it."""

    node_id: int
    role: str  # leader, follower or observer
    log_end_offset: int
    lag: int
    last_caught_up_age_s: float | None


@dataclass(frozen=True)
class QuorumStatus:
    """The KRaft metadata quorum: its leader, voters and observers."""

    leader_id: int | None
    high_watermark: int | None
    voters: tuple[QuorumMember, ...]
    observers: tuple[QuorumMember, ...]

    @property
    def max_voter_lag(self) -> int:
        return max((v.lag for v in self.voters), default=0)


def describe_quorum(
    cluster: ClusterSettings, jars: KafkaJars, *, timeout_s: float = 45.0
) -> QuorumStatus:
    """Read the quorum through the cluster's brokers; raises KafkaError when the tool fails."""
    with java_properties_file(cluster) as props:
        args = ["--bootstrap-server", cluster.bootstrap_servers]
        if props is not None:
            args += ["--command-config", str(props)]
        output = run_tool(
            jars, QUORUM_TOOL, [*args, "describe", "--replication"], timeout_s=timeout_s
        )
    return parse_replication_table(output, now_ms=int(time.time() * 1000))


def parse_replication_table(output: str, *, now_ms: int) -> QuorumStatus:
    """Parse the output of ``describe --replication``; raises KafkaError when it is not a table."""
    rows = [ln.split() for ln in output.splitlines() if ln.strip()]
    header_at = next((i for i, r in enumerate(rows) if r and r[0] == "NodeId"), None)
    if header_at is None:
        raise KafkaError("kafka-metadata-quorum printed no replication table")
    header = rows[header_at]
    voters: list[QuorumMember] = []
    observers: list[QuorumMember] = []
    leader_id: int | None = None
    high_watermark: int | None = None
    for row in rows[header_at + 1 :]:
        if len(row) < len(header):
            continue
        cell = dict(zip(header, row, strict=False))
        try:
            member = _member(cell, now_ms)
        except (KeyError, ValueError):
            raise KafkaError(
                f"kafka-metadata-quorum printed an unexpected row: {' '.join(row)}"
            ) from None
        if member.role == "leader":
            leader_id, high_watermark = member.node_id, member.log_end_offset
        (observers if member.role == "observer" else voters).append(member)
    return QuorumStatus(
        leader_id=leader_id,
        high_watermark=high_watermark,
        voters=tuple(voters),
        observers=tuple(observers),
    )


def _member(cell: dict[str, str], now_ms: int) -> QuorumMember:
    caught_up = int(cell.get("LastCaughtUpTimestamp", "-1"))
    return QuorumMember(
        node_id=int(cell["NodeId"]),
        role=cell["Status"].lower(),
        log_end_offset=int(cell["LogEndOffset"]),
        lag=int(cell["Lag"]),
        last_caught_up_age_s=max(0.0, (now_ms - caught_up) / 1000) if caught_up > 0 else None,
    )
