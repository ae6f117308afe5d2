"""The backup catalog: manifests in the object store, one per completed backup, in a chain.

Layout under the store's prefix, per job::

    <job>/manifests/<backup_id>.json                   the backup's manifest
    <job>/sequence/<sequence:012d>.json                 the commit: which backup holds number N
    <job>/data/<topic>/<topic_id>/<partition>/<start>.seg   data segments, by first offset
    <job>/metadata/<backup_id>.json                     topic configs, group offsets, ACLs, users

A backup exists once its sequence entry exists. The entry is created with a conditional write
(create-if-absent), so two runs can never both commit number N: ordering comes from the store,
never from a host's clock. Each manifest carries the SHA-256 of itself and of its parent, so a
manifest that was altered, cut or replaced is found by what it is (see verify).

Manifests are cumulative: each lists every segment needed to restore the job's data as of that
backup, so any one manifest restores on its own, and the continuation point of the next run is
read from the latest manifest (a lost local disk does not break the chain).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from dr.backup.manifest import (
    FORMAT,
    READABLE_FORMATS,
    CatalogError,
    Gap,
    Manifest,
    ManifestDamaged,
    ManifestUncommitted,
    MissingPartition,
    PartitionEntry,
    RetiredTopic,
    SegmentRef,
    decode_manifest,
    encode_manifest,
    manifest_from_dict,
)
from dr.log import get_logger
from dr.storage import ObjectNotFound, ObjectStore, StorageError

__all__ = [  # the manifest's types, re-exported: callers know the catalog as one room
    "FORMAT",
    "READABLE_FORMATS",
    "CatalogError",
    "Gap",
    "Manifest",
    "ManifestDamaged",
    "ManifestUncommitted",
    "MissingPartition",
    "PartitionEntry",
    "RetiredTopic",
    "SegmentRef",
    "decode_manifest",
    "encode_manifest",
    "manifest_from_dict",
]

log = get_logger(__name__)


@dataclass(frozen=True)
class CatalogEntry:
    """One committed backup number: the backup it names and that manifest's checksum."""

    sequence: int
    backup_id: str
    manifest_sha256: str | None  # None for a format-1 backup (listed by its manifest alone)


@dataclass(frozen=True)
class CatalogProblem:
    """A committed backup whose manifest is missing, unreadable or altered."""

    sequence: int
    backup_id: str
    object: str
    message: str

    def __str__(self) -> str:
        return f"{self.object}: {self.message}"


def manifest_key(job: str, backup_id: str) -> str:
    return f"{job}/manifests/{backup_id}.json"


def sequence_key(job: str, sequence: int) -> str:
    return f"{job}/sequence/{sequence:012d}.json"


def segment_key(
    job: str, topic: str, partition: int, start_offset: int, topic_id: str | None = None
) -> str:
    """Where a segment lives; segments of a topic id of their own (a lineage) never collide."""
    lineage = f"{topic}/{topic_id}" if topic_id else topic
    return f"{job}/data/{lineage}/{partition}/{start_offset:020d}.seg"


def metadata_key(job: str, backup_id: str) -> str:
    return f"{job}/metadata/{backup_id}.json"


