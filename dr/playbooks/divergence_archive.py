"""Capturing a divergence: the old primary's records that never reached DR, kept as a backup.

The records find_divergence found are copied from the source cluster into a backup store with
the backup's own copy loop, segment writer and catalog, as one backup of the job
``divergence-<run_id>`` (no configured job: the archive belongs to the run). It is listed,
verified and restored like any backup (``kafka-dr restore BACKUP_ID --to CLUSTER --rename
SRC=DST``; dr.backup.lookup finds a job that is not configured in the configured stores).

Safe to run twice for a run: the job's lease in the store serialises two runs; once the archive
is committed (its sequence entry exists) a second run returns it without copying anything; a
run killed before its commit left only objects no sequence entry names, which the next run
deletes before it copies again. So a run ends with one complete archive, never two or half of
one.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from dr.backup.catalog import (
    Manifest,
    adopt_legacy,
    load_entry,
    metadata_key,
    new_backup_id,
    next_sequence,
    read_entry,
    sequence_numbers,
    write_manifest,
)
from dr.backup.copy import PartitionPlan, copy_records
from dr.backup.lock import lease_key
from dr.backup.metadata import encode_metadata, snapshot_metadata
from dr.backup.plan import partition_entry
from dr.config.schema import BackupJob, Settings
from dr.errors import UsageError
from dr.kafka import admin as kadmin
from dr.kafka.client import ClusterAdmin, admin_client
from dr.log import get_logger
from dr.playbooks.divergence import DivergedPartition
from dr.playbooks.divergence_match import DivergenceError
from dr.storage import ObjectStore, StoreLease, open_store, put_encrypted
from dr.storage.lease import LEASE_TTL_S

__all__ = ["ArchivedPartition", "DivergenceArchive", "archive_divergence", "archive_job"]

log = get_logger(__name__)

ARCHIVE_JOB_PREFIX = "divergence-"
Range = tuple[str, int, int, int]
Compression = Literal["zstd", "lz4", "none"]  # topic, partition, start offset, end offset


@dataclass(frozen=True)
class ArchivedPartition:
    """The diverged records of one source partition as archived: [start_offset, end_offset)."""

    topic: str
    partition: int
    start_offset: int
    end_offset: int
    records: int
    first_timestamp: datetime | None
    last_timestamp: datetime | None


@dataclass(frozen=True)
class DivergenceArchive:
    """The archive of a run's divergence: backup ``backup_id`` of job ``job`` in storage
    ``storage`` (``store_url``), its objects under ``prefix``. ``already_archived`` is True when
    an earlier call had committed it (nothing was copied this time). Timestamps are the
    earliest and latest of the archived records (None when none)."""

    backup_id: str
    job: str
    storage: str
    store_url: str
    prefix: str
    records: int
    bytes: int
    partitions: tuple[ArchivedPartition, ...]
    first_timestamp: datetime | None
    last_timestamp: datetime | None
    already_archived: bool = False


def archive_job(run_id: str) -> str:
    """The backup job name of a run's divergence archive."""
    return f"{ARCHIVE_JOB_PREFIX}{run_id}"


