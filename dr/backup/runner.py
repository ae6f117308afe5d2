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
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka import KafkaError as RdKafkaError

from dr.backup.catalog import (
    Gap,
    Manifest,
    PartitionEntry,
    SegmentRef,
    latest_manifest,
    metadata_key,
    new_backup_id,
    segment_key,
    write_manifest,
)
from dr.backup.format import (
    NO_HEADERS,
    RECORD_HEAD,
    VALUE_LEN,
    SegmentHeader,
    append_record,
    encode_segment,
)
from dr.backup.metadata import encode_metadata, snapshot_metadata
from dr.config.schema import BackupJob, Settings
from dr.errors import DrError, KafkaError, UsageError
from dr.kafka import admin as kadmin
from dr.kafka.client import admin_client, confluent_config, librdkafka_logger
from dr.log import get_logger
from dr.state import StateStore
from dr.storage import ObjectStore, open_store

log = get_logger(__name__)

ADMIN_TIMEOUT_S = 30.0
STALL_TIMEOUT_S = 120.0
MAX_PENDING_UPLOADS = 4
INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state", "__cluster_metadata"})
TP = tuple[str, int]


class BackupError(DrError):
    """A backup run failed; nothing beyond what is durable was recorded."""


class BackupCancelled(DrError):
    """The run was asked to stop; it recorded nothing."""

    exit_code = 130


@dataclass(frozen=True)
class ProgressEvent:
    records: int
    bytes: int
    records_expected: int
    partitions_done: int
    partitions_total: int


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


@dataclass
class PartitionPlan:
    """Where one partition's copy starts and ends in this run."""

    topic: str
    partition: int
    start: int
    end: int
    carried: PartitionEntry | None
    gap: Gap | None = None
    segments: list[SegmentRef] = field(default_factory=list)


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
    records, stored = _copy(settings, spec, job, plans, store, cancel, progress)
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


@dataclass
class _Open:
    """A partition being copied: its current segment's buffer."""

    plan: PartitionPlan
    seg_start: int
    buf: bytearray = field(default_factory=bytearray)
    count: int = 0
    first_ts: int | None = None
    last_ts: int | None = None


class _Uploader:
    """Encodes and stores segments on two threads, at most a few in flight."""

    def __init__(self, store: ObjectStore, job: str, compression: str) -> None:
        self.store, self.job, self.compression = store, job, compression
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="segment")
        self.pending: list[tuple[PartitionPlan, Future[SegmentRef]]] = []
        self.bytes = 0

    def submit(self, st: _Open, end: int) -> None:
        plan = st.plan
        header = SegmentHeader(
            topic=plan.topic,
            partition=plan.partition,
            start_offset=st.seg_start,
            end_offset=end,
            records=st.count,
            compression=self.compression,  # type: ignore[arg-type]
            first_timestamp=st.first_ts,
            last_timestamp=st.last_ts,
            payload_bytes=len(st.buf),
        )
        key = segment_key(self.job, plan.topic, plan.partition, st.seg_start)
        self.pending.append((plan, self.pool.submit(self._store, key, header, bytes(st.buf))))
        while len(self.pending) > MAX_PENDING_UPLOADS:
            self._collect_one()

    def _store(self, key: str, header: SegmentHeader, payload: bytes) -> SegmentRef:
        data = encode_segment(header, payload)
        self.store.put_bytes(key, data)
        return SegmentRef(
            key=key,
            start_offset=header.start_offset,
            end_offset=header.end_offset,
            records=header.records,
            bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            first_timestamp=header.first_timestamp,
            last_timestamp=header.last_timestamp,
        )

    def _collect_one(self) -> None:
        plan, future = self.pending.pop(0)
        ref = future.result()
        plan.segments.append(ref)
        self.bytes += ref.bytes

    def finish(self) -> None:
        while self.pending:
            self._collect_one()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def _copy(
    settings: Settings,
    spec: BackupJob,
    job: str,
    plans: list[PartitionPlan],
    store: ObjectStore,
    cancel: threading.Event | None,
    progress: Callable[[ProgressEvent], None] | None,
) -> tuple[int, int]:
    """Copy every planned offset range into segments; returns (records, bytes stored)."""
    todo = [p for p in plans if p.start < p.end]
    if not todo:
        return 0, 0
    cluster = settings.clusters[spec.cluster]
    consumer = Consumer(
        confluent_config(
            cluster,
            **{
                "group.id": f"kafka-dr-backup-{job}",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "isolation.level": "read_committed",
                "enable.partition.eof": True,
                "auto.offset.reset": "error",
                "fetch.max.bytes": 64 * 1024 * 1024,
                "max.partition.fetch.bytes": 8 * 1024 * 1024,
                "queued.max.messages.kbytes": 256 * 1024,
                "fetch.wait.max.ms": 100,
            },
        ),
        logger=librdkafka_logger(),
    )
    uploader = _Uploader(store, job, spec.compression)
    max_records = spec.segment_max_records
    max_bytes = spec.segment_max_mb * 1024 * 1024
    opened = {(p.topic, p.partition): _Open(p, p.start) for p in todo}
    expected = sum(p.end - p.start for p in todo)
    records = 0
    total = len(todo)
    try:
        consumer.assign([TopicPartition(p.topic, p.partition, p.start) for p in todo])
        last_activity = time.monotonic()
        while opened:
            if cancel is not None and cancel.is_set():
                raise BackupCancelled(f"backup of job '{job}' cancelled: nothing recorded")
            # Any: the hot loop reads each message's fields once, without Optional checks.
            batch: list[Any] = consumer.consume(num_messages=10000, timeout=0.5)
            if not batch:
                if time.monotonic() - last_activity > STALL_TIMEOUT_S:
                    stuck = ", ".join(f"{t}-{p}" for t, p in sorted(opened))
                    raise KafkaError(
                        f"job '{job}': no progress for {STALL_TIMEOUT_S:.0f}s on {stuck}"
                    )
                continue
            last_activity = time.monotonic()
            i, n = 0, len(batch)
            while i < n:
                msg = batch[i]
                err = msg.error()
                if err is not None:
                    _handle_error(err, msg, opened, uploader, consumer)
                    i += 1
                    continue
                st = opened.get((msg.topic(), msg.partition()))
                if st is None:
                    i += 1
                    continue
                i, added, closed = _fill(st, batch, i, uploader, max_records, max_bytes)
                records += added
                if closed:
                    _close(st, uploader, consumer)
                    del opened[(st.plan.topic, st.plan.partition)]
            if progress is not None:
                progress(
                    ProgressEvent(records, uploader.bytes, expected, total - len(opened), total)
                )
        uploader.finish()
    finally:
        uploader.close()
        consumer.close()
    return records, uploader.bytes


