"""The backup catalog: manifests in the object store, one per completed backup.

Layout under the store's prefix, per job::

    <job>/manifests/<backup_id>.json               written LAST: a backup exists once it is here
    <job>/data/<topic>/<partition>/<start>.seg     data segments, named by their first offset
    <job>/metadata/<backup_id>.json                topic configs, group offsets, ACLs, users

Manifests are cumulative: each lists every segment needed to restore the job's data as of that
backup, so any one manifest restores on its own, and the continuation point of the next run is
read from the latest manifest (a lost local disk does not break the chain).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from dr.errors import DrError
from dr.storage import ObjectNotFound, ObjectStore

FORMAT = 1


class CatalogError(DrError):
    """A backup or its manifest cannot be found or read."""


@dataclass(frozen=True)
class SegmentRef:
    """A data segment as the manifest records it."""

    key: str
    start_offset: int
    end_offset: int
    records: int
    bytes: int
    sha256: str
    first_timestamp: int | None
    last_timestamp: int | None


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
    """What the backup holds of one partition: segments covering [start_offset, end_offset)."""

    topic: str
    partition: int
    start_offset: int
    end_offset: int
    segments: tuple[SegmentRef, ...] = ()
    gaps: tuple[Gap, ...] = ()

    @property
    def records(self) -> int:
        return sum(s.records for s in self.segments)


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
    status: str = "DONE"
    format: int = FORMAT
    gaps_found: int = 0  # gaps detected by this run
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def topics(self) -> list[str]:
        return sorted({p.topic for p in self.partitions})

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


def manifest_key(job: str, backup_id: str) -> str:
    return f"{job}/manifests/{backup_id}.json"


def segment_key(job: str, topic: str, partition: int, start_offset: int) -> str:
    return f"{job}/data/{topic}/{partition}/{start_offset:020d}.seg"


def metadata_key(job: str, backup_id: str) -> str:
    return f"{job}/metadata/{backup_id}.json"


def new_backup_id(job: str, now: datetime | None = None) -> str:
    """A sortable id: JOB-YYYYMMDDTHHMMSSffffffZ."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{job}-{moment.strftime('%Y%m%dT%H%M%S%fZ')}"


def write_manifest(store: ObjectStore, manifest: Manifest) -> None:
    """Record a completed backup; the last write of a run."""
    data = json.dumps(asdict(manifest), indent=1, sort_keys=True).encode()
    store.put_bytes(manifest_key(manifest.job, manifest.backup_id), data)


def delete_manifest(store: ObjectStore, manifest: Manifest) -> None:
    store.delete(manifest_key(manifest.job, manifest.backup_id))


def list_manifests(store: ObjectStore, job: str) -> list[Manifest]:
    """Every completed backup of the job, oldest first."""
    out: list[Manifest] = []
    for info in store.list(f"{job}/manifests/"):
        if info.key.endswith(".json"):
            out.append(_read(store, info.key))
    return sorted(out, key=lambda m: (m.started_at, m.backup_id))


def latest_manifest(store: ObjectStore, job: str) -> Manifest | None:
    manifests = list_manifests(store, job)
    return manifests[-1] if manifests else None


def load_manifest(store: ObjectStore, job: str, backup_id: str) -> Manifest:
    """The manifest of one backup; raises CatalogError when there is none."""
    return _read(store, manifest_key(job, backup_id))


def _read(store: ObjectStore, key: str) -> Manifest:
    try:
        raw = json.loads(store.get_bytes(key))
    except ObjectNotFound:
        raise CatalogError(f"backup manifest '{key}' not found in {store.url}") from None
    except ValueError as exc:
        raise CatalogError(f"backup manifest '{key}' is not valid JSON ({exc})") from None
    try:
        return manifest_from_dict(raw)
    except (KeyError, TypeError) as exc:
        raise CatalogError(f"backup manifest '{key}' is malformed ({exc})") from None


def manifest_from_dict(raw: dict[str, Any]) -> Manifest:
    if not isinstance(raw, dict):
        raise TypeError("a manifest is a JSON object")
    if raw.get("format") != FORMAT:
        raise TypeError(f"format {raw.get('format')} is not supported")
    partitions = tuple(
        PartitionEntry(
            topic=p["topic"],
            partition=p["partition"],
            start_offset=p["start_offset"],
            end_offset=p["end_offset"],
            segments=tuple(SegmentRef(**s) for s in p["segments"]),
            gaps=tuple(Gap(**g) for g in p["gaps"]),
        )
        for p in raw["partitions"]
    )
    fields = {k: v for k, v in raw.items() if k != "partitions"}
    return Manifest(partitions=partitions, **fields)
