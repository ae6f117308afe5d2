"""Verifying a backup: every object present and intact, offsets continuous, gaps explained."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from dr.backup.catalog import Manifest, PartitionEntry, SegmentRef
from dr.backup.chain import chain_problems
from dr.backup.format import SegmentCorrupt, decode_segment
from dr.storage import (
    EncryptionError,
    ObjectNotFound,
    ObjectStore,
    StorageError,
    get_stored,
    open_stored,
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a backup, naming the object at fault."""

    object: str
    message: str

    def __str__(self) -> str:
        return f"{self.object}: {self.message}"


@dataclass(frozen=True)
class VerifyResult:
    """What a verify found. ``records`` counts only the records of segments that passed every
    check made (decoded, with ``deep``); the records the manifest gives for a segment that
    failed one (missing, altered, undecodable) are ``records_unverified``, never verified."""

    backup_id: str
    segments: int | None  # None when the manifest could not be read: nothing was counted
    records: int | None
    deep: bool
    problems: tuple[Problem, ...] = ()
    gaps: tuple[str, ...] = field(default=())
    partial: tuple[str, ...] = ()  # partitions a PARTIAL backup could not copy, with why
    records_unverified: int | None = 0  # in segments refused (None: nothing was counted)
    segments_unverified: int | None = 0

    @property
    def ok(self) -> bool:
        """Every object the backup names is there and intact, and its chain holds."""
        return not self.problems

    @property
    def status(self) -> str:
        if self.problems:
            return "FAILED"
        return "PARTIAL" if self.partial else "OK"


def damaged_manifest(backup_id: str, key: str, message: str, *, deep: bool) -> VerifyResult:
    """The verdict on a backup whose manifest is damaged: its one problem, nothing counted."""
    return VerifyResult(
        backup_id,
        None,
        None,
        deep,
        (Problem(key, message),),
        records_unverified=None,
        segments_unverified=None,
    )


def verify_backup(
    store: ObjectStore,
    manifest: Manifest,
    *,
    deep: bool = False,
    progress: Callable[[int, int], None] | None = None,
    topics: set[str] | None = None,
    chain: bool = True,
    newer: bool = True,
) -> VerifyResult:
    """Check every object the backup needs: present, of its size and stored SHA-256 (no
    encryption key needed); ``deep`` also opens encrypted objects (authenticating them with
    their key), checks their plaintext SHA-256 and decodes every record; ``topics``
    limits the data checks to those topics; ``chain`` checks the manifest against its parent
    and the job's catalog (an altered, replaced or deleted manifest; a cut tail; a segment
    removed and disguised as a gap); ``newer`` also reports damaged backups newer than this
    one (a restore leaves it out: another backup's damage does not make this one unusable).

    Returns every problem found; never raises for a bad object.
    """
    problems: list[Problem] = []
    if chain:
        linked = chain_problems(store, manifest, newer=newer)
        problems += [Problem(obj, msg) for obj, msg in linked]
    gaps: list[str] = []
    entries = [p for p in manifest.partitions if topics is None or p.topic in topics]
    segments = [s for p in entries for s in p.segments]
    for entry in entries:
        problems += _continuity(entry)
        gaps += [
            f"{entry.topic}-{entry.partition} offsets {g.start_offset}..{g.end_offset - 1}: "
            f"{g.reason} (found by {g.backup_id})"
            for g in entry.gaps
        ]
    problems += _check_object(
        store,
        manifest.metadata_key,
        None,
        (manifest.metadata_sha256, manifest.metadata_plain_sha256),
        deep=deep,
    )
    counted = _check_segments(store, entries, deep=deep, progress=progress)
    return VerifyResult(
        backup_id=manifest.backup_id,
        segments=len(segments),
        records=counted.records,
        deep=deep,
        problems=tuple(problems + counted.problems),
        gaps=tuple(gaps),
        partial=tuple(f"{m.topic}-{m.partition}: {m.reason}" for m in manifest.missing_partitions),
        records_unverified=counted.records_unverified,
        segments_unverified=counted.segments_unverified,
    )


@dataclass
class _Counted:
    problems: list[Problem] = field(default_factory=list)
    records: int = 0
    records_unverified: int = 0
    segments_unverified: int = 0


