"""Reading single records at known positions: the last record of a partition, or the record
at an offset (its timestamp is what RPO is measured from).

A read gives up after timeout_s without a record; by default the cluster's own timeout_s."""

from __future__ import annotations

import hashlib
import struct
import time
import uuid
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka import KafkaError as RdKafkaError

from dr.config.schema import ClusterSettings
from dr.errors import KafkaError, NotAuthorizedError
from dr.kafka.admin import reason
from dr.kafka.authz import refusal
from dr.kafka.client import confluent_config, librdkafka_logger

TP = tuple[str, int]


@dataclass(frozen=True)
class RecordAt:
    """The first record found at or after a position."""

    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()

    def digest(self) -> str:
        """SHA-256 of what a copy keeps (key, value, headers, timestamp), not of the offset:
        the same record on a source and its replica has the same digest."""
        return record_digest(self.timestamp_ms, self.key, self.value, self.headers)


def record_digest(
    timestamp_ms: int,
    key: bytes | None,
    value: bytes | None,
    headers: Iterable[tuple[str, bytes | None]] = (),
) -> str:
    """SHA-256 of a record's key, value, headers and timestamp (see RecordAt.digest); the
    same for a record read from Kafka and the same record read from a backup segment."""
    h = hashlib.sha256()
    h.update(struct.pack(">q", timestamp_ms))
    for part in (key, value):
        h.update(b"\x00" if part is None else b"\x01" + struct.pack(">I", len(part)) + part)
    pairs = tuple(headers)
    h.update(struct.pack(">I", len(pairs)))
    for name, item in pairs:
        raw = name.encode()
        h.update(struct.pack(">I", len(raw)) + raw)
        h.update(b"\x00" if item is None else b"\x01" + struct.pack(">I", len(item)) + item)
    return h.hexdigest()


def record_at(msg: Any) -> RecordAt:
    """A consumed message as a RecordAt."""
    return RecordAt(
        msg.offset(), msg.timestamp()[1], msg.key(), msg.value(), tuple(msg.headers() or ())
    )


def consumer_for(cluster: ClusterSettings, **overrides: Any) -> Consumer:
    """A consumer that joins no group and commits nothing."""
    conf = confluent_config(
        cluster,
        **{
            "group.id": f"kafka-dr-reader-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "latest",
            "fetch.wait.max.ms": 50,
            **overrides,
        },
    )
    return Consumer(conf, logger=librdkafka_logger())


def first_records(
    cluster: ClusterSettings,
    positions: Mapping[TP, int],
    *,
    timeout_s: float | None = None,
    isolation: str = "read_uncommitted",
) -> dict[TP, RecordAt]:
    """The first record at or after each position; partitions with none are left out."""
    found: dict[TP, RecordAt] = {}

    def take(tp: TP, rec: RecordAt) -> bool:
        found[tp] = rec
        return True

    _scan(
        cluster,
        {tp: o for tp, o in positions.items() if o >= 0},
        take,
        timeout_s=timeout_s,
        isolation=isolation,
    )
    return found


def last_records(
    cluster: ClusterSettings,
    ends: Mapping[TP, int],
    *,
    window: int = 10,
    timeout_s: float | None = None,
    isolation: str = "read_uncommitted",
) -> dict[TP, RecordAt]:
    """The last record before each end offset, looking back up to `window` offsets (the very
    last offset may be a transaction marker, which is no record)."""
    wanted = {tp: end for tp, end in ends.items() if end > 0}
    found: dict[TP, RecordAt] = {}

    def take(tp: TP, rec: RecordAt) -> bool:
        if rec.offset < wanted[tp]:
            found[tp] = rec
        return rec.offset >= wanted[tp] - 1

    _scan(
        cluster,
        {tp: max(0, e - window) for tp, e in wanted.items()},
        take,
        timeout_s=timeout_s,
        isolation=isolation,
    )
    return found


def first_matching(
    cluster: ClusterSettings,
    ranges: Mapping[TP, tuple[int, int]],
    digests: Mapping[TP, str],
    *,
    timeout_s: float,
    isolation: str = "read_uncommitted",
) -> tuple[dict[TP, int], bool]:
    """The offset of the first record in each partition's [start, end) whose digest is the one
    asked, and whether the read ran out of time (otherwise a partition left out holds no such
    record in its range)."""
    found: dict[TP, int] = {}

    def take(tp: TP, rec: RecordAt) -> bool:
        if rec.offset < ranges[tp][1] and rec.digest() == digests[tp]:
            found[tp] = rec.offset
            return True
        return rec.offset >= ranges[tp][1] - 1

    started = time.monotonic()
    starts = {tp: start for tp, (start, end) in ranges.items() if start < end}
    _scan(cluster, starts, take, timeout_s=timeout_s, isolation=isolation)
    return found, bool(starts) and time.monotonic() - started >= timeout_s


