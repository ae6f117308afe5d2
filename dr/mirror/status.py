"""What `kafka-dr mirror status` reads of the clusters per flow: topics missing on the target,
partition and config drift between a source topic and its replica, the groups being
checkpointed, and the freshness of the flow's heartbeats."""

from __future__ import annotations

import re
from dataclasses import dataclass

from dr.config.schema import MirrorFlow, Settings
from dr.kafka import admin as kadmin
from dr.kafka.client import admin_client
from dr.mirror.heartbeats import HeartbeatCheck, check_heartbeat
from dr.mirror.offsets import read_checkpoints
from dr.mirror.records import remote_topic
from dr.mirror.topics import flow_topics

# Configs MirrorMaker does not copy by default (DefaultConfigPropertyFilter), so they are no drift.
_NOT_SYNCED = re.compile(
    r"follower\.replication\.throttled\.replicas|leader\.replication\.throttled\.replicas|"
    r"message\.timestamp\.difference\.max\.ms|message\.timestamp\.type|"
    r"unclean\.leader\.election\.enable|min\.insync\.replicas"
)


@dataclass(frozen=True)
class Drift:
    topic: str
    target_topic: str
    what: str  # "partitions" or "config:<name>"
    source: str | None
    target: str | None


@dataclass(frozen=True)
class FlowStatus:
    flow: str
    topics: int
    missing_topics: tuple[str, ...]
    drift: tuple[Drift, ...]
    groups: tuple[str, ...]
    heartbeat: HeartbeatCheck


def flow_status(settings: Settings, flow: MirrorFlow) -> FlowStatus:
    """Compare the flow's source topics with their replicas on the target; read the newest
    heartbeat of the flow there."""
    src_admin = admin_client(settings.clusters[flow.source])
    dst_admin = admin_client(settings.clusters[flow.target])
    source_topics = kadmin.list_topic_partitions(src_admin, src_admin.timeout_s)
    target_topics = kadmin.list_topic_partitions(dst_admin, dst_admin.timeout_s)
    matched = flow_topics(source_topics, flow)
    remote = {t: remote_topic(flow.source, t, flow.replication_policy) for t in matched}
    missing = tuple(t for t in matched if remote[t] not in target_topics)
    present = [t for t in matched if remote[t] in target_topics]
    drift: list[Drift] = []
    for t in present:
        src_n, dst_n = source_topics[t].partitions, target_topics[remote[t]].partitions
        if src_n != dst_n:
            drift.append(Drift(t, remote[t], "partitions", str(src_n), str(dst_n)))
    src_configs = kadmin.topic_configs(src_admin, present, src_admin.timeout_s)
    dst_configs = kadmin.topic_configs(dst_admin, [remote[t] for t in present], dst_admin.timeout_s)
    for t in present:
        ours, theirs = src_configs.get(t, {}), dst_configs.get(remote[t], {})
        for name in sorted(set(ours) | set(theirs)):
            if _NOT_SYNCED.fullmatch(name) or ours.get(name) == theirs.get(name):
                continue
            drift.append(Drift(t, remote[t], f"config:{name}", ours.get(name), theirs.get(name)))
    groups = tuple(
        sorted({c.group for c, _ in read_checkpoints(settings, flow.source, flow.target)})
    )
    heartbeat = check_heartbeat(
        settings.mirror, flow, settings.clusters[flow.target], admin=dst_admin, topics=target_topics
    )
    return FlowStatus(flow.name, len(matched), missing, tuple(drift), groups, heartbeat)
