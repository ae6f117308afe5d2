"""Running a backup job: copy new records of the job's topics into the store, then record it.

The order of writes is what makes a run safe to kill at any point: data segments first (named
by their first offset, so a re-run writes the same objects), then the metadata snapshot, then
the manifest. A run that dies leaves no manifest, so it records no progress; the next run
starts again from the last manifest and completes the work.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from dr.backup.catalog import (
    Gap,
    Manifest,
    PartitionEntry,
    latest_manifest,
    metadata_key,
    new_backup_id,
    write_manifest,
)
from dr.backup.copy import (
    BackupCancelled,
    BackupError,
    PartitionPlan,
    ProgressEvent,
    copy_records,
)
from dr.backup.metadata import encode_metadata, snapshot_metadata
from dr.config.schema import BackupJob, Settings
from dr.errors import UsageError
from dr.kafka import admin as kadmin
from dr.kafka.client import admin_client
from dr.log import get_logger
from dr.state import StateStore
from dr.storage import open_store

__all__ = [
    "BackupCancelled",
    "BackupError",
    "BackupResult",
    "ProgressEvent",
    "apply_data_horizon",
    "plan_partitions",
    "run_backup",
    "select_topics",
]

log = get_logger(__name__)

ADMIN_TIMEOUT_S = 30.0
INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state", "__cluster_metadata"})
TP = tuple[str, int]


@dataclass(frozen=True)
class BackupResult:
    """What one run stored."""

    backup_id: str
    job: str
    records: int
    bytes: int
    partitions: int
    topics: int
    started_at: datetime
    finished_at: datetime
    gaps: tuple[Gap, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "backup_id": self.backup_id,
            "job": self.job,
            "records": self.records,
            "bytes": self.bytes,
            "partitions": self.partitions,
            "topics": self.topics,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "gaps": [g.__dict__ for g in self.gaps],
        }


def run_backup(
    settings: Settings,
    job: str,
    *,
    cancel: threading.Event | None = None,
    progress: Callable[[ProgressEvent], None] | None = None,
) -> BackupResult:
    """Run backup job `job` once; returns what it stored.

    Raises UsageError for an unknown job, BackupError/KafkaError/StorageError when the run
    fails (nothing recorded beyond durable data), BackupCancelled when `cancel` was set.
    """
    if job not in settings.backups:
        raise UsageError(
            f"no backup job named '{job}' (jobs: {', '.join(settings.backups) or 'none'})"
        )
    assert settings.state is not None  # set by the config loader
    with StateStore(settings.state).exclusive(f"backup-{job}", what=f"backup job '{job}'"):
        return _run(settings, job, cancel=cancel, progress=progress)


def _run(
    settings: Settings,
    job: str,
    *,
    cancel: threading.Event | None,
    progress: Callable[[ProgressEvent], None] | None,
) -> BackupResult:
    spec = settings.backups[job]
    cluster = settings.clusters[spec.cluster]
    store = open_store(settings.storage[spec.storage])
    started = datetime.now(UTC)
    backup_id = new_backup_id(job, started)
    log.info("backup_started", job=job, backup_id=backup_id, store=store.url)
    previous = latest_manifest(store, job)
    admin = admin_client(cluster, timeout_s=ADMIN_TIMEOUT_S)
    cid = kadmin.cluster_id(admin, ADMIN_TIMEOUT_S)
    if previous is not None and previous.cluster_id != cid:
        raise BackupError(
            f"job '{job}': cluster '{spec.cluster}' now has id {cid}, its backups were taken from "
            f"{previous.cluster_id}; a replaced cluster needs a new job (or new storage prefix)"
        )
    topics = select_topics(kadmin.list_topic_partitions(admin, ADMIN_TIMEOUT_S), spec)
    if not topics:
        raise BackupError(
            f"job '{job}': no topic of cluster '{spec.cluster}' matches {spec.topics}"
        )
    tps = [(t, p) for t, info in sorted(topics.items()) for p in range(info.partitions)]
    earliest = kadmin.offsets(admin, tps, "earliest", ADMIN_TIMEOUT_S)
    latest = kadmin.offsets(admin, tps, "latest", ADMIN_TIMEOUT_S, committed=True)
    plans = plan_partitions(previous, tps, earliest, latest, backup_id, started)
    for plan in plans:
        if plan.gap is not None:
            log.error(
                "backup_gap",
                job=job,
                topic=plan.topic,
                partition=plan.partition,
                missing_from=plan.gap.start_offset,
                missing_to=plan.gap.end_offset,
                reason=plan.gap.reason,
            )
    records, stored = copy_records(settings, spec, job, plans, store, cancel, progress)
    metadata = encode_metadata(snapshot_metadata(admin, topics, ADMIN_TIMEOUT_S))
    meta_key = metadata_key(job, backup_id)
    store.put_bytes(meta_key, metadata)
    if cancel is not None and cancel.is_set():
        raise BackupCancelled(f"backup {backup_id} of job '{job}' cancelled: nothing recorded")
    finished = datetime.now(UTC)
    manifest = Manifest(
        backup_id=backup_id,
        job=job,
        cluster=spec.cluster,
        cluster_id=cid,
        started_at=started.isoformat(),
        finished_at=finished.isoformat(),
        parent=previous.backup_id if previous else None,
        compression=spec.compression,
        records=records,
        bytes=stored,
        metadata_key=meta_key,
        metadata_sha256=hashlib.sha256(metadata).hexdigest(),
        partitions=tuple(_entry(p) for p in plans) + _vanished(previous, plans, job),
        gaps_found=sum(1 for p in plans if p.gap is not None),
    )
    manifest = apply_data_horizon(manifest, spec, finished)
    write_manifest(store, manifest)
    gaps = tuple(p.gap for p in plans if p.gap is not None)
    log.info(
        "backup_done",
        job=job,
        backup_id=backup_id,
        records=records,
        bytes=stored,
        partitions=len(plans),
        gaps=len(gaps),
        duration_s=round((finished - started).total_seconds(), 2),
    )
    return BackupResult(
        backup_id=backup_id,
        job=job,
        records=records,
        bytes=stored,
        partitions=len(plans),
        topics=len(topics),
        started_at=started,
        finished_at=finished,
        gaps=gaps,
    )


def select_topics(
    topics: dict[str, kadmin.TopicInfo], spec: BackupJob
) -> dict[str, kadmin.TopicInfo]:
    """The topics the job's patterns match in full and its exclusions do not; never internals."""
    include = [re.compile(p) for p in spec.topics]
    exclude = [re.compile(p) for p in spec.exclude]
    return {
        name: info
        for name, info in topics.items()
        if name not in INTERNAL_TOPICS
        and any(r.fullmatch(name) for r in include)
        and not any(r.fullmatch(name) for r in exclude)
    }


