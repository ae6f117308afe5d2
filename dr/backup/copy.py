"""Copying offset ranges of partitions into data segments: the hot path of a backup.

Records are appended to a per-partition buffer as they arrive; a segment is cut when it holds
`segment_max_records` records or `segment_max_mb` MiB, and is compressed, hashed and stored on
worker threads while the next one fills.
"""

from __future__ import annotations

import hashlib
import struct
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka import KafkaError as RdKafkaError

from dr.backup.catalog import Gap, PartitionEntry, SegmentRef, segment_key
from dr.backup.format import (
    NO_HEADERS,
    SegmentHeader,
    append_record,
    encode_segment,
)
from dr.backup.tuning import consumer_settings
from dr.config.schema import BackupJob, ClusterSettings, Settings
from dr.errors import DrError, KafkaError
from dr.kafka.authz import refusal
from dr.kafka.client import confluent_config, librdkafka_logger
from dr.log import get_logger
from dr.storage import EncryptedStore, ObjectStore

log = get_logger(__name__)

MIB = 1024 * 1024
STALL_TIMEOUT_S = 120.0
MAX_PENDING_UPLOADS = 4
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
    topic_id: str | None = None


@dataclass
class _Open:
    """A partition being copied: its current segment's buffer."""

    plan: PartitionPlan
    seg_start: int
    next_offset: int = 0  # after the last record appended
    buf: bytearray = field(default_factory=bytearray)
    count: int = 0
    first_ts: int | None = None
    last_ts: int | None = None


class _Uploader:
    """Encodes and stores segments on two threads, at most a few in flight."""

    def __init__(self, store: ObjectStore, job: str, compression: str, max_in_flight: int) -> None:
        self.store, self.job, self.compression = store, job, compression
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="segment")
        self.pending: list[tuple[PartitionPlan, int, Future[SegmentRef]]] = []
        self.bytes = 0
        self.in_flight = 0  # payload bytes submitted and not yet stored
        self.max_in_flight = max_in_flight
        self.token = uuid.uuid4().hex[:12]  # names this run's segments where a key is taken

    def submit(self, st: _Open, end: int) -> None:
        """Hand st's segment, up to end, to the threads that store it, and start st's next
        segment at end: the buffer itself changes hands (no copy), st gets a new one."""
        plan, payload = st.plan, st.buf
        header = SegmentHeader(
            topic=plan.topic,
            partition=plan.partition,
            start_offset=st.seg_start,
            end_offset=end,
            records=st.count,
            compression=self.compression,  # type: ignore[arg-type]
            first_timestamp=st.first_ts,
            last_timestamp=st.last_ts,
            payload_bytes=len(payload),
        )
        key = segment_key(self.job, plan.topic, plan.partition, st.seg_start, plan.topic_id)
        # Nothing appends to a buffer once it is submitted: st forgets it here.
        st.seg_start, st.buf, st.count, st.first_ts, st.last_ts = end, bytearray(), 0, None, None
        self.in_flight += len(payload)
        future = self.pool.submit(self._store, key, header, payload)
        self.pending.append((plan, len(payload), future))
        while len(self.pending) > MAX_PENDING_UPLOADS or (
            self.in_flight > self.max_in_flight and len(self.pending) > 1
        ):
            self._collect_one()

    def _store(self, key: str, header: SegmentHeader, payload: bytearray) -> SegmentRef:
        data = encode_segment(header, payload)
        key, stored = store_new_segment(self.store, key, data, self.token)
        return SegmentRef(
            key=key,
            start_offset=header.start_offset,
            end_offset=header.end_offset,
            records=header.records,
            bytes=len(stored),
            sha256=hashlib.sha256(stored).hexdigest(),
            first_timestamp=header.first_timestamp,
            last_timestamp=header.last_timestamp,
            plain_sha256=None if stored is data else hashlib.sha256(data).hexdigest(),
        )

    def _collect_one(self) -> None:
        plan, size, future = self.pending.pop(0)
        ref = future.result()
        plan.segments.append(ref)
        self.bytes += ref.bytes
        self.in_flight -= size

    def finish(self) -> None:
        while self.pending:
            self._collect_one()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def store_new_segment(store: ObjectStore, key: str, data: bytes, token: str) -> tuple[str, bytes]:
    """Store a segment without ever replacing an object: under key when none is there, else
    under key with this run's token; returns the key used and the bytes as stored.

    A segment's key is taken when a killed run left it, or when a committed backup holds it (a
    topic backed up again from its log start after it left the job's topics, or a host whose
    lease was taken over while it still copied): replacing it would break that backup's
    checksum. Leftovers nothing references are swept by the next prune."""
    inner = store.inner if isinstance(store, EncryptedStore) else store
    stored = store.seal(key, data) if isinstance(store, EncryptedStore) else data
    if inner.put_if_absent(key, stored):
        return key, stored
    own = f"{key.removesuffix('.seg')}.{token}.seg"
    stored = store.seal(own, data) if isinstance(store, EncryptedStore) else data
    inner.put_bytes(own, stored)  # a key of this run's own: nothing else writes it
    return own, stored