def archive_divergence(
    settings: Settings,
    store_name: str,
    run_id: str,
    cluster_name: str,
    partitions: Sequence[DivergedPartition],
    *,
    compression: Compression = "zstd",
    cancel: threading.Event | None = None,
) -> DivergenceArchive:
    """Copy the diverged records of ``partitions`` from cluster ``cluster_name`` into storage
    ``store_name`` as the one backup of job ``divergence-<run_id>``; returns what it holds.

    Partitions without a diverged record are left out (an archive of nothing is still written:
    the run's record that nothing diverged). Idempotent (see the module docstring). Raises
    UsageError for an unknown storage or cluster; DivergenceError when the run's archive holds
    other ranges, when records were deleted or a topic re-created since the divergence was
    found, or when the copy's counts differ from the divergence's (nothing is committed then);
    LockHeld when another run holds the archive's lease; KafkaError, StorageError.
    """
    if store_name not in settings.storage:
        raise UsageError(
            f"no storage named '{store_name}' (storage: {', '.join(settings.storage)})"
        )
    if cluster_name not in settings.clusters:
        raise UsageError(f"no cluster named '{cluster_name}'")
    job = archive_job(run_id)
    wanted = sorted((p for p in partitions if p.records), key=lambda p: (p.topic, p.partition))
    store = open_store(settings.storage[store_name])
    lease = StoreLease(
        store, lease_key(job), purpose=f"divergence archive of run {run_id}", ttl_s=LEASE_TTL_S
    )
    with lease.acquire(wait_s=LEASE_TTL_S + 5):
        committed = _committed(store, job)
        if committed is not None:
            _same_ranges(committed, wanted, run_id)
            log.info("divergence_already_archived", run_id=run_id, backup_id=committed.backup_id)
            return _result(committed, wanted, store_name, store, already=True)
        _forget_leftovers(store, job)
        manifest = _copy(
            settings,
            store,
            job,
            wanted,
            cluster_name=cluster_name,
            run_id=run_id,
            store_name=store_name,
            compression=compression,
            cancel=cancel,
        )
        lease.check_held()  # another host took the lease over: this run must not commit
        manifest = write_manifest(store, manifest)
    result = _result(manifest, wanted, store_name, store, already=False)
    log.info(
        "divergence_archived",
        run_id=run_id,
        backup_id=result.backup_id,
        records=result.records,
        bytes=result.bytes,
        partitions=len(result.partitions),
    )
    return result


def _copy(
    settings: Settings,
    store: ObjectStore,
    job: str,
    wanted: list[DivergedPartition],
    *,
    cluster_name: str,
    run_id: str,
    store_name: str,
    compression: Compression,
    cancel: threading.Event | None,
) -> Manifest:
    """Copy the ranges, check their counts, write the metadata; the manifest to commit."""
    started = datetime.now(UTC)
    backup_id = new_backup_id(job, started)
    admin = admin_client(settings.clusters[cluster_name])
    cid = kadmin.cluster_id(admin, admin.timeout_s)
    listing = kadmin.list_topic_partitions(admin, admin.timeout_s)
    topics = {p.topic: listing[p.topic] for p in wanted if p.topic in listing}
    ids = {n: s.topic_id for n, s in kadmin.topic_states(admin, topics, admin.timeout_s).items()}
    _check_still_there(admin, wanted, ids, cluster_name)
    plans = [
        PartitionPlan(
            p.topic, p.partition, p.start_offset, p.end_offset, None, topic_id=ids[p.topic]
        )
        for p in wanted
    ]
    # The copy loop reads its cluster, compression and memory budget from a job's settings:
    # the archive's, with the defaults of any job.
    spec = BackupJob(
        cluster=cluster_name,
        topics=[re.escape(t) for t in sorted(topics)] or [".*"],
        storage=store_name,
        compression=compression,
    )
    records, stored = copy_records(settings, spec, job, plans, store, cancel, None)
    for plan, part in zip(plans, wanted, strict=True):
        copied = sum(s.records for s in plan.segments)
        if copied != part.records:
            raise DivergenceError(
                f"{part.topic}-{part.partition}: {copied} records of offsets "
                f"{part.start_offset}..{part.end_offset - 1} were copied, the divergence counted "
                f"{part.records}: the source changed since; nothing archived, find the "
                "divergence again"
            )
    metadata = encode_metadata(snapshot_metadata(admin, topics, admin.timeout_s, topic_ids=ids))
    meta_key = metadata_key(job, backup_id)
    # Sealed like a backup's (topic configs, group offsets, ACLs) when the store has keys.
    stored_metadata = put_encrypted(store, meta_key, metadata)
    encrypted = stored_metadata is not metadata
    entries = sorted((partition_entry(p) for p in plans), key=lambda e: (e.topic, e.partition))
    return Manifest(
        backup_id=backup_id,
        job=job,
        cluster=cluster_name,
        cluster_id=cid,
        started_at=started.isoformat(),
        finished_at=datetime.now(UTC).isoformat(),
        parent=None,
        sequence=next_sequence(store, job),
        compression=compression,
        records=records,
        bytes=stored,
        metadata_key=meta_key,
        metadata_sha256=hashlib.sha256(stored_metadata).hexdigest(),
        metadata_plain_sha256=hashlib.sha256(metadata).hexdigest() if encrypted else None,
        partitions=tuple(entries),
        extra={
            "divergence": {
                "run_id": run_id,
                "partitions": [
                    {
                        "topic": p.topic,
                        "partition": p.partition,
                        "replica_topic": p.replica_topic,
                        "found_by": p.found_by,
                        "last_replicated": p.last_replicated,
                    }
                    for p in wanted
                ],
            }
        },
    )