def _fill(
    st: _Open, batch: list[Any], i: int, uploader: _Uploader, max_records: int, max_bytes: int
) -> tuple[int, int, bool]:
    """Append the run of messages of st's partition that starts at batch[i] to its segment.

    The hot path of a backup: locals only, and the common record (key, value, no headers) in
    three appends. Returns (next index, records added, partition reached its planned end).
    """
    topic, partition, end = st.plan.topic, st.plan.partition, st.plan.end
    buf, count, last_ts = st.buf, st.count, st.last_ts
    pack_head, pack_len, no_headers = RECORD_HEAD.pack, VALUE_LEN.pack, NO_HEADERS
    added, n = 0, len(batch)
    closed = False
    while i < n:
        msg = batch[i]
        if msg.error() is not None or msg.partition() != partition or msg.topic() != topic:
            break
        offset = msg.offset()
        if offset >= end:
            closed = True
            i += 1
            break
        ts_type, ts = msg.timestamp()
        key, value, headers = msg.key(), msg.value(), msg.headers()
        if headers is None and key is not None and value is not None:
            buf += pack_head(offset, ts, ts_type, len(key))
            buf += key
            buf += pack_len(len(value))
            buf += value
            buf += no_headers
        else:
            append_record(buf, offset, ts, ts_type, key, value, headers)
        if count == 0:
            st.first_ts = ts
        count += 1
        added += 1
        if last_ts is None or ts > last_ts:
            last_ts = ts
        i += 1
        if offset + 1 >= end:
            closed = True
            break
        if count >= max_records or len(buf) >= max_bytes:
            st.count, st.last_ts = count, last_ts
            uploader.submit(st, offset + 1)
            st.seg_start, st.buf, st.first_ts = offset + 1, bytearray(), None
            buf, count, last_ts = st.buf, 0, None
    st.count, st.last_ts = count, last_ts
    return i, added, closed


def _close(st: _Open, uploader: _Uploader, consumer: Consumer) -> None:
    """The partition reached its planned end: store its last segment (which may hold no
    record when only transaction markers or aborted records remained)."""
    if st.seg_start < st.plan.end or st.count:
        uploader.submit(st, st.plan.end)
    consumer.incremental_unassign([TopicPartition(st.plan.topic, st.plan.partition)])


def _handle_error(
    err: RdKafkaError, msg: object, opened: dict[TP, _Open], uploader: _Uploader, consumer: Consumer
) -> None:
    code = err.code()
    topic, partition = msg.topic(), msg.partition()  # type: ignore[attr-defined]
    if code == RdKafkaError._PARTITION_EOF:
        st = opened.get((topic, partition))
        if st is not None and msg.offset() >= st.plan.end:  # type: ignore[attr-defined]
            _close(st, uploader, consumer)
            del opened[(topic, partition)]
        return
    if code == RdKafkaError.OFFSET_OUT_OF_RANGE:
        raise BackupError(
            f"{topic}-{partition}: records were deleted by retention during the backup; "
            "run it again (the loss will be reported as a gap)"
        )
    if err.fatal() or not err.retriable():
        if code in (RdKafkaError._TRANSPORT, RdKafkaError._ALL_BROKERS_DOWN):
            log.warning("backup_consumer_error", error=err.str())
            return
        raise KafkaError(f"consuming {topic}-{partition}: {err.str()}")
    log.warning("backup_consumer_error", error=err.str())
