"""Before a resumed restore writes: each target partition must hold exactly the first N records
of the backup's stream for it, N being how far the partition's end moved since the restore began.

Records are written in order without gaps (see restore_write), so a partition written only by
this restore ends with the backup's record number N. Its last record is compared with that one
(key, value, headers, timestamp); a partition that ends with another record, that holds more
records than the backup has for it, or that ends before where the restore began, was written to
or changed by something else, and resuming would mix or lose records: it is refused.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition

from dr.backup.catalog import Manifest, PartitionEntry
from dr.backup.format import RawRecord
from dr.backup.restore_plan import RestoreError, RestorePlan, TopicRestore
from dr.backup.restore_read import checked_segments
from dr.config.schema import ClusterSettings
from dr.kafka.client import confluent_config, librdkafka_logger
from dr.storage import ObjectStore

TP = tuple[str, int]
_ADVICE = "delete the target topic and run the same restore again"


@dataclass(frozen=True)
class Comparable:
    """What a restored record must keep of its backed-up record."""

    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]
    timestamp: int | None  # None: not compared (a LogAppendTime target re-stamps records)


def written_timestamp(timestamp: int, timestamp_type: int) -> int:
    """The timestamp a restore writes for a backed-up record: its own; -1 (Kafka's "no
    timestamp") for a record that had none (timestamp type 0, the v0 message format)."""
    return timestamp if timestamp_type else -1


def check_resume(
    cluster: ClusterSettings,
    store: ObjectStore,
    manifest: Manifest,
    plan: RestorePlan,
    *,
    ends: dict[TP, int],
    bases: dict[str, dict[str, int]],
    prefetch: ThreadPoolExecutor,
) -> None:
    """Raises RestoreError naming the first target partition that does not hold exactly a
    prefix of the backup's records; returns when every one does."""
    reader = _TargetReader(cluster)
    try:
        for topic in plan.topics:
            entries = {p.partition: p for p in manifest.partitions if p.topic == topic.source}
            for partition in range(topic.partitions):
                tp = (topic.target, partition)
                base = bases[topic.target][str(partition)]
                _check_partition(
                    store,
                    topic,
                    entries.get(partition),
                    until_ms=plan.until_ms,
                    tp=tp,
                    base=base,
                    end=ends[tp],
                    reader=reader,
                    prefetch=prefetch,
                )
    finally:
        reader.close()


def _check_partition(
    store: ObjectStore,
    topic: TopicRestore,
    entry: PartitionEntry | None,
    *,
    until_ms: int | None,
    tp: TP,
    base: int,
    end: int,
    reader: _TargetReader,
    prefetch: ThreadPoolExecutor,
) -> None:
    name = f"{tp[0]}-{tp[1]}"
    present = end - base
    if present < 0:
        raise RestoreError(
            f"resume refused: {name} now ends at offset {end}, before offset {base} where this "
            f"restore began (the topic was deleted or truncated); {_ADVICE}"
        )
    if present == 0:
        return
    found = 0
    expected: RawRecord | None = None
    if entry is not None:
        for position, record in _stream(store, entry, until_ms, present - 1, prefetch):
            found = position + 1
            if position == present - 1:
                expected = record
                break
    if expected is None:
        raise RestoreError(
            f"resume refused: {name} holds {present} records from this restore, more records "
            f"than the backup has for it ({found}): something else wrote to it; {_ADVICE}"
        )
    stamped = topic.configs.get("message.timestamp.type") != "LogAppendTime"
    want = Comparable(
        expected[3],
        expected[4],
        tuple(expected[5] or ()),
        written_timestamp(expected[1], expected[2]) if stamped else None,
    )
    got = reader.record(tp, end - 1, with_timestamp=stamped)
    if got != want:
        raise RestoreError(
            f"resume refused: {name} ends (offset {end - 1}) with a record that is not the "
            f"backup's record {present} of that partition (offset {expected[0]} in the "
            f"backup): something else wrote to it or it was changed; {_ADVICE}"
        )


def _stream(
    store: ObjectStore,
    entry: PartitionEntry,
    until_ms: int | None,
    wanted: int,
    prefetch: ThreadPoolExecutor,
) -> Iterator[tuple[int, RawRecord]]:
    """(position in the restored stream, record) up to `wanted`; without --until, segments
    wholly before it are passed over unread (their record counts are known)."""
    first = position = 0
    if until_ms is None:
        while first < len(entry.segments) and position + entry.segments[first].records <= wanted:
            position += entry.segments[first].records
            first += 1
    for segment in checked_segments(store, entry, prefetch, first=first):
        for record in segment.records:
            if until_ms is not None and record[1] > until_ms:
                continue
            yield position, record
            position += 1


class _TargetReader:
    """Reads single records of target partitions."""

    def __init__(self, cluster: ClusterSettings) -> None:
        self._cluster = cluster
        self._consumer: Any = None

    def record(self, tp: TP, offset: int, *, with_timestamp: bool) -> Comparable | None:
        if self._consumer is None:
            self._consumer = Consumer(
                confluent_config(
                    self._cluster,
                    **{
                        "group.id": f"kafka-dr-restore-check-{uuid.uuid4()}",
                        "enable.auto.commit": False,
                        "isolation.level": "read_uncommitted",
                        "enable.partition.eof": True,
                    },
                ),
                logger=librdkafka_logger(),
            )
        self._consumer.assign([TopicPartition(tp[0], tp[1], offset)])
        deadline = time.monotonic() + self._cluster.timeout_s
        while time.monotonic() < deadline:
            msg = self._consumer.poll(1.0)
            if msg is None or (msg.topic(), msg.partition()) != tp:
                continue  # nothing yet, or left over from the partition read before
            if msg.error() is not None:
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    return None  # no record at offset: a transaction marker (or compacted away)
                continue
            if msg.offset() != offset:
                continue
            return Comparable(
                msg.key(),
                msg.value(),
                tuple(msg.headers() or ()),
                msg.timestamp()[1] if with_timestamp else None,
            )
        raise RestoreError(
            f"cannot read offset {offset} of {tp[0]}-{tp[1]} within {self._cluster.timeout_s:g}s "
            f"(the {self._cluster.describe()} timeout_s) to check where the restore resumes"
        )

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