def _check_segments(
    store: ObjectStore,
    entries: list[PartitionEntry],
    *,
    deep: bool,
    progress: Callable[[int, int], None] | None,
) -> _Counted:
    """Every segment of ``entries`` checked; a refused segment's records (the manifest's
    count, which nothing confirmed) are counted apart from those verified."""
    counted = _Counted()
    segments = [(e, s) for e in entries for s in e.segments]
    for done, (entry, seg) in enumerate(segments, start=1):
        digests = (seg.sha256, seg.plain_sha256)
        found = _check_object(store, seg.key, seg.bytes, digests, deep=deep, entry=entry, seg=seg)
        counted.problems += found
        if found:
            counted.records_unverified += seg.records
            counted.segments_unverified += 1
        else:
            counted.records += seg.records
        if progress is not None:
            progress(done, len(segments))
    return counted


def _continuity(entry: PartitionEntry) -> list[Problem]:
    where = f"{entry.topic}-{entry.partition}"
    problems: list[Problem] = []
    expected = entry.start_offset
    explained = {(g.start_offset, g.end_offset) for g in entry.gaps}
    for seg in entry.segments:
        if seg.start_offset != expected and (expected, seg.start_offset) in explained:
            expected = seg.start_offset  # a recorded gap: reported as such, not a hole
        if seg.start_offset != expected:
            problems.append(
                Problem(
                    _name(seg.key),
                    f"{where}: starts at offset {seg.start_offset}, "
                    f"the previous segment ended at {expected}",
                )
            )
        expected = seg.end_offset
    if expected != entry.end_offset and (expected, entry.end_offset) in explained:
        expected = entry.end_offset
    if expected != entry.end_offset and (entry.segments or entry.start_offset != entry.end_offset):
        problems.append(
            Problem(where, f"segments end at offset {expected}, the backup says {entry.end_offset}")
        )
    return problems


def _check_object(
    store: ObjectStore,
    key: str,
    size: int | None,
    digests: tuple[str, str | None],
    *,
    deep: bool = False,
    entry: PartitionEntry | None = None,
    seg: SegmentRef | None = None,
) -> list[Problem]:
    """Problems of one object: the stored bytes against size and ``digests[0]`` always;
    with ``deep``, the plaintext (opened with the store's keys) against ``digests[1]`` and,
    for a segment, its records against the manifest."""
    name = _name(key)
    try:
        stored = get_stored(store, key)
    except ObjectNotFound:
        return [Problem(name, "missing")]
    except StorageError as exc:
        return [Problem(name, f"unreadable: {exc}")]
    if size is not None and len(stored) != size:
        return [Problem(name, f"is {len(stored)} bytes, the manifest says {size} (truncated?)")]
    if hashlib.sha256(stored).hexdigest() != digests[0]:
        return [Problem(name, "checksum mismatch (the object was altered)")]
    if not deep:
        return []
    try:
        data = open_stored(store, key, stored)
    except EncryptionError as exc:
        return [Problem(name, str(exc).replace(f"object '{key}' ", "", 1))]
    if digests[1] is not None and hashlib.sha256(data).hexdigest() != digests[1]:
        return [Problem(name, "plaintext checksum mismatch (decrypted, it is not what was stored)")]
    if entry is not None and seg is not None:
        return _decode(data, name, entry, seg)
    return []


def _decode(data: bytes, name: str, entry: PartitionEntry, seg: SegmentRef) -> list[Problem]:
    try:
        header, records = decode_segment(data, name=name)
    except SegmentCorrupt as exc:
        return [Problem(name, str(exc).removeprefix(f"{name}: "))]
    expected = (entry.topic, entry.partition, seg.start_offset, seg.end_offset, seg.records)
    actual = (header.topic, header.partition, header.start_offset, header.end_offset, len(records))
    if expected != actual:
        return [Problem(name, f"header says {actual}, the manifest says {expected}")]
    offsets = [r.offset for r in records]
    if offsets != sorted(set(offsets)):
        return [Problem(name, "record offsets are not strictly increasing")]
    return []


def _name(key: str) -> str:
    return key