def new_backup_id(job: str, now: datetime | None = None) -> str:
    """A readable id: JOB-YYYYMMDDTHHMMSSffffffZ (ordering comes from the sequence, not this)."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{job}-{moment.strftime('%Y%m%dT%H%M%S%fZ')}"


# -- writing --------------------------------------------------------------------------------


def write_manifest(store: ObjectStore, manifest: Manifest) -> Manifest:
    """Record a completed backup: its manifest, then its sequence entry (the commit).

    Returns the manifest as written (with its checksum). Raises CatalogError when another run
    committed the same sequence number first; this run's manifest is then withdrawn.
    """
    sealed, data = encode_manifest(manifest)
    key = manifest_key(sealed.job, sealed.backup_id)
    if sealed.sequence <= 0:
        store.put_bytes(key, data)
        return sealed  # a format-1 style manifest (tests of old stores): no commit entry
    if not store.put_if_absent(key, data) and store.get_bytes(key) != data:
        raise CatalogError(
            f"job '{sealed.job}': a manifest named {sealed.backup_id} exists already "
            "(two runs started in the same microsecond?); this run recorded nothing"
        )
    entry = json.dumps(
        {"backup_id": sealed.backup_id, "manifest_sha256": sealed.sha256}, sort_keys=True
    ).encode()
    slot = sequence_key(sealed.job, sealed.sequence)
    if not store.put_if_absent(slot, entry) and not _names(store, sealed):
        store.delete(key)
        raise CatalogError(
            f"job '{sealed.job}': backup number {sealed.sequence} was committed by another run "
            f"while {sealed.backup_id} ran (two runs of one job?); this run recorded nothing"
        )
    _write_head(store, sealed.job, sealed.sequence)  # a hint only: see newest_number
    return sealed


def _names(store: ObjectStore, sealed: Manifest) -> bool:
    """Whether the sequence entry of sealed's number commits this very manifest (a create whose
    answer was lost and retried reports 'already there')."""
    entry = read_entry(store, sealed.job, sealed.sequence)
    return (entry.backup_id, entry.manifest_sha256) == (sealed.backup_id, sealed.sha256)


def delete_manifest(store: ObjectStore, manifest: Manifest) -> None:
    """Forget a backup: its sequence entry first (it is then no longer listed), then its
    manifest."""
    if manifest.sequence > 0:
        store.delete(sequence_key(manifest.job, manifest.sequence))
    store.delete(manifest_key(manifest.job, manifest.backup_id))


# -- reading --------------------------------------------------------------------------------


def sequence_numbers(store: ObjectStore, job: str) -> list[int]:
    """The numbers of the job's committed backups, ascending, from one listing of keys."""
    numbers = (_sequence_of(info.key) for info in store.list(f"{job}/sequence/"))
    return sorted(n for n in numbers if n is not None)


def read_entry(store: ObjectStore, job: str, number: int) -> CatalogEntry:
    """The sequence entry of backup number ``number`` (an unreadable one names itself)."""
    key = sequence_key(job, number)
    try:
        raw = json.loads(store.get_bytes(key))
        digest = raw["manifest_sha256"]
        return CatalogEntry(number, str(raw["backup_id"]), None if digest is None else str(digest))
    except (ObjectNotFound, ValueError, KeyError, TypeError):
        return CatalogEntry(number, f"<unreadable sequence entry {key}>", None)


def catalog_entries(store: ObjectStore, job: str) -> list[CatalogEntry]:
    """Every committed backup of the job, oldest first (one small read per backup).

    A store written by format 1 (no sequence entry at all) lists its manifests, numbered 0,
    in the order of their ids.
    """
    numbers = sequence_numbers(store, job)
    if numbers:
        return [read_entry(store, job, n) for n in numbers]
    return _legacy_entries(store, job)


def _legacy_entries(store: ObjectStore, job: str) -> list[CatalogEntry]:
    legacy = sorted(
        info.key.rsplit("/", 1)[1].removesuffix(".json")
        for info in store.list(f"{job}/manifests/")
        if info.key.endswith(".json")
    )
    return [CatalogEntry(0, backup_id, None) for backup_id in legacy]


def _sequence_of(key: str) -> int | None:
    name = key.rsplit("/", 1)[1]
    digits = name.removesuffix(".json")
    return int(digits) if name.endswith(".json") and digits.isdigit() else None


def entry_object(job: str, entry: CatalogEntry) -> str:
    """The object at fault when an entry's backup cannot be read: its manifest, or its
    sequence entry when that is unreadable."""
    if entry.backup_id.startswith("<unreadable"):
        return sequence_key(job, entry.sequence)
    return manifest_key(job, entry.backup_id)