def _check_still_there(
    admin: ClusterAdmin, wanted: list[DivergedPartition], ids: dict[str, str], cluster: str
) -> None:
    """Every range is still on the cluster, in the topic it was found in."""
    for p in wanted:
        if p.topic not in ids:
            raise DivergenceError(
                f"{p.topic}-{p.partition}: the topic no longer exists on '{cluster}': its "
                f"{p.records} diverged records are gone"
            )
        if p.topic_id is not None and ids[p.topic] != p.topic_id:
            raise DivergenceError(
                f"{p.topic}-{p.partition}: the topic was re-created on '{cluster}' (id "
                f"{ids[p.topic]}, was {p.topic_id}) since the divergence was found: its "
                f"{p.records} diverged records are gone"
            )
    tps = [(p.topic, p.partition) for p in wanted]
    low = kadmin.offsets(admin, tps, "earliest", admin.timeout_s)
    for p in wanted:
        if low[(p.topic, p.partition)] > p.start_offset:
            raise DivergenceError(
                f"{p.topic}-{p.partition}: offsets {p.start_offset}.."
                f"{low[(p.topic, p.partition)] - 1} were deleted on '{cluster}' (retention?) "
                "since the divergence was found: nothing archived, find the divergence again"
            )


def _committed(store: ObjectStore, job: str) -> Manifest | None:
    """The archive committed under job, if any (its sequence entry exists)."""
    numbers = sequence_numbers(store, job)
    if not numbers:
        return None
    return load_entry(store, job, read_entry(store, job, numbers[-1]))


def _same_ranges(manifest: Manifest, wanted: list[DivergedPartition], run_id: str) -> None:
    held: set[Range] = {
        (e.topic, e.partition, e.start_offset, e.end_offset) for e in manifest.partitions
    }
    asked: set[Range] = {(p.topic, p.partition, p.start_offset, p.end_offset) for p in wanted}
    if held != asked:
        other = sorted(held ^ asked)[0]
        raise DivergenceError(
            f"the divergence archive {manifest.backup_id} of run {run_id} holds other ranges than "
            f"asked (first difference: {other[0]}-{other[1]} offsets {other[2]}..{other[3] - 1}): "
            "refusing to write a second archive for the run"
        )


def _forget_leftovers(store: ObjectStore, job: str) -> None:
    """Delete what a run killed before its commit left under the job (never the lease)."""
    store.clean_temporaries(older_than_s=60.0, under=f"{job}/")
    leftovers = [i.key for i in store.list(f"{job}/") if not i.key.startswith(f"{job}/locks/")]
    if leftovers:
        store.delete_many(leftovers)
        log.info("divergence_archive_leftovers_deleted", job=job, objects=len(leftovers))
    adopt_legacy(store, job)  # only writes the job's 'adopted' marker, as every format-2 job has


def _result(
    manifest: Manifest,
    wanted: list[DivergedPartition],
    storage: str,
    store: ObjectStore,
    *,
    already: bool,
) -> DivergenceArchive:
    found = {(p.topic, p.partition): p for p in wanted}
    parts = tuple(
        ArchivedPartition(
            e.topic,
            e.partition,
            e.start_offset,
            e.end_offset,
            e.records,
            found[(e.topic, e.partition)].first_timestamp,
            found[(e.topic, e.partition)].last_timestamp,
        )
        for e in manifest.partitions
    )
    firsts = [p.first_timestamp for p in parts if p.first_timestamp is not None]
    lasts = [p.last_timestamp for p in parts if p.last_timestamp is not None]
    return DivergenceArchive(
        backup_id=manifest.backup_id,
        job=manifest.job,
        storage=storage,
        store_url=store.url,
        prefix=f"{manifest.job}/",
        records=manifest.total_records,
        bytes=manifest.total_bytes,
        partitions=parts,
        first_timestamp=min(firsts) if firsts else None,
        last_timestamp=max(lasts) if lasts else None,
        already_archived=already,
    )
