"""Backups made by hand on a LocalStore: real segments, metadata and manifests, without Kafka.

Every object is what a backup run would write (format.py's encoding, the catalog's keys and
sha256 checksums), so verify and prune see exactly what they would see in a real store.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dr.backup.catalog import (
    Gap,
    Manifest,
    PartitionEntry,
    SegmentRef,
    metadata_key,
    new_backup_id,
    segment_key,
    write_manifest,
)
from dr.backup.format import Compression, SegmentHeader, append_record, encode_segment
from dr.storage import LocalStore

JOB = "orders-job"
CLUSTER_ID = "ZflW-T5aQTaqFkSg3E77RQ"
T0 = datetime(2024, 5, 1, tzinfo=UTC)


def encode(
    offsets: Iterable[int],
    *,
    topic: str,
    partition: int,
    start: int,
    end: int,
    timestamp_ms: int,
    compression: Compression = "zstd",
    header_partition: int | None = None,
) -> tuple[bytes, int]:
    """A segment holding one record per offset, every record stamped timestamp_ms; and its
    record count."""
    buf = bytearray()
    count = 0
    for offset in offsets:
        append_record(buf, offset, timestamp_ms, 1, f"k{offset}".encode(), b"v" * 20, None)
        count += 1
    header = SegmentHeader(
        topic=topic,
        partition=partition if header_partition is None else header_partition,
        start_offset=start,
        end_offset=end,
        records=count,
        compression=compression,
        first_timestamp=timestamp_ms if count else None,
        last_timestamp=timestamp_ms if count else None,
        payload_bytes=len(buf),
    )
    return encode_segment(header, buf), count


@dataclass
class HandmadeBackups:
    """Writes a job's objects into a LocalStore, each with the modification time given."""

    store: LocalStore
    job: str = JOB

    def segment(
        self,
        topic: str,
        partition: int,
        start: int,
        end: int,
        *,
        offsets: Iterable[int] | None = None,
        written_at: datetime = T0,
        compression: Compression = "zstd",
        header_partition: int | None = None,
    ) -> SegmentRef:
        """Store a segment covering [start, end) with a record at each of `offsets` (every
        offset by default); its records are stamped with written_at."""
        stamp = int(written_at.timestamp() * 1000)
        data, count = encode(
            range(start, end) if offsets is None else offsets,
            topic=topic,
            partition=partition,
            start=start,
            end=end,
            timestamp_ms=stamp,
            compression=compression,
            header_partition=header_partition,
        )
        key = segment_key(self.job, topic, partition, start)
        self.put(key, data, written_at)
        return SegmentRef(
            key=key,
            start_offset=start,
            end_offset=end,
            records=count,
            bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            first_timestamp=stamp if count else None,
            last_timestamp=stamp if count else None,
        )

    def backup(
        self,
        entries: Iterable[PartitionEntry],
        *,
        started_at: datetime = T0,
        parent: Manifest | None = None,
    ) -> Manifest:
        """Store the metadata and then the manifest of a backup holding `entries`."""
        backup_id = new_backup_id(self.job, started_at)
        metadata = json.dumps({"format": 1, "topics": {}}).encode()
        meta_key = metadata_key(self.job, backup_id)
        finished_at = started_at + timedelta(minutes=1)
        self.put(meta_key, metadata, finished_at)
        entries = tuple(entries)
        manifest = Manifest(
            backup_id=backup_id,
            job=self.job,
            cluster="primary",
            cluster_id=CLUSTER_ID,
            started_at=started_at.isoformat(),
            finished_at=finished_at.isoformat(),
            parent=parent.backup_id if parent else None,
            compression="zstd",
            records=sum(e.records for e in entries),
            bytes=sum(s.bytes for e in entries for s in e.segments),
            metadata_key=meta_key,
            metadata_sha256=hashlib.sha256(metadata).hexdigest(),
            partitions=entries,
        )
        write_manifest(self.store, manifest)
        return manifest

    def put(self, key: str, data: bytes, written_at: datetime) -> None:
        self.store.put_bytes(key, data)
        stamp = written_at.timestamp()
        os.utime(self.store.root.joinpath(*key.split("/")), (stamp, stamp))


def entry(
    topic: str,
    partition: int,
    segments: Iterable[SegmentRef],
    *,
    start: int | None = None,
    end: int | None = None,
    gaps: Iterable[Gap] = (),
) -> PartitionEntry:
    """A partition entry; by default it covers exactly its segments."""
    segs = tuple(segments)
    return PartitionEntry(
        topic=topic,
        partition=partition,
        start_offset=segs[0].start_offset if start is None else start,
        end_offset=segs[-1].end_offset if end is None else end,
        segments=segs,
        gaps=tuple(gaps),
    )
