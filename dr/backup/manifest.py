"""The manifest: the document that says what one backup holds, and its own checksum.

A manifest (format 2) carries the SHA-256 of its canonical JSON (sorted keys, no spaces) with
its ``sha256`` field empty, and its parent's; ``decode_manifest`` refuses one that does not
match itself. Format 1 manifests (no checksum, no sequence) are still read. The catalog
(catalog.py) stores and orders manifests; the chain (chain.py) checks them against each other.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from dr.errors import DrError

FORMAT = 2
READABLE_FORMATS = (1, 2)


class CatalogError(DrError):
    """A backup or its manifest cannot be found or read."""


class ManifestUncommitted(CatalogError):
    """A format-2 manifest read where no sequence entry commits it (the job has none)."""

    def __init__(self, manifest: Manifest, key: str) -> None:
        super().__init__(
            f"backup manifest '{key}' says it is backup number {manifest.sequence}, but no "
            "sequence entry commits it"
        )
        self.manifest = manifest


class ManifestDamaged(CatalogError):
    """A manifest exists but is not valid JSON, malformed, or fails its own checksum."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class SegmentRef:
    """A data segment as the manifest records it."""

    key: str
    start_offset: int
    end_offset: int
    records: int
    bytes: int
    sha256: str  # of the object as stored (encrypted or not): checked without the key
    first_timestamp: int | None
    last_timestamp: int | None
    plain_sha256: str | None = None  # of the segment before encryption; None when stored plain


@dataclass(frozen=True)
class Gap:
    """Offsets that were never backed up: deleted by retention before a run reached them."""

    start_offset: int
    end_offset: int
    reason: str
    detected_at: str
    backup_id: str


@dataclass(frozen=True)
class PartitionEntry:
    """What the backup holds of one partition: segments covering [start_offset, end_offset).

    ``topic_id`` is Kafka's own id of the topic the records came from: a topic deleted and
    created again under the same name has another id, and another lineage in the backup.
    """

    topic: str
    partition: int
    start_offset: int
    end_offset: int
    segments: tuple[SegmentRef, ...] = ()
    gaps: tuple[Gap, ...] = ()
    topic_id: str | None = None

    @property
    def records(self) -> int:
        return sum(s.records for s in self.segments)


@dataclass(frozen=True)
class MissingPartition:
    """A partition a partial backup could not copy this time (no leader, no valid offset)."""

    topic: str
    partition: int
    reason: str


@dataclass(frozen=True)
class RetiredTopic:
    """A topic earlier backups hold that this one does not: deleted, or re-created (new id)."""

    topic: str
    topic_id: str | None
    reason: str
    held_by: str  # the newest backup that still holds its data (and configs)


@dataclass(frozen=True)
class Manifest:
    """One completed backup."""

    backup_id: str
    job: str
    cluster: str
    cluster_id: str
    started_at: str
    finished_at: str
    parent: str | None
    compression: str
    records: int  # stored by this run
    bytes: int  # stored by this run
    metadata_key: str
    metadata_sha256: str
    partitions: tuple[PartitionEntry, ...] = ()
    status: str = "DONE"  # or PARTIAL: see missing_partitions
    format: int = FORMAT
    gaps_found: int = 0  # gaps detected by this run
    extra: dict[str, Any] = field(default_factory=dict)
    sequence: int = 0  # 0 for format-1 manifests, which had none
    parent_sha256: str | None = None
    missing_partitions: tuple[MissingPartition, ...] = ()
    retired_topics: tuple[RetiredTopic, ...] = ()
    sha256: str = ""  # of the manifest itself, computed with this field empty
    metadata_plain_sha256: str | None = None  # before encryption; None when stored plain

    @property
    def topics(self) -> list[str]:
        return sorted({p.topic for p in self.partitions})

    @property
    def partial(self) -> bool:
        return self.status == "PARTIAL"

    @property
    def total_records(self) -> int:
        return sum(p.records for p in self.partitions)

    @property
    def total_bytes(self) -> int:
        return sum(s.bytes for p in self.partitions for s in p.segments)

    def partition(self, topic: str, partition: int) -> PartitionEntry | None:
        return next(
            (p for p in self.partitions if p.topic == topic and p.partition == partition), None
        )

    def referenced_keys(self) -> set[str]:
        keys = {s.key for p in self.partitions for s in p.segments}
        keys.add(self.metadata_key)
        return keys


# -- encoding -------------------------------------------------------------------------------


def encode_manifest(manifest: Manifest) -> tuple[Manifest, bytes]:
    """The manifest with its own checksum set, and its bytes."""
    raw = _without_plain_digests(asdict(replace(manifest, sha256="")))
    digest = _digest(raw)
    raw["sha256"] = digest
    return replace(manifest, sha256=digest), json.dumps(raw, indent=1, sort_keys=True).encode()


def _without_plain_digests(raw: dict[str, Any]) -> dict[str, Any]:
    """The manifest without the plaintext digests of objects stored unencrypted: a backup
    without encryption is written exactly as before they existed."""
    if raw.get("metadata_plain_sha256") is None:
        raw.pop("metadata_plain_sha256", None)
    for partition in raw["partitions"]:
        for segment in partition["segments"]:
            if segment.get("plain_sha256") is None:
                segment.pop("plain_sha256", None)
    return raw


def _digest(raw: dict[str, Any]) -> str:
    unsealed = dict(raw, sha256="")
    canonical = json.dumps(unsealed, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()


def decode_manifest(data: bytes, key: str) -> Manifest:
    """A manifest from its bytes; raises CatalogError naming key when it is not one, or when
    it does not match its own checksum."""
    try:
        raw = json.loads(data)
    except ValueError as exc:
        raise ManifestDamaged(key, f"backup manifest '{key}' is not valid JSON ({exc})") from None
    try:
        manifest = manifest_from_dict(raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise ManifestDamaged(key, f"backup manifest '{key}' is malformed ({exc})") from None
    sealed = manifest.format >= 2 or manifest.sequence > 0 or "sha256" in raw
    if sealed and _digest(raw) != manifest.sha256:
        raise ManifestDamaged(
            key,
            f"backup manifest '{key}' fails its own checksum: it was altered after it was written",
        )
    return manifest


def manifest_from_dict(raw: dict[str, Any]) -> Manifest:
    if not isinstance(raw, dict):
        raise TypeError("a manifest is a JSON object")
    if raw.get("format") not in READABLE_FORMATS:
        raise TypeError(f"format {raw.get('format')} is not supported")
    partitions = tuple(
        PartitionEntry(
            topic=p["topic"],
            partition=p["partition"],
            start_offset=p["start_offset"],
            end_offset=p["end_offset"],
            segments=tuple(SegmentRef(**s) for s in p["segments"]),
            gaps=tuple(Gap(**g) for g in p["gaps"]),
            topic_id=p.get("topic_id"),
        )
        for p in raw["partitions"]
    )
    fields = {
        k: v
        for k, v in raw.items()
        if k not in ("partitions", "missing_partitions", "retired_topics")
    }
    return Manifest(
        partitions=partitions,
        missing_partitions=tuple(MissingPartition(**m) for m in raw.get("missing_partitions", [])),
        retired_topics=tuple(RetiredTopic(**r) for r in raw.get("retired_topics", [])),
        **fields,
    )
