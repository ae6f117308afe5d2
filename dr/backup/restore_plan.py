"""What a restore will do, decided before anything is written: topics, configs, groups, and
what blocks it."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    ConfigResource,
    ResourceType,
)

from dr.backup.catalog import Manifest
from dr.backup.metadata import group_offsets_of
from dr.backup.restore_acls import AclMode, AclPlan, plan_acls
from dr.backup.restore_configs import (
    UNLIMITED,
    ConfigChange,
    ConfigPolicy,
    losing_configs,
    refused_stamps,
    restored_configs,
)
from dr.config.schema import Settings
from dr.errors import DrError
from dr.kafka import admin as kadmin
from dr.kafka.client import ClusterAdmin, admin_client
from dr.state import StateStore

JOURNAL = "restore"


class RestoreError(DrError):
    """A restore cannot start or did not complete."""


class RestoreFailed(RestoreError):
    """A restore stopped part-way: ``complete`` partitions (target topic-partition names) hold
    exactly their backed-up records; the ``incomplete`` ones hold a prefix of them."""

    def __init__(self, message: str, complete: Iterable[str], incomplete: Iterable[str]) -> None:
        super().__init__(message)
        self.complete = tuple(complete)
        self.incomplete = tuple(incomplete)


@dataclass(frozen=True)
class TopicRestore:
    """One topic of the plan."""

    source: str
    target: str
    partitions: int
    replication_factor: int
    configs: dict[str, str]
    records: int
    exists: bool
    target_records: int
    config_changes: tuple[ConfigChange, ...] = ()
    in_force: dict[str, str] = field(default_factory=dict)  # an existing target's, defaults too

    @property
    def configs_in_force(self) -> dict[str, str]:
        """The target topic's configs as records are written into it: the existing topic's own
        (its defaults included), or what this restore creates it with."""
        return self.in_force if self.exists else self.configs

    def config(self, key: str) -> str | None:
        """One of configs_in_force."""
        return self.configs_in_force.get(key)

    @property
    def compacted(self) -> bool:
        """The target topic compacts (and so refuses a record without a key)."""
        return "compact" in (self.config("cleanup.policy") or "")


@dataclass(frozen=True)
class GroupSkip:
    """A committed offset of a group that the restore cannot place, and why."""

    group: str
    topic: str  # the target topic
    partition: int
    offset: int
    reason: str


@dataclass(frozen=True)
class RestorePlan:
    """What a restore will do; `problems` block it."""

    backup_id: str
    cluster: str
    cluster_id: str
    topics: tuple[TopicRestore, ...]
    until_ms: int | None
    groups: tuple[str, ...]
    resuming: bool
    gaps: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    group_skips: tuple[GroupSkip, ...] = ()
    missing: tuple[str, ...] = ()  # partitions a partial backup could not copy
    acls: AclPlan | None = None  # --acls / --acls-all

    @property
    def journal_key(self) -> str:
        return f"{self.backup_id}->{self.cluster_id}"

    def partitions(self) -> list[str]:
        """Every target partition, as topic-partition names, in the order they are written."""
        return [f"{t.target}-{p}" for t in self.topics for p in range(t.partitions)]


def plan_restore(
    settings: Settings,
    manifest: Manifest,
    metadata: dict[str, Any],
    *,
    to: str,
    state: StateStore,
    topics: str | None = None,
    renames: dict[str, str] | None = None,
    until: datetime | None = None,
    groups: bool = False,
    force: bool = False,
    configs: ConfigPolicy | None = None,
    acls: AclMode | None = None,
) -> RestorePlan:
    """Decide what to restore where, and what blocks it (never writes anything). ``acls``:
    also plan the backed-up ACL bindings to create (dr.backup.restore_acls has the rule).

    Raises RestoreError when the selection is empty or invalid."""
    cluster = settings.clusters[to]
    admin = admin_client(cluster)
    timeout_s = cluster.timeout_s
    cluster_id = kadmin.cluster_id(admin, timeout_s)
    chosen = _chosen_topics(manifest, topics)
    renames = renames or {}
    unknown = sorted(set(renames) - set(manifest.topics))
    if unknown:
        raise RestoreError(f"--rename names topic '{unknown[0]}', which is not in the backup")
    policy = configs or ConfigPolicy()
    journal = state.load_journal(JOURNAL, f"{manifest.backup_id}->{cluster_id}")
    resuming = journal is not None and journal.get("status") == "running"
    existing = kadmin.list_topic_partitions(admin, timeout_s)
    brokers = kadmin.broker_count(admin, timeout_s)
    plans: list[TopicRestore] = []
    problems: list[str] = []
    for source in chosen:
        meta = metadata.get("topics", {}).get(source, {})
        parts = [p for p in manifest.partitions if p.topic == source]
        count = max(int(meta.get("partitions", 0)), max(p.partition for p in parts) + 1)
        if len({p.partition for p in parts}) != len(parts):
            problems.append(f"the backup holds two lineages of a partition of '{source}'")
        target = renames.get(source, source)
        rf = max(1, min(int(meta.get("replication_factor", 1)), brokers))
        wanted, changes = restored_configs(
            dict(meta.get("configs", {})), replication_factor=rf, policy=policy
        )
        info = existing.get(target)
        target_records = _records_in(admin, target, info.partitions) if info else 0
        plans.append(
            TopicRestore(
                source=source,
                target=target,
                partitions=count,
                replication_factor=rf,
                configs=wanted,
                records=sum(p.records for p in parts),
                exists=info is not None,
                target_records=target_records,
                config_changes=changes,
            )
        )
        if info is not None and info.partitions < count:
            problems.append(
                f"target topic '{target}' has {info.partitions} partitions, the backup has {count}"
            )
        if target_records and not force and not resuming:
            problems.append(
                f"target topic '{target}' already holds {target_records} records "
                "(use --force to restore into it anyway)"
            )
    problems += name_clashes(plans)
    existing_plans = [p.target for p in plans if p.exists]
    in_force = _effective_configs(admin, existing_plans) if existing_plans else {}
    plans = [replace(p, in_force=in_force.get(p.target, {})) if p.exists else p for p in plans]
    problems += _existing_target_problems(plans)
    until_ms = int(until.timestamp() * 1000) if until else None
    problems += _refused_stamps(plans, manifest, until_ms)
    group_names, skips = plan_groups(metadata, plans, groups)
    acl_plan = None
    if acls is not None:
        acl_plan = plan_acls(
            cluster,
            metadata,
            to=to,
            mode=acls,
            topics={p.source: p.target for p in plans},
            groups={g: g for g in group_names},  # groups are restored under their own names
        )
        problems += [acl_plan.problem] if acl_plan.problem else []
    gaps = tuple(
        f"{p.topic}-{p.partition} offsets {g.start_offset}..{g.end_offset - 1}: {g.reason}"
        for p in manifest.partitions
        if p.topic in chosen
        for g in p.gaps
    )
    missing = tuple(
        f"{m.topic}-{m.partition}: {m.reason}"
        for m in manifest.missing_partitions
        if m.topic in chosen
    )
    return RestorePlan(
        backup_id=manifest.backup_id,
        cluster=to,
        cluster_id=cluster_id,
        topics=tuple(plans),
        until_ms=until_ms,
        groups=group_names,
        resuming=resuming,
        gaps=gaps,
        problems=tuple(problems),
        group_skips=skips,
        missing=missing,
        acls=acl_plan,
    )


def _chosen_topics(manifest: Manifest, topics: str | None) -> list[str]:
    try:
        pattern = re.compile(topics) if topics else None
    except re.error as exc:
        raise RestoreError(f"--topics '{topics}' is not a valid regex: {exc}") from None
    chosen = [t for t in manifest.topics if pattern is None or pattern.fullmatch(t)]
    if not chosen:
        raise RestoreError(f"backup {manifest.backup_id} has no topic matching '{topics}'")
    return chosen


def name_clashes(plans: list[TopicRestore]) -> list[str]:
    """A problem for each target name that two source topics would be restored under."""
    by_target: dict[str, list[str]] = {}
    for p in plans:
        by_target.setdefault(p.target, []).append(p.source)
    return [
        f"topics {', '.join(repr(s) for s in sources)} would all be restored as '{target}' "
        "(give each its own name with --rename)"
        for target, sources in by_target.items()
        if len(sources) > 1
    ]


def plan_groups(
    metadata: dict[str, Any], plans: list[TopicRestore], wanted: bool = True
) -> tuple[tuple[str, ...], tuple[GroupSkip, ...]]:
    """The groups to restore, and each committed offset on a partition the restored topic
    does not have (a partition added while the backup ran)."""
    if not wanted:
        return (), ()
    by_source = {p.source: p for p in plans}
    offsets = group_offsets_of(metadata)
    names = tuple(sorted(g for g, by in offsets.items() if set(by) & set(by_source)))
    skips = tuple(
        GroupSkip(group, by_source[t].target, p, o, f"the restored topic has no partition {p}")
        for group in names
        for t, parts in sorted(offsets[group].items())
        if t in by_source
        for p, o in sorted(parts.items())
        if p >= by_source[t].partitions
    )
    return names, skips


def _existing_target_problems(plans: list[TopicRestore]) -> list[str]:
    """Configs of existing target topics that would delete, re-stamp or refuse restored records
    (unless this restore asks for them too: a resumed restore, or --config)."""
    problems = []
    for plan in plans:
        if not plan.exists:
            continue
        for key, value, why in losing_configs(plan.in_force, plan.configs):
            problems.append(
                f"target topic '{plan.target}' has {key}={value}: {why}; change it on the topic, "
                f"accept it with --config {key}={value}, or restore into a new topic"
            )
    return problems


def _refused_stamps(
    plans: list[TopicRestore], manifest: Manifest, until_ms: int | None
) -> list[str]:
    """A target topic whose timestamp limits refuse records of the backup (by the first and
    last timestamps of its segments; the write loop checks every record before writing a
    segment): a new topic gets such limits only from --keep-source-configs or --config."""
    now_ms = int(time.time() * 1000)
    problems = []
    for plan in plans:
        stamps = known_stamps(manifest, plan.source, until_ms)
        if stamps is None:
            continue
        for config in refused_stamps(plan.configs_in_force, stamps, now_ms):
            key = config.split("=")[0]
            fix = (
                "give it a larger value on the topic, or restore into a new topic"
                if plan.exists
                else f"set --config {key}={UNLIMITED} or --drop-config {key}"
            )
            problems.append(
                f"target topic '{plan.target}' has {config}, which refuses records of the backup "
                f"(stamped {_when(stamps[0])} to {_when(stamps[1])}); {fix}"
            )
    return problems


def known_stamps(manifest: Manifest, topic: str, until_ms: int | None) -> tuple[int, int] | None:
    """The earliest and latest first/last timestamps of the topic's segments (at or before
    --until), or None when none is known."""
    found = [
        ts
        for p in manifest.partitions
        if p.topic == topic
        for seg in p.segments
        for ts in (seg.first_timestamp, seg.last_timestamp)
        if ts is not None and ts >= 0 and (until_ms is None or ts <= until_ms)
    ]
    return (min(found), max(found)) if found else None


def _when(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _effective_configs(admin: ClusterAdmin, topics: list[str]) -> dict[str, dict[str, str]]:
    """Every config in force on each topic, defaults included."""
    resources = [ConfigResource(ResourceType.TOPIC, t) for t in topics]
    out: dict[str, dict[str, str]] = {}
    timeout_s = admin.timeout_s
    futures = admin.describe_configs(resources, request_timeout=timeout_s)
    for resource, future in futures.items():
        try:
            entries = future.result(timeout=timeout_s + 5)
        except (KafkaException, TimeoutError) as exc:
            what = f"cannot read configs of topic '{resource.name}'"
            raise kadmin.failed(admin, what, exc) from None
        out[resource.name] = {k: e.value for k, e in entries.items() if e.value is not None}
    return out


def _records_in(admin: ClusterAdmin, topic: str, partitions: int) -> int:
    tps = [(topic, p) for p in range(partitions)]
    low = kadmin.offsets(admin, tps, "earliest", admin.timeout_s, committed=False)
    high = kadmin.offsets(admin, tps, "latest", admin.timeout_s, committed=False)
    return sum(high[tp] - low[tp] for tp in tps)