def plan_partitions(
    previous: Manifest | None,
    tps: list[TP],
    earliest: dict[TP, int],
    latest: dict[TP, int],
    backup_id: str,
    now: datetime,
) -> list[PartitionPlan]:
    """Where each partition continues: after the last stored offset, or at the log start.

    Records deleted by retention before they were stored become a Gap, never a silent skip.
    Raises BackupError when a partition's end moved below what was already stored.
    """
    plans: list[PartitionPlan] = []
    for tp in tps:
        carried = previous.partition(*tp) if previous else None
        low, high = earliest[tp], latest[tp]
        start = carried.end_offset if carried else low
        gap = None
        if start > high:
            raise BackupError(
                f"{tp[0]}-{tp[1]}: the log ends at offset {high} but offsets up to {start} are "
                "already backed up (topic recreated or truncated?)"
            )
        if start < low:
            gap = Gap(start, low, "deleted by retention before backup", now.isoformat(), backup_id)
            start = low
        plans.append(PartitionPlan(tp[0], tp[1], start, high, carried, gap))
    return plans


def apply_data_horizon(manifest: Manifest, spec: BackupJob, now: datetime) -> Manifest:
    """Drop leading segments whose records are all older than retention.keep_days.

    Dropped segments stay in the store until no kept manifest references them (see prune).
    """
    if spec.retention.keep_days is None:
        return manifest
    cutoff_ms = int((now.timestamp() - spec.retention.keep_days * 86400) * 1000)
    entries = []
    for entry in manifest.partitions:
        segments = list(entry.segments)
        while segments and (segments[0].last_timestamp or 0) < cutoff_ms:
            segments.pop(0)
        start = segments[0].start_offset if segments else entry.end_offset
        gaps = tuple(g for g in entry.gaps if g.end_offset > start)
        entries.append(replace(entry, segments=tuple(segments), start_offset=start, gaps=gaps))
    return replace(manifest, partitions=tuple(entries))


def _vanished(
    previous: Manifest | None, plans: list[PartitionPlan], job: str
) -> tuple[PartitionEntry, ...]:
    """Partitions the last backup held that the cluster no longer shows (a deleted topic is a
    classic disaster): carried forward unchanged, so their data stays restorable until the data
    horizon or a prune lets it go."""
    if previous is None:
        return ()
    current = {(p.topic, p.partition) for p in plans}
    kept = tuple(e for e in previous.partitions if (e.topic, e.partition) not in current)
    for topic in sorted({e.topic for e in kept}):
        log.warning("backup_topic_missing_carried", job=job, topic=topic)
    return kept


def _entry(plan: PartitionPlan) -> PartitionEntry:
    carried = plan.carried
    segments = (carried.segments if carried else ()) + tuple(plan.segments)
    gaps = (carried.gaps if carried else ()) + ((plan.gap,) if plan.gap else ())
    start = carried.start_offset if carried else plan.start
    if not carried and plan.gap is not None:
        start = plan.gap.start_offset
    return PartitionEntry(plan.topic, plan.partition, start, plan.end, segments, gaps)
