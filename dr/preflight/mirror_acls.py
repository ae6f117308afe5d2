"""The Kafka ACLs MirrorMaker 2's own principal needs for each mirror flow, each with why.

As Kafka's MirrorMaker 2 uses its clients (connect/mirror): on the source it reads the
replicated topics and their configs and ACLs, reads the groups' committed offsets and writes
its offset-syncs topic; on the target it creates and writes the replicas (and keeps their
configs in step), the heartbeats and checkpoints topics and, deployed as a dedicated
MirrorMaker, the Connect worker's own group and internal topics (``mm2-offsets``,
``mm2-configs``, ``mm2-status``). A Kafka Connect cluster's worker group and internal topics are
the Connect cluster's own and are not planned here.

Every need is critical (MirrorMaker runs unattended) except copying the source topics' ACLs,
which MirrorMaker only warns about when it is refused.
"""

from __future__ import annotations

from dr.config.schema import MirrorFlow, MirrorSettings
from dr.mirror.properties import flow_property
from dr.mirror.records import HEARTBEATS_TOPIC, checkpoints_topic, offset_syncs_topic
from dr.preflight.acl_resources import CLUSTER, AclResource, NeededAcl

ROLE = "MirrorMaker 2"


def mirror_maker_needs(mirror: MirrorSettings | None) -> tuple[NeededAcl, ...]:
    """What MirrorMaker's principal needs on each cluster for every flow (not merged: the same
    operation on the same resource may come once per flow)."""
    if mirror is None:
        return ()
    out: list[NeededAcl] = []
    for flow in mirror.flows:
        out += _on_source(flow)
        out += _on_target(mirror, flow)
    return tuple(out)


def _need(
    cluster: str, resource: AclResource, operations: str, why: str, *, critical: bool = True
) -> list[NeededAcl]:
    return [NeededAcl(cluster, resource, op, (why,), critical) for op in operations.split()]


def _on_source(flow: MirrorFlow) -> list[NeededAcl]:
    s, who = flow.source, f"MirrorMaker flow {flow.name}"
    out = _need(s, CLUSTER, "DESCRIBE", f"{who}: lists the source groups and topics' ACLs")
    for regex in flow.topics:
        topics = AclResource("topic", regex, "regex", tuple(flow.topics_exclude))
        why = f"{who}: reads the replicated topics' records and configs"
        out += _need(s, topics, "DESCRIBE READ DESCRIBE_CONFIGS", why)
    for regex in flow.groups:
        groups = AclResource("group", regex, "regex", tuple(flow.groups_exclude))
        out += _need(s, groups, "DESCRIBE", f"{who}: reads the groups' committed offsets")
    syncs = AclResource("topic", offset_syncs_topic(flow.target))
    why = f"{who}: creates, writes and reads its offset-syncs topic"
    out += _need(s, syncs, "DESCRIBE READ WRITE CREATE", why)
    return out


def _on_target(mirror: MirrorSettings, flow: MirrorFlow) -> list[NeededAcl]:
    s, t, who = flow.source, flow.target, f"MirrorMaker flow {flow.name}"
    out = _need(t, CLUSTER, "DESCRIBE CREATE DESCRIBE_CONFIGS", f"{who}: creates the replicas")
    if (flow_property(mirror, flow, "sync.topic.acls.enabled") or "true").lower() != "false":
        why = f"{who}: copies the source topics' ACLs (sync.topic.acls.enabled)"
        out += _need(t, CLUSTER, "ALTER", why, critical=False)
    replica_ops = "DESCRIBE WRITE CREATE ALTER_CONFIGS DESCRIBE_CONFIGS"
    for replicas in _replicas(flow):
        why = f"{who}: creates and writes the replicas and keeps their configs in step"
        out += _need(t, replicas, replica_ops, why)
    if flow.heartbeats:
        heartbeats = AclResource("topic", HEARTBEATS_TOPIC)
        out += _need(t, heartbeats, "DESCRIBE WRITE CREATE", f"{who}: emits heartbeats")
    checkpoints = AclResource("topic", checkpoints_topic(s))
    why = f"{who}: creates, writes and reads back its checkpoints"
    out += _need(t, checkpoints, "DESCRIBE READ WRITE CREATE", why)
    if flow.sync_group_offsets:
        for regex in flow.groups:
            groups = AclResource("group", regex, "regex", tuple(flow.groups_exclude))
            why = f"{who}: writes the groups' translated offsets (sync_group_offsets)"
            out += _need(t, groups, "DESCRIBE READ", why)
        for replicas in _replicas(flow):
            why = f"{who}: commits group offsets on the replicas (sync_group_offsets)"
            out += _need(t, replicas, "READ", why)
    if mirror.deploy == "dedicated":
        out += _dedicated_worker(mirror, flow)
    return out


def _dedicated_worker(mirror: MirrorSettings, flow: MirrorFlow) -> list[NeededAcl]:
    """The Connect worker a dedicated MirrorMaker runs for the flow on its target: its group
    (SOURCE-mm2) and its internal topics (mm2-offsets|configs|status.SOURCE.internal)."""
    s, t, who = flow.source, flow.target, f"MirrorMaker flow {flow.name}"
    out: list[NeededAcl] = []
    for key, default in (
        ("offset.storage.topic", f"mm2-offsets.{s}.internal"),
        ("config.storage.topic", f"mm2-configs.{s}.internal"),
        ("status.storage.topic", f"mm2-status.{s}.internal"),
    ):
        name = _worker_property(mirror, flow, key) or default
        why = f"{who}: keeps its worker's state in {name} (dedicated mode)"
        out += _need(
            t, AclResource("topic", name), "DESCRIBE DESCRIBE_CONFIGS READ WRITE CREATE", why
        )
    group = _worker_property(mirror, flow, "group.id") or f"{s}-mm2"
    why = f"{who}: its worker joins group {group} (dedicated mode)"
    out += _need(t, AclResource("group", group), "DESCRIBE READ", why)
    return out


def _worker_property(mirror: MirrorSettings, flow: MirrorFlow, key: str) -> str | None:
    """A worker setting of the flow's herder: ``TARGET.key`` or ``key`` in mirror.properties
    (as MirrorMaker reads them), or the flow's own (as kafka-dr's other needs read them)."""
    target_key = mirror.properties.get(f"{flow.target}.{key}")
    return flow_property(mirror, flow, key) or target_key


def _replicas(flow: MirrorFlow) -> list[AclResource]:
    if flow.replication_policy == "identity":
        return [
            AclResource("topic", regex, "regex", tuple(flow.topics_exclude))
            for regex in flow.topics
        ]
    return [AclResource("topic", f"{flow.source}.", "prefixed")]
