"""The Kafka ACLs kafka-dr needs on each cluster for what its config asks of it, each with why.

Worked out from the config alone (no cluster is asked): backup jobs read their topics, configs
and group offsets; a restore of a job recreates and writes its topics; mirror flows read
MirrorMaker's internal topics and compare the replicas with their sources; failover and
failback move groups' offsets; drills restore into scratch topics and delete them. Each need
names a resource, a Kafka operation, the reasons, and whether it is critical: needed by what
runs unattended (backups, mirror monitoring, scheduled drills) rather than only by commands
run on demand (restore, failover, failback, destructive drills).

`kafka-dr check` compares these needs with what each cluster grants (dr.preflight.acl_eval);
`kafka-dr acls plan` prints them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from dr.config.schema import BackupJob, MirrorFlow, Settings
from dr.kafka.names import CANARY_TOPIC, DRILL_PREFIX
from dr.mirror.properties import flow_property
from dr.mirror.records import HEARTBEATS_TOPIC, checkpoints_topic, offset_syncs_topic
from dr.preflight.acl_resources import (
    CLUSTER,
    CLUSTER_RESOURCE,
    OPERATIONS,
    AclResource,
    NeededAcl,
    regex_pattern,
)

__all__ = [
    "CLUSTER_RESOURCE",
    "AclResource",
    "NeededAcl",
    "needed_acls",
    "needed_on",
    "regex_pattern",
]

_KIND_ORDER = {"cluster": 0, "topic": 1, "group": 2}
ALL_GROUPS = AclResource("group", ".*", "regex")
ALL_TOPICS = AclResource("topic", ".*", "regex")


def needed_acls(settings: Settings) -> tuple[NeededAcl, ...]:
    """Every ACL kafka-dr needs for this config, merged (one entry per cluster, resource and
    operation, with every reason) and sorted by cluster (in the config's order), resource and
    operation."""
    needs: list[NeededAcl] = []
    for name in settings.clusters:
        _status(_Needs(needs, "status and the daemon's health checks", critical=True), name)
    for name, job in settings.backups.items():
        _backup(_Needs(needs, f"backup job {name}", critical=True), job)
        _restore(_Needs(needs, f"restore of backup job {name}", critical=False), job)
    if settings.mirror is not None:
        for flow in settings.mirror.flows:
            _mirror_reading(_Needs(needs, f"mirror flow {flow.name}", critical=True), flow)
            _failover(_Needs(needs, f"failover of flow {flow.name}", critical=False), flow)
            who = f"failback or cutover of flow {flow.name}"
            _failback(_Needs(needs, who, critical=False), settings, flow)
    for name in settings.drills:
        _drill(needs, settings, name)
    return _merged(needs, order=list(settings.clusters))


def needed_on(settings: Settings, cluster: str) -> tuple[NeededAcl, ...]:
    """The ACLs kafka-dr needs on one cluster."""
    return tuple(n for n in needed_acls(settings) if n.cluster == cluster)


@dataclass
class _Needs:
    """Collects the needs of one user of the cluster (``who``: 'backup job orders')."""

    out: list[NeededAcl]
    who: str
    critical: bool
    _seen: set[str] = field(default_factory=set)

    def on(
        self,
        cluster: str,
        resource: AclResource,
        operations: str,
        why: str,
        *,
        critical: bool | None = None,
    ) -> None:
        """Need each of the space-separated ``operations`` on the resource, because ``why``."""
        important = self.critical if critical is None else critical
        reason = f"{self.who}: {why}"
        for op in operations.split():
            self.out.append(NeededAcl(cluster, resource, op, (reason,), important))


def _topics(patterns: Iterable[str], exclude: Iterable[str] = ()) -> list[AclResource]:
    return [AclResource("topic", p, "regex", tuple(exclude)) for p in patterns]


def _groups(patterns: Iterable[str], exclude: Iterable[str] = ()) -> list[AclResource]:
    return [AclResource("group", p, "regex", tuple(exclude)) for p in patterns]


def _status(needs: _Needs, cluster: str) -> None:
    needs.on(cluster, CLUSTER, "DESCRIBE", "reads the cluster id, its brokers and its quorum")
    why = "counts under-replicated, under-min-ISR and offline partitions of every topic"
    needs.on(cluster, ALL_TOPICS, "DESCRIBE DESCRIBE_CONFIGS", why)


def _backup(needs: _Needs, job: BackupJob) -> None:
    c = job.cluster
    needs.on(c, CLUSTER, "DESCRIBE", "reads the cluster id, its ACLs and SCRAM user names")
    needs.on(
        c,
        CLUSTER,
        "DESCRIBE_CONFIGS",
        "asks a broker whether an authorizer runs, to save the ACLs",
        critical=False,
    )
    for topics in _topics(job.topics, job.exclude):
        needs.on(c, topics, "DESCRIBE", "lists its topics, leaders and offsets")
        needs.on(c, topics, "READ", "reads its topics' records")
        needs.on(c, topics, "DESCRIBE_CONFIGS", "saves its topics' configs")
    needs.on(c, ALL_GROUPS, "DESCRIBE", "saves the committed offsets of the groups on its topics")


def _restore(needs: _Needs, job: BackupJob) -> None:
    c = job.cluster
    needs.on(c, CLUSTER, "DESCRIBE", "reads the cluster id and its brokers")
    for topics in _topics(job.topics, job.exclude):
        needs.on(c, topics, "CREATE", "creates the topics that are missing")
        needs.on(c, topics, "WRITE", "writes the records back (idempotent producer)")
        needs.on(c, topics, "DESCRIBE READ", "reads what is already restored, to resume")
    needs.on(c, ALL_GROUPS, "DESCRIBE READ", "sets the saved group offsets back (OffsetCommit)")


def _mirror_reading(needs: _Needs, flow: MirrorFlow) -> None:
    s, t = flow.source, flow.target
    checkpoints = AclResource("topic", checkpoints_topic(s))
    needs.on(t, checkpoints, "DESCRIBE READ", "reads MirrorMaker's checkpoints")
    heartbeats = AclResource("topic", HEARTBEATS_TOPIC)
    needs.on(t, heartbeats, "DESCRIBE READ", "reads MirrorMaker's heartbeats")
    syncs = AclResource("topic", offset_syncs_topic(t))
    needs.on(s, syncs, "DESCRIBE READ", "reads MirrorMaker's offset-syncs")
    compare = "DESCRIBE DESCRIBE_CONFIGS READ"
    for topics in _topics(flow.topics, flow.topics_exclude):
        why = "compares the source topics' offsets, records and configs with the replicas'"
        needs.on(s, topics, compare, why)
    for replicas in _replicas(flow):
        needs.on(t, replicas, compare, "reads the replicas' end offsets, last records and configs")
    for groups in _groups(flow.groups, flow.groups_exclude):
        needs.on(s, groups, "DESCRIBE", "reads the source groups' offsets to translate them")


def _replicas(flow: MirrorFlow) -> list[AclResource]:
    if flow.replication_policy == "identity":
        return _topics(flow.topics, flow.topics_exclude)
    return [AclResource("topic", f"{flow.source}.", "prefixed")]


def _failover(needs: _Needs, flow: MirrorFlow) -> None:
    t = flow.target
    needs.on(t, CLUSTER, "DESCRIBE", f"reads the cluster id of {t}")
    for groups in _groups(flow.groups, flow.groups_exclude):
        why = f"commits the groups' translated offsets on {t} (OffsetCommit)"
        needs.on(t, groups, "DESCRIBE READ", why)
    canary = AclResource("topic", CANARY_TOPIC)
    needs.on(t, canary, "DESCRIBE READ WRITE CREATE", f"writes and reads back a canary on {t}")


def _failback(needs: _Needs, settings: Settings, flow: MirrorFlow) -> None:
    s, t = flow.source, flow.target
    for topics in _topics(flow.topics, flow.topics_exclude):
        needs.on(s, topics, "DESCRIBE WRITE", f"copies back onto {s} what was written to {t}")
    for groups in _groups(flow.groups, flow.groups_exclude):
        needs.on(s, groups, "DESCRIBE READ", f"commits the groups' offsets back on {s}")
    mirror = settings.mirror
    if mirror is not None and mirror.deploy == "dedicated":
        topic = flow_property(mirror, flow, "offset.storage.topic") or f"mm2-offsets.{s}.internal"
        why = f"moves MirrorMaker's stored positions to {s}'s end before restarting it"
        needs.on(t, AclResource("topic", topic), "DESCRIBE READ WRITE", why)


def _drill(out: list[NeededAcl], settings: Settings, name: str) -> None:
    drill = settings.drills[name]
    scenarios = drill.scenarios
    # The daemon runs scheduled drills, never the destructive scenarios.
    needs = _Needs(out, f"drill {name}", critical=drill.schedule is not None)
    if scenarios.backup_restore is not None:
        for job_name in scenarios.backup_restore.jobs:
            job = settings.backups.get(job_name)
            if job is not None:  # a stale reference is the drill's own error, when it runs
                target = scenarios.backup_restore.target_cluster or job.cluster
                _drill_restore(needs, job_name, job, target)
    if scenarios.mirror is not None:
        for flow in _flows(settings, scenarios.mirror.flows):
            _mirror_reading(needs, flow)
    destructive = _Needs(out, f"drill {name}", critical=False)
    if scenarios.failover is not None:
        for flow in _flows(settings, [scenarios.failover.flow]):
            _failover(destructive, flow)
            _failback(destructive, settings, flow)
    if scenarios.broker_loss is not None:
        why = "replaces the broker it kills (moves replicas, elects leaders)"
        destructive.on(scenarios.broker_loss.cluster, CLUSTER, "DESCRIBE ALTER", why)


def _drill_restore(needs: _Needs, job_name: str, job: BackupJob, target: str) -> None:
    scratch_topics = AclResource("topic", DRILL_PREFIX, "prefixed")
    why = f"restores job {job_name}'s latest backup into scratch topics, reads and deletes them"
    needs.on(target, scratch_topics, "DESCRIBE READ WRITE CREATE DELETE", why)
    scratch_groups = AclResource("group", DRILL_PREFIX, "prefixed")
    why = "restores group offsets under scratch names, checks and deletes them"
    needs.on(target, scratch_groups, "DESCRIBE READ DELETE", why)
    needs.on(target, CLUSTER, "DESCRIBE", "reads the cluster id and lists scratch groups")
    for topics in _topics(job.topics, job.exclude):
        why = f"compares sample records with job {job_name}'s source topics"
        needs.on(job.cluster, topics, "DESCRIBE READ", why)


def _flows(settings: Settings, names: Iterable[str]) -> list[MirrorFlow]:
    flows = settings.mirror.flows if settings.mirror is not None else []
    wanted = set(names)
    return [f for f in flows if f.name in wanted]


def _merged(needs: list[NeededAcl], *, order: list[str]) -> tuple[NeededAcl, ...]:
    merged: dict[tuple[str, AclResource, str], NeededAcl] = {}
    for need in needs:
        key = (need.cluster, need.resource, need.operation)
        seen = merged.get(key)
        if seen is None:
            merged[key] = need
            continue
        reasons = seen.reasons + tuple(r for r in need.reasons if r not in seen.reasons)
        critical = seen.critical or need.critical
        merged[key] = NeededAcl(seen.cluster, seen.resource, seen.operation, reasons, critical)

    def rank(need: NeededAcl) -> tuple[int, int, str, str, int]:
        cluster = order.index(need.cluster) if need.cluster in order else len(order)
        op = OPERATIONS.index(need.operation) if need.operation in OPERATIONS else len(OPERATIONS)
        r = need.resource
        return cluster, _KIND_ORDER[r.kind], r.name, r.pattern, op

    return tuple(sorted(merged.values(), key=rank))
