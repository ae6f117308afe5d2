"""RPO as data: for each mirror flow and each backup job, how much would be lost right now.

For a flow, a partition's RPO is now minus the timestamp of the oldest source record that is
not yet on the target (0 when caught up). How far replication got is read from the TARGET's
data — the timestamp of the last record of the replica partition, which MirrorMaker copies
from the source — and never from MirrorMaker's own metrics, so the number stays true while
MirrorMaker is stopped, stalled or failing. For a backup job the same question is asked of
the store: the first source record after the last durably stored offset.

A record that cannot be read in time, or a position that cannot be found, makes the flow or
job *unmeasured* (``rpo_seconds`` None, ``unmeasured`` the reason): never 0, never a guess.
The arithmetic lives in dr.objectives.figures; this module reads the clusters and the store.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from dr.backup.catalog import latest_manifest
from dr.backup.manifest import Manifest, PartitionEntry
from dr.backup.runner import select_topics
from dr.config.schema import ClusterSettings, MirrorFlow, Settings
from dr.kafka import admin as kadmin
from dr.kafka.client import ClusterAdmin, admin_client
from dr.kafka.reader import RecordAt, first_records, offsets_for_times
from dr.log import get_logger
from dr.mirror.heartbeats import HeartbeatCheck, check_heartbeat
from dr.mirror.records import remote_topic
from dr.mirror.topics import flow_topics
from dr.objectives.figures import (
    TP,
    PartitionRpo,
    first_missing_offsets,
    partition_rpo,
    stored_until,
    totals,
)
from dr.objectives.replicas import back_to_last_copied, one_ms_after, replicas_last
from dr.storage import open_store

__all__ = [
    "BackupRpo",
    "FlowRpo",
    "PartitionRpo",
    "RpoReport",
    "measure_backup",
    "measure_flow",
    "measure_rpo",
]

log = get_logger(__name__)

COMMITTED, UNCOMMITTED = "read_committed", "read_uncommitted"


@dataclass(frozen=True)
class FlowRpo:
    """A flow's RPO: its worst partition's, or None with the reason when one of them could
    not be measured (never 0 and never a guess)."""

    flow: str
    rpo_seconds: float | None
    lag_messages: int | None
    heartbeat_age_seconds: float | None
    target_seconds: float
    partitions: tuple[PartitionRpo, ...] = ()
    missing_topics: tuple[str, ...] = ()
    unmeasured: str | None = None
    heartbeat: HeartbeatCheck | None = None

    @property
    def breached(self) -> bool:
        return self.rpo_seconds is not None and self.rpo_seconds > self.target_seconds

    @property
    def stalled(self) -> str | None:
        """Why replication looks stalled (its heartbeat is stale or missing), else None.

        The RPO stays what the data says: 0 with a stalled replication means nothing is lost
        *yet*, not that the next record would be replicated."""
        return self.heartbeat.problem if self.heartbeat is not None else None


@dataclass(frozen=True)
class BackupRpo:
    """A backup job's RPO, or None with the reason when it could not be measured."""

    job: str
    rpo_seconds: float | None
    lag_messages: int | None
    target_seconds: float
    last_backup_at: str | None
    partitions: tuple[PartitionRpo, ...] = ()
    unmeasured: str | None = None

    @property
    def breached(self) -> bool:
        return self.rpo_seconds is not None and self.rpo_seconds > self.target_seconds


@dataclass(frozen=True)
class RpoReport:
    measured_at: float
    flows: tuple[FlowRpo, ...] = ()
    backups: tuple[BackupRpo, ...] = ()
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def breached(self) -> bool:
        return any(f.breached for f in self.flows) or any(b.breached for b in self.backups)

    @property
    def stalled(self) -> dict[str, str]:
        """Each flow whose replication looks stalled (stale or missing heartbeat), with why."""
        return {f.flow: f.stalled for f in self.flows if f.stalled is not None}

    @property
    def unmeasured(self) -> dict[str, str]:
        """Each flow or job whose RPO could not be measured, with the reason."""
        found = {f.flow: f.unmeasured for f in self.flows if f.unmeasured is not None}
        found.update({b.job: b.unmeasured for b in self.backups if b.unmeasured is not None})
        return {**found, **self.errors}


