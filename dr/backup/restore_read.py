"""Reading a backup for a restore: each segment checked whole before any record of it is used.

A segment is used only once its object matches the manifest's SHA-256 (and, encrypted, passes
AES-GCM authentication and matches its plaintext SHA-256), its compressed frame
passes its own checksum (zstd and lz4 frames carry one), its payload decodes to exactly the
records its header and the manifest count, and their offsets rise inside the range it covers.
So a damaged segment stops a restore before it writes any record of it.
"""

from __future__ import annotations

import hashlib
import itertools
import operator
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from dr.backup.catalog import PartitionEntry, SegmentRef
from dr.backup.format import RawRecord, SegmentCorrupt, decompress_segment, raw_records
from dr.backup.restore_plan import RestoreError
from dr.storage import ObjectNotFound, ObjectStore, StorageError, get_stored, open_stored


class DamagedSegment(RestoreError):
    """A segment of the backup is missing, altered or undecodable: no restore can use it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"segment {key} {message}")
        self.key = key


@dataclass(frozen=True)
class CheckedSegment:
    """A segment and all its records, checked."""

    ref: SegmentRef
    records: list[RawRecord]


def checked_segments(
    store: ObjectStore,
    entry: PartitionEntry,
    prefetch: ThreadPoolExecutor,
    *,
    first: int = 0,
) -> Iterator[CheckedSegment]:
    """The partition's segments in order from index ``first``, each checked whole; the next one
    is fetched and checked while this one is used. Raises DamagedSegment, RestoreError (the
    store cannot be read)."""
    segments = list(entry.segments)
    start = first
    pending: Future[CheckedSegment] | None = None
    for i in range(start, len(segments)):
        if pending is None:
            pending = prefetch.submit(load_checked, store, entry, segments[i])
        current = pending.result()
        pending = (
            prefetch.submit(load_checked, store, entry, segments[i + 1])
            if i + 1 < len(segments)
            else None
        )
        yield current


def load_checked(store: ObjectStore, entry: PartitionEntry, seg: SegmentRef) -> CheckedSegment:
    """One segment, read and checked whole (see the module docstring); an encrypted one is
    opened with the store's keys (raises EncryptionError: unknown key id, wrong key, altered
    or moved object)."""
    try:
        stored = get_stored(store, seg.key)
    except ObjectNotFound:
        raise DamagedSegment(seg.key, "is missing from the store") from None
    except StorageError as exc:
        raise RestoreError(f"cannot read segment {seg.key}: {exc}") from None
    if hashlib.sha256(stored).hexdigest() != seg.sha256:
        raise DamagedSegment(seg.key, "fails its checksum (the object was altered)")
    data = open_stored(store, seg.key, stored)
    if seg.plain_sha256 is not None and hashlib.sha256(data).hexdigest() != seg.plain_sha256:
        raise DamagedSegment(seg.key, "decrypts to other bytes than were stored")
    try:
        header, payload = decompress_segment(data, name=seg.key)
        records = raw_records(payload, name=seg.key)
    except SegmentCorrupt as exc:
        raise DamagedSegment(
            seg.key, f"is damaged: {str(exc).removeprefix(seg.key + ': ')}"
        ) from None
    expected = (entry.topic, entry.partition, seg.start_offset, seg.end_offset, seg.records)
    actual = (header.topic, header.partition, header.start_offset, header.end_offset, len(records))
    if actual != expected or header.records != len(records):
        raise DamagedSegment(seg.key, f"holds {actual}, the manifest says {expected}")
    offsets = [record[0] for record in records]
    if offsets and not (
        seg.start_offset <= offsets[0]
        and offsets[-1] < seg.end_offset
        and all(map(operator.lt, offsets, itertools.islice(offsets, 1, None)))
    ):
        previous = seg.start_offset - 1
        for offset in offsets:
            if not previous < offset < seg.end_offset:
                raise DamagedSegment(seg.key, f"has record offset {offset} out of order or range")
            previous = offset
    return CheckedSegment(seg, records)
