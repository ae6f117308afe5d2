"""The snapshots of a cluster in its store: which store, list, read one, verify, prune.

Finding the snapshots lists keys under ``snapshots/<cluster>/`` (no manifest is read to list
or to find ``latest``: ids sort by time); ``show`` and ``verify`` read one manifest.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from dr.config.schema import Settings
from dr.errors import UsageError
from dr.log import get_logger
from dr.snapshots.archive import check_object
from dr.snapshots.manifest import (
    MANIFEST,
    SnapshotError,
    SnapshotManifest,
    SnapshotPrunePlan,
    choose_pruned,
    cluster_prefix,
    decode_manifest,
    manifest_key,
    snapshot_prefix,
)
from dr.storage import ObjectNotFound, ObjectStore, open_store

log = get_logger(__name__)


def storage_name(settings: Settings, cluster: str, storage: str | None = None) -> str:
    """The store a cluster's snapshots go to: --storage, else snapshots.<cluster>.storage, else
    the only store configured. Raises UsageError naming what to set."""
    if cluster not in settings.clusters:
        known = ", ".join(sorted(settings.clusters))
        raise UsageError(f"no cluster named '{cluster}' in the config (it has: {known})")
    configured = settings.snapshots.get(cluster)
    name = storage or (configured.storage if configured else None)
    if name is None and len(settings.storage) == 1:
        name = next(iter(settings.storage))
    if name is None:
        raise UsageError(
            f"no store for the snapshots of '{cluster}': set snapshots.{cluster}.storage "
            "or pass --storage"
        )
    if name not in settings.storage:
        known = ", ".join(sorted(settings.storage)) or "none"
        raise UsageError(f"no store named '{name}' in the config's storage (it has: {known})")
    return name


def snapshot_store(settings: Settings, cluster: str, storage: str | None = None) -> ObjectStore:
    """The opened store of the cluster's snapshots (see storage_name)."""
    return open_store(settings.storage[storage_name(settings, cluster, storage)])


@dataclass(frozen=True)
class SnapshotEntry:
    """A snapshot as listed: complete (it has a manifest) or not, and its objects' bytes."""

    snapshot_id: str
    complete: bool
    objects: int
    size: int


def list_snapshots(store: ObjectStore, cluster: str) -> list[SnapshotEntry]:
    """Every snapshot of the cluster, oldest first, incomplete ones (a run that failed or still
    runs) included."""
    found: dict[str, list[tuple[str, int]]] = {}
    prefix = cluster_prefix(cluster)
    for info in store.list(prefix):
        snapshot_id, _, name = info.key[len(prefix) :].partition("/")
        if name:
            found.setdefault(snapshot_id, []).append((name, info.size))
    return [
        SnapshotEntry(
            snapshot_id=sid,
            complete=any(name == MANIFEST for name, _ in items),
            objects=sum(1 for name, _ in items if name != MANIFEST),
            size=sum(size for name, size in items if name != MANIFEST),
        )
        for sid, items in sorted(found.items())
    ]


def resolve_id(store: ObjectStore, cluster: str, wanted: str) -> str:
    """The snapshot id ``wanted`` names (``latest``: the newest complete one); raises
    SnapshotError when there is none or it has no manifest."""
    entries = list_snapshots(store, cluster)
    if wanted == "latest":
        complete = [e.snapshot_id for e in entries if e.complete]
        if not complete:
            raise SnapshotError(f"no complete snapshot of '{cluster}' in {store.url}")
        return complete[-1]
    entry = next((e for e in entries if e.snapshot_id == wanted), None)
    if entry is None:
        raise SnapshotError(f"no snapshot '{wanted}' of '{cluster}' in {store.url}")
    if not entry.complete:
        raise SnapshotError(
            f"snapshot '{wanted}' of '{cluster}' is incomplete (no manifest: its run failed or "
            "still runs)"
        )
    return wanted


def read_manifest(store: ObjectStore, cluster: str, snapshot_id: str) -> SnapshotManifest:
    """The snapshot's manifest; raises SnapshotError when it is missing, unreadable or of
    another cluster."""
    key = manifest_key(cluster, snapshot_id)
    try:
        data = store.get_bytes(key)
    except ObjectNotFound:
        raise SnapshotError(f"no snapshot '{snapshot_id}' of '{cluster}' in {store.url}") from None
    manifest = decode_manifest(data, key)
    if manifest.cluster != cluster or manifest.snapshot_id != snapshot_id:
        raise SnapshotError(
            f"{key} describes snapshot {manifest.snapshot_id} of '{manifest.cluster}', "
            f"not {snapshot_id} of '{cluster}'"
        )
    return manifest


@dataclass(frozen=True)
class ObjectCheck:
    node_id: int
    key: str
    size: int
    ok: bool
    problem: str | None


@dataclass(frozen=True)
class VerifyResult:
    snapshot_id: str
    cluster: str
    objects: tuple[ObjectCheck, ...]

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.objects)


def verify_snapshot(
    store: ObjectStore, cluster: str, snapshot_id: str, *, tmp_dir: Path | None = None
) -> VerifyResult:
    """Re-read every object of the snapshot and compare its size and SHA-256 with the
    manifest's; raises SnapshotError when the manifest itself cannot be read."""
    manifest = read_manifest(store, cluster, snapshot_id)
    checks = []
    with tempfile.TemporaryDirectory(prefix="kafka-dr-verify-", dir=tmp_dir) as tmp:
        for archive in manifest.nodes:
            problem = check_object(store, archive, Path(tmp) / f"node-{archive.node_id}")
            checks.append(ObjectCheck(archive.node_id, archive.key, archive.size, not problem,
                                      problem))  # fmt: skip
            (Path(tmp) / f"node-{archive.node_id}").unlink(missing_ok=True)
    log.info("snapshot_verified", cluster=cluster, snapshot=snapshot_id,
             ok=all(c.ok for c in checks))  # fmt: skip
    return VerifyResult(snapshot_id, cluster, tuple(checks))


def plan_snapshot_prune(settings: Settings, store: ObjectStore, cluster: str) -> SnapshotPrunePlan:
    """What retention (snapshots.<cluster>.retention; none configured: keep everything)
    deletes now."""
    configured = settings.snapshots.get(cluster)
    keep_last = configured.retention.keep_last if configured else None
    min_keep = configured.retention.min_keep if configured else 1
    entries = list_snapshots(store, cluster)
    kept, pruned, stale = choose_pruned(
        [e.snapshot_id for e in entries if e.complete],
        [e.snapshot_id for e in entries if not e.complete],
        keep_last=keep_last,
        min_keep=min_keep,
    )
    return SnapshotPrunePlan(cluster, tuple(kept), tuple(pruned), tuple(stale))


def execute_snapshot_prune(store: ObjectStore, plan: SnapshotPrunePlan) -> int:
    """Delete what the plan names, each snapshot's manifest first (it ceases to exist), then
    its objects; the number of objects deleted. A prune killed half-way leaves incomplete
    snapshots, which the next prune deletes."""
    deleted = 0
    for snapshot_id in (*plan.prune, *plan.incomplete):
        store.delete(manifest_key(plan.cluster, snapshot_id))
        keys = [i.key for i in store.list(snapshot_prefix(plan.cluster, snapshot_id))]
        store.delete_many(keys)
        deleted += len(keys)
        log.info("snapshot_pruned", cluster=plan.cluster, snapshot=snapshot_id, objects=len(keys))
    return deleted
