"""Snapshot manifests, retention and the end-offset comparison after a restore."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dr.snapshots.manifest import (
    NodeArchive,
    SnapshotError,
    SnapshotManifest,
    choose_pruned,
    compare_end_offsets,
    decode_manifest,
    encode_manifest,
    expected_end_offsets,
    manifest_key,
    new_snapshot_id,
    node_key,
)

T0 = datetime(2026, 12, 1, 3, 15, tzinfo=UTC)


def archive(node: int, ends: dict[str, dict[str, int]]) -> NodeArchive:
    return NodeArchive(
        node_id=node,
        key=node_key("dr", "dr-20261201T031500Z", node),
        size=100 + node,
        sha256="ab" * 32,
        tar_bytes=1000,
        log_dirs=(f"/var/lib/kafka/data-{node}",),
        config_file="/etc/kafka/server.properties",
        stopped_at=T0,
        down_s=12.5,
        end_offsets=ends,
    )


def manifest(*nodes: NodeArchive) -> SnapshotManifest:
    return SnapshotManifest(
        snapshot_id="dr-20261201T031500Z",
        cluster="dr",
        cluster_id="q1Sh-9_ISia_zwGINzRvyQ",
        started_at=T0,
        finished_at=T0,
        run_id="snapshot-run-20261201T031500Z-3f9a",
        end_offsets={"orders": {"0": 5, "1": 7}},
        nodes=nodes,
    )


def test_objects_live_under_the_cluster_and_snapshot_id() -> None:
    sid = new_snapshot_id("dr", T0)
    assert sid == "dr-20261201T031500Z"
    assert node_key("dr", sid, 3) == "snapshots/dr/dr-20261201T031500Z/node-3.tar.zst"
    assert manifest_key("dr", sid) == "snapshots/dr/dr-20261201T031500Z/manifest.json"


def test_a_manifest_reads_back_as_it_was_written() -> None:
    written = manifest(archive(1, {"orders": {"0": 5}}), archive(2, {"orders": {"1": 7}}))
    assert decode_manifest(encode_manifest(written), "m.json") == written
    assert written.size == 101 + 102


def test_a_manifest_of_another_format_is_refused_by_name() -> None:
    with pytest.raises(SnapshotError, match=r"m\.json: format 9"):
        decode_manifest(b'{"format": 9}', "m.json")


def test_a_cut_manifest_is_refused_by_name() -> None:
    data = encode_manifest(manifest(archive(1, {})))
    with pytest.raises(SnapshotError, match=r"m\.json is not a readable snapshot manifest"):
        decode_manifest(data[: len(data) // 2], "m.json")


def test_a_node_the_snapshot_lacks_is_named_with_those_it_has() -> None:
    with pytest.raises(SnapshotError, match=r"has no node 4 \(it has: 1, 2\)"):
        manifest(archive(1, {}), archive(2, {})).node(4)


def test_retention_keeps_the_newest_keep_last_and_prunes_the_rest() -> None:
    ids = [f"dr-2026120{d}T000000Z" for d in range(1, 6)]
    kept, pruned, stale = choose_pruned(ids, [], keep_last=2, min_keep=1)
    assert kept == [ids[4], ids[3]]
    assert pruned == [ids[2], ids[1], ids[0]]
    assert stale == []


def test_min_keep_wins_over_a_smaller_keep_last() -> None:
    ids = [f"dr-2026120{d}T000000Z" for d in range(1, 6)]
    kept, pruned, _ = choose_pruned(ids, [], keep_last=1, min_keep=3)
    assert len(kept) == 3 and len(pruned) == 2


def test_without_keep_last_every_snapshot_is_kept() -> None:
    ids = [f"dr-2026120{d}T000000Z" for d in range(1, 6)]
    kept, pruned, _ = choose_pruned(ids, [], keep_last=None, min_keep=1)
    assert len(kept) == 5 and pruned == []


def test_only_incomplete_snapshots_older_than_the_newest_complete_one_are_deleted() -> None:
    complete = ["dr-20261202T000000Z"]
    incomplete = ["dr-20261201T000000Z", "dr-20261203T000000Z"]  # the second may still run
    _, _, stale = choose_pruned(complete, incomplete, keep_last=5, min_keep=1)
    assert stale == ["dr-20261201T000000Z"]
    _, _, none = choose_pruned([], incomplete, keep_last=5, min_keep=1)
    assert none == []


def test_the_expected_end_offset_is_the_highest_recorded_by_a_node_hosting_it() -> None:
    snap = manifest(
        archive(1, {"orders": {"0": 10, "1": 4}}),
        archive(2, {"orders": {"0": 12}}),
        archive(3, {"payments": {"0": 3}}),
    )
    assert expected_end_offsets(snap, [1, 2, 3]) == {"orders": {"0": 12, "1": 4},
                                                     "payments": {"0": 3}}  # fmt: skip
    assert expected_end_offsets(snap, [1]) == {"orders": {"0": 10, "1": 4}}


def test_equal_end_offsets_are_no_difference() -> None:
    ends = {"orders": {"0": 12, "1": 4}}
    assert compare_end_offsets(ends, {"orders": {"0": 12, "1": 4, "2": 9}}) == []


def test_each_difference_says_which_way_it_goes() -> None:
    recorded = {"orders": {"0": 12, "1": 4, "10": 1}, "gone": {"0": 3}}
    restored = {"orders": {"0": 10, "1": 6, "10": 1}}
    found = compare_end_offsets(recorded, restored)
    assert [(d.topic, d.partition, d.kind) for d in found] == [
        ("gone", 0, "missing-partition"),
        ("orders", 0, "fewer-records"),
        ("orders", 1, "more-records"),
    ]
    assert found[1].describe() == "orders-0: end 10, recorded 12: 2 fewer"
