"""RPO as data: for each mirror flow and each backup job, how much would be lost right now.

For a flow, a partition's RPO is now minus the timestamp of the oldest source record that is
not yet on the target (0 when caught up). How far replication got is read from the TARGET's
data — the timestamp of the last record of the replica partition, which MirrorMaker copies
from the source — and never from MirrorMaker's own metrics, so the number stays true while
MirrorMaker is stopped, stalled or failing. For a backup job the same question is asked of
the store: the first source record after the last durably stored offset.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from confluent_kafka.admin import AdminClient

from dr.backup.catalog import latest_manifest
from dr.backup.runner import select_topics
from dr.config.schema import ClusterSettings, MirrorFlow, Settings
from dr.kafka import admin as kadmin
from dr.kafka.client import admin_client
from dr.kafka.reader import first_records, last_records, offsets_for_times, read_range
from dr.log import get_logger
from dr.mirror.records import HEARTBEATS_TOPIC, RecordFormatError, decode_heartbeat, remote_topic
from dr.mirror.topics import flow_topics
from dr.storage import open_store

log = get_logger(__name__)

TP = tuple[str, int]
TIMEOUT_S = 15.0
# Heartbeats looked at per partition: enough for several flows into one target at 1/s each.
HEARTBEAT_WINDOW = 300


@dataclass(frozen=True)
class PartitionRpo:
    topic: str
    partition: int
    target_topic: str
    lag_messages: int
    rpo_seconds: float
    source_end: int


@dataclass(frozen=True)
class FlowRpo:
    flow: str
    rpo_seconds: float
    lag_messages: int
    heartbeat_age_seconds: float | None
    target_seconds: float
    partitions: tuple[PartitionRpo, ...] = ()
    missing_topics: tuple[str, ...] = ()

    @property
    def breached(self) -> bool:
        return self.rpo_seconds > self.target_seconds


@dataclass(frozen=True)
class BackupRpo:
    job: str
    rpo_seconds: float
    lag_messages: int
    target_seconds: float
    last_backup_at: str | None
    partitions: tuple[PartitionRpo, ...] = ()

    @property
    def breached(self) -> bool:
        return self.rpo_seconds > self.target_seconds


@dataclass(frozen=True)
class RpoReport:
    measured_at: float
    flows: tuple[FlowRpo, ...] = ()
    backups: tuple[BackupRpo, ...] = ()
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def breached(self) -> bool:
        return any(f.breached for f in self.flows) or any(b.breached for b in self.backups)


def measure_rpo(settings: Settings, *, now: float | None = None) -> RpoReport:
    """RPO of every mirror flow and backup job; a source that cannot be read is an error entry
    (and counts as breached by the CLI), never a silent zero."""
    moment = time.time() if now is None else now
    flows = settings.mirror.flows if settings.mirror else []
    jobs = list(settings.backups)
    errors: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(4, len(flows) + len(jobs)))) as pool:
        flow_futures = {f.name: pool.submit(measure_flow, settings, f, now=moment) for f in flows}
        job_futures = {j: pool.submit(measure_backup, settings, j, now=moment) for j in jobs}
        flow_results: list[FlowRpo] = []
        job_results: list[BackupRpo] = []
        for name, flow_future in flow_futures.items():
            try:
                flow_results.append(flow_future.result())
            except Exception as exc:  # one broken flow must not hide the others
                errors[name] = str(exc)
        for name, job_future in job_futures.items():
            try:
                job_results.append(job_future.result())
            except Exception as exc:
                errors[name] = str(exc)
    return RpoReport(moment, tuple(flow_results), tuple(job_results), errors)


def measure_flow(settings: Settings, flow: MirrorFlow, *, now: float) -> FlowRpo:
    """The RPO of one MirrorMaker 2 flow, partition by partition."""
    source, target = settings.clusters[flow.source], settings.clusters[flow.target]
    src_admin, dst_admin = admin_client(source), admin_client(target)
    topics = _flow_topics(kadmin.list_topic_partitions(src_admin, TIMEOUT_S), flow)
    remote = {t: remote_topic(flow.source, t, flow.replication_policy) for t in topics}
    target_topics = kadmin.list_topic_partitions(dst_admin, TIMEOUT_S)
    tps = [(t, p) for t, n in sorted(topics.items()) for p in range(n)]
    src_low = kadmin.offsets(src_admin, tps, "earliest", TIMEOUT_S, committed=False)
    src_end = kadmin.offsets(src_admin, tps, "latest", TIMEOUT_S, committed=False)
    dst_tps = [
        (remote[t], p)
        for t, p in tps
        if remote[t] in target_topics and p < target_topics[remote[t]].partitions
    ]
    dst_end = kadmin.offsets(dst_admin, dst_tps, "latest", TIMEOUT_S, committed=False)
    last_on_target = last_records(target, dst_end, timeout_s=TIMEOUT_S)
    replicated_until = {
        (t, p): last_on_target[(remote[t], p)].timestamp_ms
        for t, p in tps
        if (remote[t], p) in last_on_target
    }
    partitions = _behind(
        source, tps, src_low, src_end, replicated_until, now, {t: remote[t] for t in topics}
    )
    missing = tuple(sorted(t for t in topics if remote[t] not in target_topics))
    return FlowRpo(
        flow=flow.name,
        rpo_seconds=max((p.rpo_seconds for p in partitions), default=0.0),
        lag_messages=sum(p.lag_messages for p in partitions),
        heartbeat_age_seconds=_heartbeat_age(target, dst_admin, target_topics, flow.source, now),
        target_seconds=settings.objectives.rpo_seconds,
        partitions=partitions,
        missing_topics=missing,
    )


def measure_backup(settings: Settings, job: str, *, now: float) -> BackupRpo:
    """The RPO of one backup job: what the cluster holds that the store does not."""
    spec = settings.backups[job]
    cluster = settings.clusters[spec.cluster]
    manifest = latest_manifest(open_store(settings.storage[spec.storage]), job)
    admin = admin_client(cluster)
    # The same topics the backup job itself selects.
    selected = select_topics(kadmin.list_topic_partitions(admin, TIMEOUT_S), spec)
    topics = {t: info.partitions for t, info in selected.items()}
    tps = [(t, p) for t, n in sorted(topics.items()) for p in range(n)]
    low = kadmin.offsets(admin, tps, "earliest", TIMEOUT_S)
    end = kadmin.offsets(admin, tps, "latest", TIMEOUT_S)
    stored = {}
    for tp in tps:
        entry = manifest.partition(*tp) if manifest else None
        stored[tp] = max(low[tp], entry.end_offset) if entry else low[tp]
    firsts = first_records(
        cluster,
        {tp: stored[tp] for tp in tps if stored[tp] < end[tp]},
        timeout_s=TIMEOUT_S,
        isolation="read_committed",
    )
    partitions = tuple(
        PartitionRpo(
            t,
            p,
            t,
            max(0, end[(t, p)] - stored[(t, p)]),
            _age(now, firsts[(t, p)].timestamp_ms) if (t, p) in firsts else 0.0,
            end[(t, p)],
        )
        for t, p in tps
    )
    return BackupRpo(
        job=job,
        rpo_seconds=max((p.rpo_seconds for p in partitions), default=0.0),
        lag_messages=sum(p.lag_messages for p in partitions),
        target_seconds=settings.objectives.rpo_seconds,
        last_backup_at=manifest.finished_at if manifest else None,
        partitions=partitions,
    )


def _behind(
    source: ClusterSettings,
    tps: list[TP],
    low: Mapping[TP, int],
    end: Mapping[TP, int],
    replicated_until: Mapping[TP, int],
    now: float,
    remote: Mapping[str, str],
) -> tuple[PartitionRpo, ...]:
    """For each source partition: the first record newer than what the target holds."""
    after = offsets_for_times(
        source, {tp: ts + 1 for tp, ts in replicated_until.items()}, timeout_s=TIMEOUT_S
    )
    first_missing: dict[TP, int] = {}
    for tp in tps:
        if tp in replicated_until:
            offset = after.get(tp, -1)
            first_missing[tp] = end[tp] if offset < 0 else offset
        else:
            first_missing[tp] = low[tp]
    pending = {tp: off for tp, off in first_missing.items() if off < end[tp]}
    oldest = first_records(source, pending, timeout_s=TIMEOUT_S)
    return tuple(
        PartitionRpo(
            topic=t,
            partition=p,
            target_topic=remote[t],
            lag_messages=max(0, end[(t, p)] - first_missing[(t, p)]),
            rpo_seconds=_age(now, oldest[(t, p)].timestamp_ms) if (t, p) in oldest else 0.0,
            source_end=end[(t, p)],
        )
        for t, p in tps
    )


def _heartbeat_age(
    target: ClusterSettings,
    admin: AdminClient,
    topics: Mapping[str, kadmin.TopicInfo],
    source_alias: str,
    now: float,
) -> float | None:
    if HEARTBEATS_TOPIC not in topics:
        return None
    tps = [(HEARTBEATS_TOPIC, p) for p in range(topics[HEARTBEATS_TOPIC].partitions)]
    ends = kadmin.offsets(admin, tps, "latest", TIMEOUT_S, committed=False)
    # The last few records: other flows into the same target write heartbeats there too.
    found = [
        rec
        for tp, e in ends.items()
        if e > 0
        for rec in read_range(target, tp, max(0, e - HEARTBEAT_WINDOW), e, timeout_s=TIMEOUT_S)
    ]
    newest: int | None = None
    for rec in found:
        try:
            beat = decode_heartbeat(rec.key or b"", rec.value or b"")
        except RecordFormatError:
            continue
        if beat.source_alias == source_alias:
            newest = max(newest or 0, beat.timestamp_ms)
    return None if newest is None else _age(now, newest)


def _flow_topics(topics: Mapping[str, kadmin.TopicInfo], flow: MirrorFlow) -> dict[str, int]:
    return {name: topics[name].partitions for name in flow_topics(topics, flow)}


def _age(now: float, timestamp_ms: int) -> float:
    return max(0.0, now - timestamp_ms / 1000)
