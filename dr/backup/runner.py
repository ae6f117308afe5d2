"""Running a backup job: copy new records of the job's topics into the store, then record it.

The order of writes is what makes a run safe to kill at any point: data segments first (named
by their first offset, so a re-run writes the same objects), then the metadata snapshot, then
the manifest, then its sequence entry (the commit). A run that dies before the commit records
no progress; the next run starts again from the last committed manifest and completes the work.
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
    MissingPartition,
    RetiredTopic,
    adopt_legacy,
    latest_manifest,
    metadata_key,
    new_backup_id,
    next_sequence,
    write_manifest,
)
from dr.backup.chain import lost_catalog
from dr.backup.copy import (
    BackupCancelled,
    BackupError,
    ProgressEvent,
    copy_records,
)
from dr.backup.lock import JobLock
from dr.backup.metadata import encode_metadata, snapshot_metadata
from dr.backup.partitions import partition_states
from dr.backup.plan import (
    BackupPlan,
    apply_data_horizon,
    partition_entry,
    plan_backup,
)
from dr.backup.workers import copy_with_workers
from dr.config.schema import BackupJob, Settings
from dr.errors import UsageError
from dr.kafka import admin as kadmin
from dr.kafka.client import admin_client
from dr.log import get_logger
from dr.operation import operation
from dr.state import StateStore
from dr.storage import EncryptedStore, ObjectStore, open_store, put_encrypted

__all__ = [
    "BackupCancelled",
    "BackupError",
    "BackupResult",
    "ProgressEvent",
    "run_backup",
    "select_topics",
]

log = get_logger(__name__)

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
    sequence: int = 0
    missing: tuple[MissingPartition, ...] = ()
    retired: tuple[RetiredTopic, ...] = ()

    @property
    def partial(self) -> bool:
        return bool(self.missing)

    def to_json(self) -> dict[str, object]:
        return {
            "backup_id": self.backup_id,
            "job": self.job,
            "sequence": self.sequence,
            "status": "PARTIAL" if self.partial else "DONE",
            "records": self.records,
            "bytes": self.bytes,
            "partitions": self.partitions,
            "topics": self.topics,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "gaps": [g.__dict__ for g in self.gaps],
            "missing_partitions": [m.__dict__ for m in self.missing],
            "retired_topics": [r.__dict__ for r in self.retired],
        }


def run_backup(
    settings: Settings,
    job: str,
    *,
    cancel: threading.Event | None = None,
    progress: Callable[[ProgressEvent], None] | None = None,
    allow_partial: bool | None = None,
) -> BackupResult:
    """Run backup job `job` once; returns what it stored.

    ``allow_partial`` overrides the job's allow_partial setting. Raises UsageError for an
    unknown job, BackupError/KafkaError/StorageError when the run fails (nothing recorded
    beyond durable data), BackupCancelled when `cancel` was set.
    """
    if job not in settings.backups:
        raise UsageError(
            f"no backup job named '{job}' (jobs: {', '.join(settings.backups) or 'none'})"
        )
    assert settings.state is not None  # set by the config loader
    spec = settings.backups[job]
    partial_ok = spec.allow_partial if allow_partial is None else allow_partial
    store = open_store(settings.storage[spec.storage])
    lock = JobLock(settings, job, store, what="backup")
    with operation(StateStore(settings.state), kind="backup", name=job, lock=lock) as op:
        result = _run(
            settings,
            job,
            store,
            cancel=cancel,
            progress=progress,
            allow_partial=partial_ok,
            fence=lock.fence,
        )
        op.succeeded(backup_id=result.backup_id, records=result.records, bytes=result.bytes)
        return result


def _run(
    settings: Settings,
    job: str,
    store: ObjectStore,
    *,
    cancel: threading.Event | None,
    progress: Callable[[ProgressEvent], None] | None,
    allow_partial: bool,
    fence: Callable[[], None],
) -> BackupResult:
    spec = settings.backups[job]
    cluster = settings.clusters[spec.cluster]
    started = datetime.now(UTC)
    backup_id = new_backup_id(job, started)
    log.info("backup_started", job=job, backup_id=backup_id, store=store.url)
    # Holding the job's lock: whatever temporaries exist were left by a killed run, however
    # recent (a run started right after the kill cleans them too).
    store.clean_temporaries(older_than_s=0, under=f"{job}/")
    adopt_legacy(store, job)
    _refuse_lost_catalog(store, job)
    previous = latest_manifest(store, job)
    check_encryption_kept(store, previous, job=job, storage=settings.backups[job].storage)
    sequence = next_sequence(store, job)
    admin = admin_client(cluster)
    cid = kadmin.cluster_id(admin, cluster.timeout_s)
    if previous is not None and previous.cluster_id != cid:
        raise BackupError(
            f"job '{job}': cluster '{spec.cluster}' now has id {cid}, its backups were taken from "
            f"{previous.cluster_id}; a replaced cluster needs a new job (or new storage prefix)"
        )
    listing = kadmin.list_topic_partitions(admin, cluster.timeout_s)
    topics = select_topics(listing, spec)
    if not topics:
        raise BackupError(
            f"job '{job}': no topic of cluster '{spec.cluster}' matches {spec.topics} (a "
            "topic kafka-dr may not Describe is not listed: check its ACLs if the topic exists)"
        )
    states = partition_states(cluster, topics, wait_s=spec.leader_wait_s)
    plan = plan_backup(
        previous, states, existing_topics=set(listing), backup_id=backup_id, now=started
    )
    _check_missing(job, plan, allow_partial)
    _log_plan(job, plan)
    copy = copy_records if spec.workers == 1 else copy_with_workers
    records, stored = copy(settings, spec, job, plan.partitions, store, cancel, progress)
    ids = {s.topic: s.topic_id for s in states if s.topic_id}
    # A fresh client: the first one may still wait on a broker that died since (as controller).
    admin = admin_client(cluster)
    metadata = encode_metadata(snapshot_metadata(admin, topics, cluster.timeout_s, topic_ids=ids))
    meta_key = metadata_key(job, backup_id)
    stored_metadata = put_encrypted(store, meta_key, metadata)
    if cancel is not None and cancel.is_set():
        raise BackupCancelled(f"backup {backup_id} of job '{job}' cancelled: nothing recorded")
    finished = datetime.now(UTC)
    manifest = _manifest(
        spec,
        job,
        plan,
        previous,
        backup_id=backup_id,
        sequence=sequence,
        cluster_id=cid,
        times=(started, finished),
        counts=(records, stored),
        metadata=(meta_key, hashlib.sha256(stored_metadata).hexdigest()),
    )
    if stored_metadata is not metadata:  # encrypted: the plaintext's digest, for --deep
        manifest = replace(manifest, metadata_plain_sha256=hashlib.sha256(metadata).hexdigest())
    log_start = {(s.topic, s.partition): s.earliest for s in states if s.problem is None}
    manifest = apply_data_horizon(manifest, spec.retention.keep_days, finished, log_start)
    fence()  # another host took the job's lease over: this run must not commit
    manifest = write_manifest(store, manifest)
    result = BackupResult(
        backup_id=backup_id,
        job=job,
        records=records,
        bytes=stored,
        partitions=len(plan.partitions),
        topics=len(topics),
        started_at=started,
        finished_at=finished,
        gaps=tuple(plan.gaps),
        sequence=manifest.sequence,
        missing=tuple(plan.missing),
        retired=tuple(plan.retired),
    )
    log.info(
        "backup_committed",
        job=job,
        backup_id=backup_id,
        sequence=manifest.sequence,
        status=manifest.status,
        records=records,
        bytes=stored,
        partitions=len(plan.partitions),
        gaps=len(plan.gaps),
        missing=len(plan.missing),
        duration_s=round((finished - started).total_seconds(), 2),
    )
    return result


def _manifest(
    spec: BackupJob,
    job: str,
    plan: BackupPlan,
    previous: Manifest | None,
    *,
    backup_id: str,
    sequence: int,
    cluster_id: str,
    times: tuple[datetime, datetime],
    counts: tuple[int, int],
    metadata: tuple[str, str],
) -> Manifest:
    entries = [partition_entry(p) for p in plan.partitions] + plan.unchanged
    return Manifest(
        backup_id=backup_id,
        job=job,
        cluster=spec.cluster,
        cluster_id=cluster_id,
        started_at=times[0].isoformat(),
        finished_at=times[1].isoformat(),
        parent=previous.backup_id if previous else None,
        parent_sha256=previous.sha256 or None if previous else None,
        sequence=sequence,
        compression=spec.compression,
        records=counts[0],
        bytes=counts[1],
        metadata_key=metadata[0],
        metadata_sha256=metadata[1],
        partitions=tuple(sorted(entries, key=lambda e: (e.topic, e.partition))),
        gaps_found=len(plan.gaps),
        status="PARTIAL" if plan.missing else "DONE",
        missing_partitions=tuple(plan.missing),
        retired_topics=tuple(plan.retired),
    )


def check_encryption_kept(
    store: ObjectStore, previous: Manifest | None, *, job: str, storage: str
) -> None:
    """Raise BackupError when the job's latest backup is encrypted and the store is opened
    without keys: a configuration that lost its encryption section must not start storing
    records in the clear beside encrypted backups."""
    if previous is None or previous.metadata_plain_sha256 is None:
        return
    if isinstance(store, EncryptedStore):
        return
    raise BackupError(
        f"job '{job}': its latest backup {previous.backup_id} is encrypted, and "
        f"storage.{storage} has no encryption keys: this run would store records unencrypted "
        f"(restore storage.{storage}.encryption, or back up into another store)"
    )


def _refuse_lost_catalog(store: ObjectStore, job: str) -> None:
    """Raise BackupError when committed backups lost their sequence entries: a new chain
    would leave them out of every listing, and prune would delete them."""
    lost = lost_catalog(store, job)
    if lost:
        raise BackupError(
            f"job '{job}': {len(lost)} committed backups lost their sequence entries "
            f"({job}/sequence/ deleted out of band?), the first {lost[0].object}; a run now "
            "would start a new chain and prune would then delete them: put "
            f"{job}/sequence/ back from a copy of the store, or move {job}/ away to start afresh"
        )


def _check_missing(job: str, plan: BackupPlan, allow_partial: bool) -> None:
    if not plan.missing:
        return
    names = ", ".join(f"{m.topic}-{m.partition} ({m.reason})" for m in plan.missing[:5])
    more = f" and {len(plan.missing) - 5} more" if len(plan.missing) > 5 else ""
    if not allow_partial:
        raise BackupError(
            f"job '{job}': {len(plan.missing)} partitions cannot be backed up: {names}{more}; "
            "bring their leaders back, or run with --allow-partial to record a PARTIAL backup"
        )
    log.error("backup_partial", job=job, missing=len(plan.missing), partitions=names + more)


def _log_plan(job: str, plan: BackupPlan) -> None:
    for p in plan.partitions:
        if p.gap is not None:
            log.error(
                "backup_gap",
                job=job,
                topic=p.topic,
                partition=p.partition,
                missing_from=p.gap.start_offset,
                missing_to=p.gap.end_offset,
                reason=p.gap.reason,
            )
    for retired in plan.retired:
        log.warning(
            "backup_topic_retired",
            job=job,
            topic=retired.topic,
            topic_id=retired.topic_id,
            reason=retired.reason,
            held_by=retired.held_by,
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
