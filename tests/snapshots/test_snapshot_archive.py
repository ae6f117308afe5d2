"""A node's archive into a local store and back: compressed, checksummed, laid back where it
was; verify names the object in which a byte flipped."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from dr.hosts import localfiles
from dr.snapshots.archive import relocated, store_archive, verified_copy
from dr.snapshots.catalog import (
    execute_snapshot_prune,
    list_snapshots,
    resolve_id,
    verify_snapshot,
)
from dr.snapshots.manifest import (
    NodeArchive,
    SnapshotError,
    SnapshotManifest,
    SnapshotPrunePlan,
    encode_manifest,
    manifest_key,
    node_key,
)
from dr.storage import LocalStore

SID = "dr-20261201T031500Z"
# Deep enough that the tar names its members in pax headers (over 100 characters).
DEEP = "a-partition-directory-with-a-long-name-0/" * 3


def a_node(root: Path) -> tuple[Path, Path]:
    data = root / "node-1" / "data"
    (data / DEEP).mkdir(parents=True)
    (data / "meta.properties").write_text("cluster.id=abc\nnode.id=1\n")
    (data / DEEP / "00000000000000000000.log").write_bytes(bytes(range(256)) * 4000)
    config = root / "node-1" / "server.properties"
    config.write_text(f"node.id=1\nlog.dirs={data}\n")
    return data, config


def snapshot_of(store: LocalStore, data: Path, config: Path) -> NodeArchive:
    key = node_key("dr", SID, 1)
    written = store_archive(store, key, localfiles.tar_stream([str(data), str(config)]))
    node = NodeArchive(node_id=1, key=key, size=written.size, sha256=written.sha256,
                       tar_bytes=written.tar_bytes, log_dirs=(str(data),), config_file=str(config),
                       stopped_at=datetime.now(UTC), end_offsets={})  # fmt: skip
    manifest = SnapshotManifest(snapshot_id=SID, cluster="dr", cluster_id="abc",
                                started_at=datetime.now(UTC), finished_at=datetime.now(UTC),
                                run_id="r", end_offsets={}, nodes=(node,))  # fmt: skip
    store.put_bytes(manifest_key("dr", SID), encode_manifest(manifest))
    return node


def files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_a_node_laid_back_from_its_archive_has_every_file_as_it_was(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    data, config = a_node(tmp_path / "host")
    before = files(tmp_path / "host")
    node = snapshot_of(store, data, config)
    assert node.size < node.tar_bytes  # compressed

    localfiles.remove_tree(str(data))
    config.write_text("broken")
    with verified_copy(store, node) as path:
        for root in (*node.log_dirs, node.config_file):
            localfiles.untar(str(Path(root).parent), relocated(path, root))

    assert files(tmp_path / "host") == before


def test_a_path_the_archive_does_not_hold_is_refused(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    node = snapshot_of(store, *a_node(tmp_path / "host"))
    with verified_copy(store, node) as path, pytest.raises(SnapshotError, match="nothing under"):
        list(relocated(path, "/var/lib/elsewhere"))


def test_verify_names_the_object_in_which_a_byte_flipped(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    node = snapshot_of(store, *a_node(tmp_path / "host"))
    assert verify_snapshot(store, "dr", SID).ok

    stored = tmp_path / "store" / node.key
    raw = bytearray(stored.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    stored.write_bytes(bytes(raw))

    result = verify_snapshot(store, "dr", SID)
    assert not result.ok
    assert result.objects[0].problem is not None
    assert result.objects[0].problem.startswith(f"{node.key}: SHA-256")
    with pytest.raises(SnapshotError, match=f"not laying back node 1: {node.key}"):  # noqa: SIM117
        with verified_copy(store, node):
            pass


def test_a_snapshot_without_its_manifest_is_incomplete_and_not_latest(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    snapshot_of(store, *a_node(tmp_path / "host"))
    store.put_bytes(node_key("dr", "dr-20261202T000000Z", 1), b"half a run")

    listed = list_snapshots(store, "dr")
    assert [(e.snapshot_id, e.complete) for e in listed] == [
        (SID, True), ("dr-20261202T000000Z", False)]  # fmt: skip
    assert resolve_id(store, "dr", "latest") == SID
    with pytest.raises(SnapshotError, match="incomplete"):
        resolve_id(store, "dr", "dr-20261202T000000Z")


def test_a_pruned_snapshot_leaves_no_object_behind(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    snapshot_of(store, *a_node(tmp_path / "host"))
    deleted = execute_snapshot_prune(store, SnapshotPrunePlan("dr", (), (SID,), ()))
    assert deleted == 1
    assert list(store.list("snapshots/")) == []
