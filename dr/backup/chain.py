"""The manifest chain: each backup checked against its parent and against the job's catalog.

A manifest carries its own checksum and its parent's; the catalog's sequence entry carries the
checksum of the manifest it commits. Together they tell, by what it is:

- a manifest altered after it was written (its own checksum fails: load reports it);
- a manifest replaced by another one (the sequence entry or the child names another checksum);
- a deleted manifest (its sequence entry is still there);
- a partition whose tail was cut (it ends before its parent's end);
- a segment removed from a manifest, or disguised as a gap (the parent held it).
"""

from __future__ import annotations

from dr.backup.catalog import (
    CatalogEntry,
    CatalogError,
    CatalogProblem,
    Manifest,
    ManifestUncommitted,
    PartitionEntry,
    catalog_entries,
    entry_object,
    gone_newest,
    load_entry,
    load_manifest,
    lost_commits,
    manifest_key,
    sequence_numbers,
)
from dr.storage import ObjectStore, StorageError

Found = tuple[str, str]  # (object, message)


def chain_problems(store: ObjectStore, manifest: Manifest, *, newer: bool = True) -> list[Found]:
    """What is wrong with the manifest's place in its chain; [] when it holds. ``newer`` also
    looks at the committed backups after it (a newest backup deleted or altered)."""
    key = manifest_key(manifest.job, manifest.backup_id)
    found: list[Found] = []
    try:
        entries = catalog_entries(store, manifest.job)
    except StorageError as exc:
        return [(key, f"cannot list the catalog: {exc}")]
    by_id = {e.backup_id: e for e in entries}
    own = by_id.get(manifest.backup_id)
    if manifest.sequence > 0:
        if own is None:
            found.append((key, "is not committed (no sequence entry names it)"))
        elif own.manifest_sha256 not in (None, manifest.sha256):
            found.append((key, f"is not the manifest committed as backup number {own.sequence}"))
    found += _against_parent(store, manifest, by_id)
    if newer:
        found += _newer_broken(store, manifest, entries)
    return found


def _against_parent(
    store: ObjectStore, manifest: Manifest, by_id: dict[str, CatalogEntry]
) -> list[Found]:
    if manifest.parent is None:
        return []
    key = manifest_key(manifest.job, manifest.backup_id)
    try:
        parent = load_manifest(store, manifest.job, manifest.parent)
    except CatalogError as exc:
        if manifest.parent in by_id:
            return [(manifest_key(manifest.job, manifest.parent), str(exc))]
        return _parent_gone(store, manifest, by_id)
    if manifest.parent_sha256 and parent.sha256 != manifest.parent_sha256:
        return [
            (
                manifest_key(manifest.job, parent.backup_id),
                f"was replaced after backup {manifest.backup_id} was taken from it",
            )
        ]
    found: list[Found] = []
    retired = {r.topic for r in manifest.retired_topics}
    for old in parent.partitions:
        new = manifest.partition(old.topic, old.partition)
        if new is None:
            if old.topic not in retired:
                found.append(
                    (key, f"{old.topic}-{old.partition}: dropped without being recorded as retired")
                )
            continue
        if new.topic_id is not None and old.topic_id not in (None, new.topic_id):
            continue  # a new lineage: nothing carried
        found += [(key, message) for message in _partition_against(old, new)]
    return found


def _parent_gone(
    store: ObjectStore, manifest: Manifest, by_id: dict[str, CatalogEntry]
) -> list[Found]:
    """[] when the missing parent was pruned by retention (nothing left to compare with); a
    problem when it was deleted out of band with its sequence entry. A prune deletes the oldest
    readable backups first: one still readable below the child means the parent did not go
    by a prune."""
    assert manifest.parent is not None
    older = sorted(
        (e for e in by_id.values() if 0 < e.sequence < manifest.sequence),
        key=lambda e: e.sequence,
        reverse=True,
    )
    for entry in older:
        try:
            kept = load_entry(store, manifest.job, entry)
        except (CatalogError, StorageError):
            continue
        return [
            (
                manifest_key(manifest.job, manifest.parent),
                f"the parent of backup {manifest.backup_id} is gone with its sequence entry "
                f"while the older backup {kept.backup_id} remains: deleted out of band, "
                "not pruned",
            )
        ]
    return []


def _partition_against(old: PartitionEntry, new: PartitionEntry) -> list[str]:
    where = f"{old.topic}-{old.partition}"
    if new.end_offset < old.end_offset:
        return [
            f"{where}: ends at offset {new.end_offset}, before its parent's end "
            f"{old.end_offset} (tail cut)"
        ]
    kept = {(s.key, s.sha256) for s in new.segments}
    problems = []
    disguised = False
    for seg in old.segments:
        if seg.start_offset < new.start_offset or (seg.key, seg.sha256) in kept:
            continue
        as_gap = any(
            g.start_offset <= seg.start_offset and seg.end_offset <= g.end_offset for g in new.gaps
        )
        disguised = disguised or as_gap
        problems.append(
            f"{where}: segment {seg.key} (offsets {seg.start_offset}..{seg.end_offset - 1}) "
            + ("was removed and recorded as a gap" if as_gap else "is missing")
            + ", though the parent backup held it"
        )
    if disguised:
        return problems
    old_gaps = {(g.start_offset, g.end_offset) for g in old.gaps}
    for gap in new.gaps:
        if (
            gap.start_offset < old.end_offset
            and gap.end_offset > new.start_offset
            and (gap.start_offset, gap.end_offset) not in old_gaps
        ):
            problems.append(
                f"{where}: gap {gap.start_offset}..{gap.end_offset - 1} lies inside offsets "
                "the parent backup held (a removed segment disguised as a gap)"
            )
    return problems


def _newer_broken(
    store: ObjectStore, manifest: Manifest, entries: list[CatalogEntry]
) -> list[Found]:
    """Committed backups newer than this one whose manifests are missing or altered: the
    newest backup may be what was deleted."""
    if manifest.sequence <= 0:
        return []
    gone = gone_newest(store, manifest.job, entries)
    found: list[Found] = [(gone.object, gone.message)] if gone else []
    for entry in entries:
        if entry.sequence <= manifest.sequence:
            continue
        try:
            load_entry(store, manifest.job, entry)
        except (CatalogError, StorageError) as exc:
            found.append((entry_object(manifest.job, entry), str(exc)))
    return found


def lost_catalog(store: ObjectStore, job: str) -> list[CatalogProblem]:
    """Committed backups of a job that has no sequence entry left (its sequence objects were
    deleted): [] after one listing while the job has any entry, or when its manifests are
    format 1 or a first run's that was killed before its commit."""
    if sequence_numbers(store, job):
        return []
    uncommitted: list[Manifest] = []
    for entry in catalog_entries(store, job):
        try:
            load_entry(store, job, entry)
        except ManifestUncommitted as exc:
            uncommitted.append(exc.manifest)
        except (CatalogError, StorageError):
            continue  # damaged: scan_catalog names it
    return lost_commits(uncommitted)