def measure_rpo(
    settings: Settings, *, now: float | None = None, read_timeout_s: float | None = None
) -> RpoReport:
    """RPO of every mirror flow and backup job; a source that cannot be read is an error entry
    and a record that cannot be read makes its flow or job unmeasured (both count as breached
    by the CLI), never a silent zero."""
    moment = time.time() if now is None else now
    flows = settings.mirror.flows if settings.mirror else []
    jobs = list(settings.backups)
    errors: dict[str, str] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, min(4, len(flows) + len(jobs))))
    try:
        flow_futures = {
            f.name: pool.submit(
                measure_flow, settings, f, now=moment, read_timeout_s=read_timeout_s
            )
            for f in flows
        }
        job_futures = {
            j: pool.submit(measure_backup, settings, j, now=moment, read_timeout_s=read_timeout_s)
            for j in jobs
        }
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
    finally:
        # Interrupted (Ctrl-C), this returns at once: a measure blocked in a request is not
        # waited for. Otherwise every measure is done already.
        pool.shutdown(wait=False, cancel_futures=True)
    return RpoReport(moment, tuple(flow_results), tuple(job_results), errors)


def measure_flow(
    settings: Settings, flow: MirrorFlow, *, now: float, read_timeout_s: float | None = None
) -> FlowRpo:
    """The RPO of one MirrorMaker 2 flow, partition by partition. Each request and each read
    of records waits the cluster's timeout_s (reads: read_timeout_s when given)."""
    source, target = settings.clusters[flow.source], settings.clusters[flow.target]
    src_admin, dst_admin = admin_client(source), admin_client(target)
    src_wait, dst_wait = source.timeout_s, target.timeout_s
    src_read = src_wait if read_timeout_s is None else read_timeout_s
    dst_read = dst_wait if read_timeout_s is None else read_timeout_s
    topics = _flow_topics(kadmin.list_topic_partitions(src_admin, src_wait), flow)
    remote = {t: remote_topic(flow.source, t, flow.replication_policy) for t in topics}
    target_topics = kadmin.list_topic_partitions(dst_admin, dst_wait)
    tps = [(t, p) for t, n in sorted(topics.items()) for p in range(n)]
    src_low = kadmin.offsets(src_admin, tps, "earliest", src_wait, committed=False)
    src_end = kadmin.offsets(src_admin, tps, "latest", src_wait, committed=False)
    dst_tps = [
        (remote[t], p)
        for t, p in tps
        if remote[t] in target_topics and p < target_topics[remote[t]].partitions
    ]
    dst_end = kadmin.offsets(dst_admin, dst_tps, "latest", dst_wait, committed=False)
    until, unread, last = replicas_last(target, dst_end, timeout_s=dst_read)
    replicated = {(t, p): until[(remote[t], p)] for t, p in tps if (remote[t], p) in until}
    unknown = {(t, p): unread[(remote[t], p)] for t, p in tps if (remote[t], p) in unread}
    later = offsets_for_times(source, one_ms_after(replicated))
    first_missing, unmeasured = first_missing_offsets(
        tps, src_low, src_end, replicated, unknown, later
    )
    copied = {(t, p): last[(remote[t], p)] for t, p in first_missing if (t, p) in replicated}
    first_missing = back_to_last_copied(
        source, first_missing, copied, unmeasured, timeout_s=src_read
    )
    pending = _pending(first_missing, src_end)
    oldest, timed_out = _read_first(source, pending, timeout_s=src_read, isolation=UNCOMMITTED)
    log_start = _log_start_if_empty_handed(src_admin, pending, oldest, timed_out=timed_out)
    partitions = tuple(
        partition_rpo(
            tp,
            remote[tp[0]],
            end=src_end[tp],
            first_missing=first_missing.get(tp),
            oldest=oldest.get(tp),
            timed_out=timed_out,
            unmeasured=unmeasured.get(tp),
            log_start_after=log_start.get(tp),
            now=now,
            timeout_s=src_read,
        )
        for tp in tps
    )
    total = totals(partitions)
    heartbeat = check_heartbeat(
        settings.mirror, flow, target, admin=dst_admin, topics=target_topics, now=now
    )
    return FlowRpo(
        flow=flow.name,
        rpo_seconds=total.rpo_seconds,
        lag_messages=total.lag_messages,
        heartbeat_age_seconds=heartbeat.age_s,
        target_seconds=settings.flow_objectives(flow.name).rpo_seconds,
        partitions=partitions,
        missing_topics=tuple(sorted(t for t in topics if remote[t] not in target_topics)),
        unmeasured=total.unmeasured,
        heartbeat=heartbeat,
    )