def _scan(
    cluster: ClusterSettings,
    starts: Mapping[TP, int],
    take: Callable[[TP, RecordAt], bool],
    *,
    timeout_s: float | None,
    isolation: str,
) -> None:
    """Read each partition from its start, handing records to `take` until it says the
    partition is done (True), the partition ends, or the time is up."""
    if not starts:
        return
    consumer = consumer_for(cluster, **{"isolation.level": isolation})
    try:
        consumer.assign([TopicPartition(t, p, o) for (t, p), o in starts.items()])
        open_tps = set(starts)
        deadline = time.monotonic() + (cluster.timeout_s if timeout_s is None else timeout_s)
        while open_tps and time.monotonic() < deadline:
            batch: list[Any] = consumer.consume(num_messages=5000, timeout=0.2)
            for msg in batch:
                tp = (msg.topic(), msg.partition())
                if tp not in open_tps:
                    continue
                err = msg.error()
                if err is None:
                    rec = record_at(msg)
                    if not take(tp, rec):
                        continue
                elif err.code() != RdKafkaError._PARTITION_EOF:
                    raise_if_refused(cluster, err, tp[0])
                    continue
                open_tps.discard(tp)
                consumer.incremental_unassign([TopicPartition(*tp)])
    finally:
        consumer.close()


def offsets_for_times(
    cluster: ClusterSettings, times: Mapping[TP, int], *, timeout_s: float | None = None
) -> dict[TP, int]:
    """The first offset whose timestamp is at or after the given time (-1 when none). Raises
    KafkaError naming the cluster when it does not answer."""
    if not times:
        return {}
    consumer = consumer_for(cluster)
    wait = cluster.timeout_s if timeout_s is None else timeout_s
    try:
        result = consumer.offsets_for_times(
            [TopicPartition(t, p, ts) for (t, p), ts in times.items()], timeout=wait
        )
    except KafkaException as exc:
        first = next(iter(times))
        raise_if_refused(cluster, exc, first[0], operation="DESCRIBE")
        raise KafkaError(
            f"{cluster.describe()}: cannot find offsets by time (first: {first[0]}-{first[1]}) "
            f"within {wait:g}s: {reason(exc)}"
        ) from None
    finally:
        consumer.close()
    return {(tp.topic, tp.partition): tp.offset for tp in result}


def read_range(
    cluster: ClusterSettings,
    tp: TP,
    start: int,
    end: int,
    *,
    timeout_s: float | None = None,
    whole: bool = False,
) -> list[RecordAt]:
    """Every record of one partition with start <= offset < end, as far as timeout_s allows.

    With ``whole``, a read that the deadline cuts short raises KafkaError instead of returning
    what it has: the caller needs all of it (the newest checkpoints are the last records).
    """
    out: list[RecordAt] = []
    try:
        out.extend(scan_range(cluster, tp, start, end, timeout_s=timeout_s))
    except NotAuthorizedError:
        raise  # not a read cut short: nothing more will come
    except KafkaError:
        if whole:
            raise
    return out


def scan_range(
    cluster: ClusterSettings,
    tp: TP,
    start: int,
    end: int,
    *,
    timeout_s: float | None = None,
    isolation: str = "read_committed",
) -> Generator[RecordAt]:
    """Every record of [start, end) of one partition in order, as it is read (memory does not
    grow with the range). Raises KafkaError when no record comes for timeout_s before the
    range (or what the isolation level can read of it) is done, or when an offset of it is no
    longer on the cluster; what was yielded stays valid."""
    if start >= end:
        return
    timeout_s = cluster.timeout_s if timeout_s is None else timeout_s
    consumer = consumer_for(cluster, **{"isolation.level": isolation, "auto.offset.reset": "error"})
    reached = start
    try:
        consumer.assign([TopicPartition(tp[0], tp[1], start)])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            batch: list[Any] = consumer.consume(num_messages=1000, timeout=0.2)
            for msg in batch:
                err = msg.error()
                if err is not None:
                    if err.code() == RdKafkaError._PARTITION_EOF:
                        return  # all this isolation level can read
                    raise_if_refused(cluster, err, tp[0])
                    if err.code() == RdKafkaError.OFFSET_OUT_OF_RANGE:
                        raise KafkaError(
                            f"reading {tp[0]}-{tp[1]}: offset {reached} is no longer on the "
                            "cluster (deleted by retention since it was listed?)"
                        )
                    continue
                if msg.offset() >= end:
                    return
                yield record_at(msg)
                reached = msg.offset() + 1
                deadline = time.monotonic() + timeout_s
                if reached >= end:
                    return
    finally:
        consumer.close()
    raise KafkaError(
        f"{cluster.describe()}: reading {tp[0]}-{tp[1]} ({isolation}) got no record for "
        f"{timeout_s:g}s at offset {reached} of {start}..{end}"
    )


def raise_if_refused(
    cluster: ClusterSettings, error: object, topic: str, *, operation: str = "READ"
) -> None:
    """Raise NotAuthorizedError when the cluster refused kafka-dr ``operation`` on the topic."""
    denied = refusal(cluster, error, operation=operation, resource=f"topic '{topic}'")
    if denied is not None:
        raise denied