def load_entry(store: ObjectStore, job: str, entry: CatalogEntry) -> Manifest:
    """The manifest a catalog entry commits; raises CatalogError when it is missing, altered
    or not the one the entry names."""
    if entry.backup_id.startswith("<unreadable"):
        raise CatalogError(f"{sequence_key(job, entry.sequence)} is unreadable")
    key = manifest_key(job, entry.backup_id)
    try:
        data = store.get_bytes(key)
    except ObjectNotFound:
        raise CatalogError(
            f"backup manifest '{key}' (backup number {entry.sequence}) is missing: "
            "deleted out of band?"
        ) from None
    manifest = decode_manifest(data, key)
    if entry.sequence == 0 and manifest.sequence > 0:
        raise ManifestUncommitted(manifest, key)  # read as format 1: no entry names it
    if entry.manifest_sha256 is not None and manifest.sha256 != entry.manifest_sha256:
        raise CatalogError(
            f"backup manifest '{key}' is not the one committed as backup number "
            f"{entry.sequence} (checksum differs): it was replaced"
        )
    return manifest


def scan_catalog(store: ObjectStore, job: str) -> tuple[list[Manifest], list[CatalogProblem]]:
    """Every readable committed backup (oldest first) and a problem for each one that is not,
    and for a newest backup gone with its sequence entry."""
    good: list[Manifest] = []
    problems: list[CatalogProblem] = []
    uncommitted: list[Manifest] = []
    entries = catalog_entries(store, job)
    for entry in entries:
        try:
            good.append(load_entry(store, job, entry))
        except ManifestUncommitted as exc:
            uncommitted.append(exc.manifest)
        except (CatalogError, StorageError) as exc:
            problems.append(problem_of(job, entry, exc))
    gone = gone_newest(store, job, entries)
    return good, problems + ([gone] if gone else []) + lost_commits(uncommitted)


def lost_commits(uncommitted: list[Manifest]) -> list[CatalogProblem]:
    """Of format-2 manifests no sequence entry commits (in a job that has none), those that
    were committed: a run builds only on a committed backup, so a manifest another names as
    its parent, and that other, lost their entries (deleted out of band). A lone one is what a
    first run killed before its commit leaves: not a problem."""
    ids = {m.backup_id for m in uncommitted}
    parents = {m.parent for m in uncommitted if m.parent in ids}
    lost = [m for m in uncommitted if m.backup_id in parents or m.parent in ids]
    return [
        CatalogProblem(
            m.sequence,
            m.backup_id,
            manifest_key(m.job, m.backup_id),
            f"backup number {m.sequence} lost its sequence entry ({m.job}/sequence/ deleted out "
            "of band?): a backup of the job builds on it or it on another",
        )
        for m in sorted(lost, key=lambda m: m.sequence)
    ]


def problem_of(job: str, entry: CatalogEntry, exc: Exception) -> CatalogProblem:
    return CatalogProblem(entry.sequence, entry.backup_id, entry_object(job, entry), str(exc))


def gone_newest(store: ObjectStore, job: str, entries: list[CatalogEntry]) -> CatalogProblem | None:
    """The backup the catalog head names when its sequence entry is gone (a prune never
    deletes the newest backup: it was deleted out of band); None when the head is not past the
    newest entry."""
    head = head_number(store, job)
    newest = max((e.sequence for e in entries), default=0)
    if head is None or head <= newest:
        return None
    key = sequence_key(job, head)
    return CatalogProblem(
        head,
        f"<backup number {head}>",
        key,
        f"backup number {head} is gone with its sequence entry (the catalog head names it; "
        f"the newest entry is {newest}): deleted out of band",
    )


def list_manifests(store: ObjectStore, job: str) -> list[Manifest]:
    """Every readable completed backup of the job, oldest first; unreadable ones are logged
    and left out (``scan_catalog`` names them)."""
    good, problems = scan_catalog(store, job)
    for problem in problems:
        log.warning("backup_manifest_skipped", job=job, problem=str(problem))
    return good


def head_key(job: str) -> str:
    return f"{job}/sequence/head"


def _write_head(store: ObjectStore, job: str, sequence: int) -> None:
    store.put_bytes(head_key(job), json.dumps({"sequence": sequence}).encode())


def newest_number(store: ObjectStore, job: str) -> int | None:
    """The newest committed number, found in O(1) reads from the head hint: the hint is
    followed forward while a newer entry exists (a run that died before moving it), and is
    trusted only when its entry exists. None when there is no usable hint."""
    number = head_number(store, job)
    if number is None:
        return None
    while store.exists(sequence_key(job, number + 1)):
        number += 1
    if number > 0 and store.exists(sequence_key(job, number)):
        return number
    log.warning("backup_catalog_head_dangling", job=job, sequence=number)
    return None