def measure_backup(
    settings: Settings, job: str, *, now: float, read_timeout_s: float | None = None
) -> BackupRpo:
    """The RPO of one backup job: what the cluster holds that the store does not. Each
    request and read waits the cluster's timeout_s (reads: read_timeout_s when given)."""
    spec = settings.backups[job]
    cluster = settings.clusters[spec.cluster]
    manifest = latest_manifest(open_store(settings.storage[spec.storage]), job)
    admin = admin_client(cluster)
    wait = cluster.timeout_s
    read_timeout_s = wait if read_timeout_s is None else read_timeout_s
    # The same topics the backup job itself selects.
    selected = select_topics(kadmin.list_topic_partitions(admin, wait), spec)
    topics = {t: info.partitions for t, info in selected.items()}
    tps = [(t, p) for t, n in sorted(topics.items()) for p in range(n)]
    low = kadmin.offsets(admin, tps, "earliest", wait)
    end = kadmin.offsets(admin, tps, "latest", wait)
    stored = _stored(admin, manifest, topics, low=low, end=end)
    pending = _pending(stored, end)
    firsts, timed_out = _read_first(cluster, pending, timeout_s=read_timeout_s, isolation=COMMITTED)
    log_start = _log_start_if_empty_handed(admin, pending, firsts, timed_out=timed_out)
    partitions = tuple(
        partition_rpo(
            tp,
            tp[0],
            end=end[tp],
            first_missing=stored[tp],
            oldest=firsts.get(tp),
            timed_out=timed_out,
            log_start_after=log_start.get(tp),
            now=now,
            timeout_s=read_timeout_s,
        )
        for tp in tps
    )
    total = totals(partitions)
    return BackupRpo(
        job=job,
        rpo_seconds=total.rpo_seconds,
        lag_messages=total.lag_messages,
        target_seconds=settings.job_objectives(job).rpo_seconds,
        last_backup_at=manifest.finished_at if manifest else None,
        partitions=partitions,
        unmeasured=total.unmeasured,
    )


# -- reading records -------------------------------------------------------------------------


def _pending(first_missing: Mapping[TP, int], end: Mapping[TP, int]) -> dict[TP, int]:
    return {tp: off for tp, off in first_missing.items() if off < end[tp]}


def _read_first(
    cluster: ClusterSettings, positions: Mapping[TP, int], *, timeout_s: float, isolation: str
) -> tuple[dict[TP, RecordAt], bool]:
    """The first record at or after each position, and whether the read ran out of time.

    The reader leaves a partition out both when it ends without a record and when the deadline
    comes first. It returns before its deadline only once every partition is done, so a read
    quicker than the deadline left out only partitions that ended without a record.
    """
    started = time.monotonic()
    found = first_records(cluster, positions, timeout_s=timeout_s, isolation=isolation)
    return found, bool(positions) and time.monotonic() - started >= timeout_s


def _log_start_if_empty_handed(
    admin: ClusterAdmin,
    pending: Mapping[TP, int],
    found: Mapping[TP, RecordAt],
    *,
    timed_out: bool,
) -> dict[TP, int]:
    """The log start, read again, of the partitions whose read ended without a record: if
    retention deleted the position meanwhile, the reader started over at the end and found
    nothing, which must not pass for "nothing to lose". Rare, so asked only then."""
    empty_handed = [tp for tp in pending if tp not in found]
    if timed_out or not empty_handed:
        return {}
    return kadmin.offsets(admin, empty_handed, "earliest", admin.timeout_s, committed=False)


def _stored(
    admin: ClusterAdmin,
    manifest: Manifest | None,
    topics: Mapping[str, int],
    *,
    low: Mapping[TP, int],
    end: Mapping[TP, int],
) -> dict[TP, int]:
    """Each partition's first offset the latest backup does not hold (of the topic's present
    lineage: Kafka's topic id tells a topic re-created since the backup)."""
    if manifest is None:
        return dict(low)
    states = kadmin.topic_states(admin, topics, admin.timeout_s)
    entries: dict[TP, list[PartitionEntry]] = {}
    for entry in manifest.partitions:
        entries.setdefault((entry.topic, entry.partition), []).append(entry)
    return {
        tp: stored_until(
            entries.get(tp, []),
            low=start,
            end=end[tp],
            topic_id=states[tp[0]].topic_id if tp[0] in states else None,
        )
        for tp, start in low.items()
    }


def _flow_topics(topics: Mapping[str, kadmin.TopicInfo], flow: MirrorFlow) -> dict[str, int]:
    return {name: topics[name].partitions for name in flow_topics(topics, flow)}