def copy_records(
    settings: Settings,
    spec: BackupJob,
    job: str,
    plans: list[PartitionPlan],
    store: ObjectStore,
    cancel: threading.Event | None,
    progress: Callable[[ProgressEvent], None] | None,
) -> tuple[int, int]:
    """Copy every planned offset range into segments; returns (records, bytes stored).

    Memory stays within the job's memory_budget_mb whatever the number of partitions: when the
    records buffered for open segments pass their share, the largest are cut and stored early.
    """
    todo = [p for p in plans if p.start < p.end]
    if not todo:
        return 0, 0
    cluster = settings.clusters[spec.cluster]
    budget = MemoryBudget.of(spec)
    consumer = Consumer(
        confluent_config(
            cluster,
            **consumer_settings(
                job, spec.client_overrides.consumer, fetch_queue_bytes=budget.fetch_queue
            ),
        ),
        logger=librdkafka_logger(),
    )
    uploader = _Uploader(store, job, spec.compression, budget.uploads)
    max_records = spec.segment_max_records
    max_bytes = budget.segment
    opened = {(p.topic, p.partition): _Open(p, p.start, p.start) for p in todo}
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
            # consume() waits out its timeout until it has num_messages: asking for no more
            # than can still come (records left in range, one EOF per open partition) lets the
            # last call return as soon as every partition reached its planned end.
            batch: list[Any] = consumer.consume(num_messages=_wanted(opened), timeout=0.5)
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
                    _refused(cluster, err, msg)
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
            _keep_within(opened, uploader, budget.buffers)
            if progress is not None:
                progress(
                    ProgressEvent(records, uploader.bytes, expected, total - len(opened), total)
                )
        uploader.finish()
    finally:
        uploader.close()
        consumer.close()
    return records, uploader.bytes


