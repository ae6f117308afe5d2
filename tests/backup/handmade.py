"""Backups made by hand on a LocalStore: real segments, metadata and manifests, without Kafka.

Every object is what a backup run would write (format.py's encoding, the catalog's keys and
sha256 checksums), and each backup is committed as a run commits it: the next sequence number,
the newest readable backup as its parent (with that manifest's checksum), the manifest sealed
by write_manifest. So verify, the chain checks and prune see exactly what they would see in a
real store. The tampering helpers at the end change a store the way an operator or an attacker
could, behind the catalog's back.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from dr.backup.catalog import (
    Gap,
    Manifest,
    MissingPartition,
    PartitionEntry,
    RetiredTopic,
    SegmentRef,
    adopt_legacy,
    encode_manifest,
    latest_manifest,
    manifest_key,
    metadata_key,
    new_backup_id,
    next_sequence,
    segment_key,
    write_manifest,
)
from dr.backup.format import Compression, SegmentHeader, append_record, encode_segment
from dr.storage import LocalStore

JOB = "orders-job"
CLUSTER_ID = "ZflW-T5aQTaqFkSg3E77RQ"
T0 = datetime(2024, 5, 1, tzinfo=UTC)
# Fields format 1 manifests did not have: a format-1 run wrote none of them.
FORMAT_2_FIELDS = ("sequence", "parent_sha256", "missing_partitions", "retired_topics", "sha256")


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
        topic_id: str | None = None,
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
        key = segment_key(self.job, topic, partition, start, topic_id)
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
        sequence: int | None = None,
        missing: Iterable[MissingPartition] = (),
        retired: Iterable[RetiredTopic] = (),
    ) -> Manifest:
        """Store the metadata of a backup holding `entries`, then commit its manifest as a run
        does; returns the manifest as written (sealed with its checksum).

        As a run, it takes the next sequence number and the newest readable backup as its
        parent; `parent` and `sequence` override them (to commit a number twice, or to write
        the sequence-0 manifests of a store from before sequence entries). Raises CatalogError
        as write_manifest does.
        """
        if sequence is None:
            adopt_legacy(self.store, self.job)  # as a run does, holding the job's lock
        manifest = self.manifest(
            entries,
            started_at=started_at,
            parent=parent if parent is not None else latest_manifest(self.store, self.job),
            sequence=next_sequence(self.store, self.job) if sequence is None else sequence,
            missing=missing,
            retired=retired,
        )
        return write_manifest(self.store, manifest)

    def manifest(
        self,
        entries: Iterable[PartitionEntry],
        *,
        started_at: datetime,
        parent: Manifest | None,
        sequence: int,
        missing: Iterable[MissingPartition] = (),
        retired: Iterable[RetiredTopic] = (),
    ) -> Manifest:
        """Store the metadata of a backup holding `entries`; its manifest, not yet written."""
        backup_id = new_backup_id(self.job, started_at)
        metadata = json.dumps({"format": 1, "topics": {}}).encode()
        meta_key = metadata_key(self.job, backup_id)
        finished_at = started_at + timedelta(minutes=1)
        self.put(meta_key, metadata, finished_at)
        entries = tuple(entries)
        missing = tuple(missing)
        return Manifest(
            backup_id=backup_id,
            job=self.job,
            cluster="primary",
            cluster_id=CLUSTER_ID,
            started_at=started_at.isoformat(),
            finished_at=finished_at.isoformat(),
            parent=parent.backup_id if parent else None,
            parent_sha256=parent.sha256 or None if parent else None,
            sequence=sequence,
            compression="zstd",
            records=sum(e.records for e in entries),
            bytes=sum(s.bytes for e in entries for s in e.segments),
            metadata_key=meta_key,
            metadata_sha256=hashlib.sha256(metadata).hexdigest(),
            partitions=entries,
            status="PARTIAL" if missing else "DONE",
            missing_partitions=missing,
            retired_topics=tuple(retired),
        )

    def format_1_backup(
        self,
        entries: Iterable[PartitionEntry],
        *,
        started_at: datetime = T0,
        parent: Manifest | None = None,
    ) -> Manifest:
        """Store a backup as a format-1 run did: a manifest without sequence entry, checksum or
        any field format 2 added; returns it as the catalog reads it back."""
        manifest = self.manifest(entries, started_at=started_at, parent=parent, sequence=0)
        raw = asdict(manifest)
        for name in FORMAT_2_FIELDS:
            del raw[name]
        for partition in raw["partitions"]:
            del partition["topic_id"]
        raw["format"] = 1
        self.store.put_bytes(manifest_key(self.job, manifest.backup_id), json.dumps(raw).encode())
        return replace(manifest, format=1, parent_sha256=None)

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
    topic_id: str | None = None,
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
        topic_id=topic_id,
    )


# -- tampering: what an operator or an attacker can do to a store behind the catalog's back -----


def edit_manifest_json(
    store: LocalStore, manifest: Manifest, edit: Callable[[dict[str, Any]], None]
) -> None:
    """Rewrite the stored manifest's JSON with `edit` applied, leaving its checksum as it was
    (a hand edit)."""
    key = manifest_key(manifest.job, manifest.backup_id)
    raw = json.loads(store.get_bytes(key))
    edit(raw)
    store.put_bytes(key, json.dumps(raw, indent=1, sort_keys=True).encode())


def reseal_in_place(store: LocalStore, manifest: Manifest) -> Manifest:
    """Overwrite the stored manifest of `manifest`'s backup with `manifest`, sealed with a
    checksum of its own (a forgery that passes its own checksum); returns it as stored."""
    sealed, data = encode_manifest(manifest)
    store.put_bytes(manifest_key(manifest.job, manifest.backup_id), data)
    return sealed