def head_number(store: ObjectStore, job: str) -> int | None:
    """The number the head hint names (not checked), or None without a readable hint."""
    try:
        return int(json.loads(store.get_bytes(head_key(job)))["sequence"])
    except (ObjectNotFound, ValueError, KeyError, TypeError):
        return None


def newest_first(store: ObjectStore, job: str) -> Iterator[Manifest | CatalogProblem]:
    """The job's committed backups from the newest, each read only when it is reached: the
    newest through the head hint, the others (only when needed) through one listing."""
    newest = newest_number(store, job)
    if newest is not None:
        entry = read_entry(store, job, newest)
        try:
            yield load_entry(store, job, entry)
        except (CatalogError, StorageError) as exc:
            yield problem_of(job, entry, exc)
    every = sequence_numbers(store, job)
    numbers = [n for n in every if newest is None or n < newest]
    entries: Iterator[CatalogEntry] = (
        (read_entry(store, job, n) for n in reversed(numbers))
        if every
        else reversed(_legacy_entries(store, job))
    )
    for entry in entries:
        try:
            yield load_entry(store, job, entry)
        except ManifestUncommitted:
            continue  # not a backup (scan_catalog tells a lost commit from a killed run)
        except (CatalogError, StorageError) as exc:
            yield problem_of(job, entry, exc)


def latest_manifest(store: ObjectStore, job: str) -> Manifest | None:
    """The newest readable backup of the job: normally three small reads (the head hint, its
    sequence entry, the manifest) and no listing, however many backups the job has. A newer
    backup whose manifest is missing or altered is logged and passed over."""
    for item in newest_first(store, job):
        if isinstance(item, Manifest):
            return item
        log.warning("backup_manifest_skipped", job=job, problem=str(item))
    return None


def adopt_legacy(store: ObjectStore, job: str) -> int:
    """Give the backups of a format-1 store (manifests without sequence entries) their sequence
    entries, oldest first, so that later backups continue their chain; returns how many.

    Call it holding the job's lock. Done once per job (a marker object records it); an
    adoption that died half-way is completed by the next call."""
    if store.exists(adopted_key(job)):
        return 0
    numbers = sequence_numbers(store, job)
    named = {read_entry(store, job, n).backup_id for n in numbers}
    legacy = [e for e in _legacy_entries(store, job) if e.backup_id not in named]
    legacy = [e for e in legacy if _is_format_1(store, job, e.backup_id)]
    first = (numbers[-1] if numbers else 0) + 1
    for number, entry in enumerate(legacy, start=first):
        data = json.dumps({"backup_id": entry.backup_id, "manifest_sha256": None}).encode()
        store.put_if_absent(sequence_key(job, number), data)
    if legacy:
        _write_head(store, job, first + len(legacy) - 1)
        log.info("backup_catalog_adopted", job=job, backups=len(legacy))
    store.put_bytes(adopted_key(job), b"{}")
    return len(legacy)


def adopted_key(job: str) -> str:
    return f"{job}/sequence/adopted"


def _is_format_1(store: ObjectStore, job: str, backup_id: str) -> bool:
    try:
        raw = json.loads(store.get_bytes(manifest_key(job, backup_id)))
    except (ObjectNotFound, ValueError):
        return False
    return isinstance(raw, dict) and raw.get("format") == 1


def next_sequence(store: ObjectStore, job: str) -> int:
    """The number the next backup of the job will commit under."""
    newest = newest_number(store, job)
    if newest is not None:
        return newest + 1
    numbers = sequence_numbers(store, job)
    return (numbers[-1] if numbers else len(_legacy_entries(store, job))) + 1


def load_manifest(store: ObjectStore, job: str, backup_id: str) -> Manifest:
    """The manifest of one backup; raises CatalogError when there is none or it is altered."""
    key = manifest_key(job, backup_id)
    try:
        data = store.get_bytes(key)
    except ObjectNotFound:
        raise CatalogError(f"backup manifest '{key}' not found in {store.url}") from None
    return decode_manifest(data, key)