@dataclass(frozen=True)
class MemoryBudget:
    """How a job's memory budget is shared: the consumer's fetch queue, the records buffered
    for open segments, the segments being compressed and stored; and the largest segment."""

    fetch_queue: int
    buffers: int
    uploads: int
    segment: int

    @classmethod
    def of(cls, spec: BackupJob) -> MemoryBudget:
        total = spec.memory_budget_mb * MIB
        quarter = max(4 * MIB, total // 4)
        return cls(
            fetch_queue=quarter,
            buffers=max(8 * MIB, total // 2),
            uploads=quarter,
            segment=min(spec.segment_max_mb * MIB, quarter),
        )


def _wanted(opened: dict[TP, _Open]) -> int:
    """How many messages one consume() may wait for: at most the records left in the open
    partitions' ranges plus one end-of-partition event each (records past a range end fill
    the rest), and never more than 10,000."""
    left = len(opened)
    for st in opened.values():
        left += st.plan.end - st.next_offset
        if left >= 10000:
            return 10000
    return left


def _keep_within(opened: dict[TP, _Open], uploader: _Uploader, limit: int) -> None:
    """Cut the largest open segments early while their buffers hold more than limit bytes."""
    buffered = sum(len(st.buf) for st in opened.values())
    if buffered <= limit:
        return
    for st in sorted(opened.values(), key=lambda o: len(o.buf), reverse=True):
        if buffered <= limit // 2 or not st.count:
            break
        buffered -= len(st.buf)
        uploader.submit(st, st.next_offset)


def _fill(
    st: _Open, batch: list[Any], i: int, uploader: _Uploader, max_records: int, max_bytes: int
) -> tuple[int, int, bool]:
    """Append the run of messages of st's partition that starts at batch[i] to its segment.

    The hot path of a backup: locals only, and the common record (key, value, no headers) in
    one pack (fixed fields, key and value length: a struct per key length) and two appends.
    Returns (next index, records added, partition reached its planned end).
    """
    topic, partition, end = st.plan.topic, st.plan.partition, st.plan.end
    last = end - 1  # the last offset of the planned range
    buf, count, last_ts = st.buf, st.count, st.last_ts
    heads, no_headers = _COMMON_HEADS, NO_HEADERS
    n, first = len(batch), i
    closed = past = False
    offset = st.next_offset - 1
    while i < n:
        msg = batch[i]
        if msg.partition() != partition or msg.error() is not None or msg.topic() != topic:
            break
        offset = msg.offset()
        if offset > last:
            closed = past = True
            break
        ts_type, ts = msg.timestamp()
        key, value = msg.key(), msg.value()
        if key is not None and value is not None and msg.headers() is None:
            key_len = len(key)
            head = heads.get(key_len) or _common_head(key_len)
            buf += head(offset, ts, ts_type, key_len, key, len(value))
            buf += value
            buf += no_headers
        else:
            append_record(buf, offset, ts, ts_type, key, value, msg.headers())
        if count == 0:
            st.first_ts = ts
        count += 1
        if last_ts is None or ts > last_ts:
            last_ts = ts
        i += 1
        if offset == last:
            closed = True
            break
        if count >= max_records or len(buf) >= max_bytes:
            st.count, st.last_ts = count, last_ts
            uploader.submit(st, offset + 1)
            buf, count, last_ts = st.buf, 0, None
    # A record past the range ends it: everything below end was read.
    st.count, st.last_ts, st.next_offset = count, last_ts, end if past else offset + 1
    # Each record appended moved i by one; a record past the range is passed over.
    return i + past, i - first, closed


# Packers of the common record's head by key length: offset, timestamp, timestamp type, key
# length, key, value length (RECORD_HEAD, the key, VALUE_LEN in one call).
_COMMON_HEADS: dict[int, Callable[..., bytes]] = {}


def _common_head(key_len: int) -> Callable[..., bytes]:
    pack = struct.Struct(f">qqbi{key_len}si").pack
    if len(_COMMON_HEADS) < 256:  # keys of many lengths: the rest are packed on the fly
        _COMMON_HEADS[key_len] = pack
    return pack


def _close(st: _Open, uploader: _Uploader, consumer: Consumer) -> None:
    """The partition reached its planned end: store its last segment (which may hold no
    record when only transaction markers or aborted records remained)."""
    if st.seg_start < st.plan.end or st.count:
        uploader.submit(st, st.plan.end)
    consumer.incremental_unassign([TopicPartition(st.plan.topic, st.plan.partition)])


def _refused(cluster: ClusterSettings, err: RdKafkaError, msg: Any) -> None:
    """Raise NotAuthorizedError when the cluster refused to let kafka-dr read the topic."""
    denied = refusal(cluster, err, operation="READ", resource=f"topic '{msg.topic()}'")
    if denied is not None:
        raise denied


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
