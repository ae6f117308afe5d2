"""verify_backup on backups made by hand in a local store: each problem names its object."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from handmade import T0, HandmadeBackups, entry, reseal_in_place

from dr.backup.catalog import Gap, Manifest, MissingPartition, SegmentRef
from dr.backup.verify import Problem, verify_backup
from dr.storage import LocalStore

RETENTION_GAP = "deleted by retention before backup"


@dataclass(frozen=True)
class Backup:
    store: LocalStore
    made: HandmadeBackups
    manifest: Manifest
    segments: tuple[SegmentRef, ...]

    def corrupt(self, key: str, data: bytes) -> None:
        self.store.put_bytes(key, data)


@pytest.fixture
def backup(tmp_path: Path) -> Backup:
    """orders-0 in two segments (offsets 8 and 10 are transaction markers), orders-1 in one,
    and payments-0 whose only offsets are markers: an empty segment."""
    store = LocalStore(tmp_path / "store")
    made = HandmadeBackups(store)
    segs = (
        made.segment("orders", 0, 0, 5),
        made.segment("orders", 0, 5, 12, offsets=[5, 6, 7, 9, 11]),
        made.segment("orders", 1, 0, 3),
        made.segment("payments", 0, 0, 2, offsets=[]),
    )
    manifest = made.backup(
        [
            entry("orders", 0, segs[:2]),
            entry("orders", 1, segs[2:3]),
            entry("payments", 0, segs[3:]),
        ]
    )
    return Backup(store, made, manifest, segs)


@pytest.mark.parametrize("deep", [False, True], ids=["shallow", "deep"])
def test_an_intact_backup_verifies(backup: Backup, deep: bool) -> None:
    result = verify_backup(backup.store, backup.manifest, deep=deep)

    assert result.ok
    assert result.status == "OK"
    assert result.problems == ()
    assert (result.segments, result.records, result.deep) == (4, 13, deep)
    assert (result.segments_unverified, result.records_unverified) == (0, 0)


@pytest.mark.parametrize("deep", [False, True], ids=["shallow", "deep"])
def test_a_missing_segment_is_reported_naming_it(backup: Backup, deep: bool) -> None:
    key = backup.segments[1].key
    backup.store.delete(key)

    result = verify_backup(backup.store, backup.manifest, deep=deep)

    assert not result.ok
    assert result.status == "FAILED"
    assert result.problems == (Problem(key, "missing"),)


def test_a_missing_metadata_object_is_reported_naming_it(backup: Backup) -> None:
    backup.store.delete(backup.manifest.metadata_key)

    result = verify_backup(backup.store, backup.manifest)

    assert result.problems == (Problem(backup.manifest.metadata_key, "missing"),)


def test_a_truncated_segment_is_reported_with_both_sizes(backup: Backup) -> None:
    seg = backup.segments[0]
    backup.corrupt(seg.key, backup.store.get_bytes(seg.key)[:-10])

    result = verify_backup(backup.store, backup.manifest)

    assert result.problems == (
        Problem(seg.key, f"is {seg.bytes - 10} bytes, the manifest says {seg.bytes} (truncated?)"),
    )


@pytest.mark.parametrize("deep", [False, True], ids=["shallow", "deep"])
def test_a_flipped_byte_is_a_checksum_mismatch_naming_the_segment(
    backup: Backup, deep: bool
) -> None:
    seg = backup.segments[2]
    data = bytearray(backup.store.get_bytes(seg.key))
    data[len(data) // 2] ^= 0x01
    backup.corrupt(seg.key, bytes(data))

    result = verify_backup(backup.store, backup.manifest, deep=deep)

    assert result.problems == (Problem(seg.key, "checksum mismatch (the object was altered)"),)


def test_altered_metadata_is_a_checksum_mismatch_naming_it(backup: Backup) -> None:
    backup.corrupt(backup.manifest.metadata_key, b'{"format": 1, "topics": {"x": {}}}')

    result = verify_backup(backup.store, backup.manifest)

    assert result.problems == (
        Problem(backup.manifest.metadata_key, "checksum mismatch (the object was altered)"),
    )


def test_every_problem_is_reported_not_only_the_first(backup: Backup) -> None:
    backup.store.delete(backup.segments[0].key)
    backup.store.delete(backup.segments[3].key)

    result = verify_backup(backup.store, backup.manifest)

    assert [p.object for p in result.problems] == [backup.segments[0].key, backup.segments[3].key]


def test_an_unexplained_hole_between_segments_is_reported_naming_the_later_segment(
    tmp_path: Path,
) -> None:
    made = HandmadeBackups(LocalStore(tmp_path / "store"))
    first, later = made.segment("orders", 0, 0, 5), made.segment("orders", 0, 7, 12)
    manifest = made.backup([entry("orders", 0, [first, later])])

    result = verify_backup(made.store, manifest)

    assert result.problems == (
        Problem(later.key, "orders-0: starts at offset 7, the previous segment ended at 5"),
    )


def test_segments_ending_before_the_partitions_end_are_reported_naming_the_partition(
    tmp_path: Path,
) -> None:
    made = HandmadeBackups(LocalStore(tmp_path / "store"))
    manifest = made.backup([entry("orders", 0, [made.segment("orders", 0, 0, 5)], end=9)])

    result = verify_backup(made.store, manifest)

    assert result.problems == (Problem("orders-0", "segments end at offset 5, the backup says 9"),)


def test_a_partition_range_without_any_segment_is_reported(tmp_path: Path) -> None:
    made = HandmadeBackups(LocalStore(tmp_path / "store"))
    manifest = made.backup([entry("orders", 0, [], start=0, end=10)])

    result = verify_backup(made.store, manifest)

    assert result.problems == (Problem("orders-0", "segments end at offset 0, the backup says 10"),)


def test_an_empty_partition_without_segments_verifies(tmp_path: Path) -> None:
    made = HandmadeBackups(LocalStore(tmp_path / "store"))
    manifest = made.backup([entry("orders", 0, [], start=40, end=40)])

    assert verify_backup(made.store, manifest).ok


# -- problems only a deep verify finds: the object is the one the manifest recorded ----------


def only_deep_finds(made: HandmadeBackups, manifest: Manifest) -> tuple[Problem, ...]:
    assert verify_backup(made.store, manifest).ok
    return verify_backup(made.store, manifest, deep=True).problems


def test_a_segment_whose_header_names_another_partition_is_found_by_a_deep_verify(
    tmp_path: Path,
) -> None:
    made = HandmadeBackups(LocalStore(tmp_path / "store"))
    seg = made.segment("orders", 0, 0, 5, header_partition=1)
    manifest = made.backup([entry("orders", 0, [seg])])

    assert only_deep_finds(made, manifest) == (
        Problem(
            seg.key, "header says ('orders', 1, 0, 5, 5), the manifest says ('orders', 0, 0, 5, 5)"
        ),
    )


def test_a_manifest_record_count_the_segment_does_not_hold_is_found_by_a_deep_verify(
    tmp_path: Path,
) -> None:
    made = HandmadeBackups(LocalStore(tmp_path / "store"))
    seg = made.segment("orders", 0, 0, 5)
    inflated = replace(seg, records=6)
    manifest = made.backup([entry("orders", 0, [inflated])])

    assert only_deep_finds(made, manifest) == (
        Problem(
            seg.key, "header says ('orders', 0, 0, 5, 5), the manifest says ('orders', 0, 0, 5, 6)"
        ),
    )


def test_records_out_of_offset_order_are_found_by_a_deep_verify(tmp_path: Path) -> None:
    made = HandmadeBackups(LocalStore(tmp_path / "store"))
    seg = made.segment("orders", 0, 0, 5, offsets=[3, 1, 2])
    manifest = made.backup([entry("orders", 0, [seg])])

    assert only_deep_finds(made, manifest) == (
        Problem(seg.key, "record offsets are not strictly increasing"),
    )


def test_an_undecodable_segment_stored_as_written_is_found_by_a_deep_verify(
    tmp_path: Path,
) -> None:
    made = HandmadeBackups(LocalStore(tmp_path / "store"))
    seg = made.segment("orders", 0, 0, 5, offsets=[0, 1, 9])
    manifest = made.backup([entry("orders", 0, [seg])])

    # The segment's own name is said once, as the problem's object.
    assert only_deep_finds(made, manifest) == (Problem(seg.key, "record offset 9 outside [0, 5)"),)


def test_an_undecodable_segments_records_are_not_counted_as_decoded(tmp_path: Path) -> None:
    made = HandmadeBackups(LocalStore(tmp_path / "store"))
    good = made.segment("orders", 0, 0, 5)
    refused = made.segment("orders", 0, 5, 10, offsets=[5, 6, 19])
    manifest = made.backup([entry("orders", 0, [good, refused])])

    result = verify_backup(made.store, manifest, deep=True)

    assert [p.object for p in result.problems] == [refused.key]
    assert (result.segments, result.records) == (2, 5)  # the good segment's records only
    assert (result.segments_unverified, result.records_unverified) == (1, refused.records)


@pytest.mark.parametrize("deep", [False, True], ids=["shallow", "deep"])
def test_an_altered_or_missing_segments_records_are_counted_apart_as_unverified(
    backup: Backup, deep: bool
) -> None:
    altered, missing = backup.segments[0], backup.segments[2]
    backup.corrupt(altered.key, backup.store.get_bytes(altered.key)[:-1] + b"?")
    backup.store.delete(missing.key)

    result = verify_backup(backup.store, backup.manifest, deep=deep)

    assert result.records == 13 - altered.records - missing.records
    assert result.records_unverified == altered.records + missing.records
    assert result.segments_unverified == 2


# -- gaps ------------------------------------------------------------------------------------


@pytest.fixture
def gapped(tmp_path: Path) -> tuple[HandmadeBackups, Manifest]:
    """orders-0 stored up to 5, then offsets 5..19 deleted by retention before the next run."""
    made = HandmadeBackups(LocalStore(tmp_path / "store"))
    segs = [made.segment("orders", 0, 0, 5), made.segment("orders", 0, 20, 25)]
    found = Gap(5, 20, RETENTION_GAP, T0.isoformat(), "orders-job-20240501T010000000000Z")
    return made, made.backup([entry("orders", 0, segs, gaps=[found])])


def test_a_recorded_gap_is_listed_as_explained(gapped: tuple[HandmadeBackups, Manifest]) -> None:
    made, manifest = gapped

    result = verify_backup(made.store, manifest)

    assert result.gaps == (
        "orders-0 offsets 5..19: deleted by retention before backup "
        "(found by orders-job-20240501T010000000000Z)",
    )


def test_a_recorded_gap_is_not_a_problem(gapped: tuple[HandmadeBackups, Manifest]) -> None:
    made, manifest = gapped

    assert verify_backup(made.store, manifest).problems == ()


def test_verify_reports_progress_once_per_segment(backup: Backup) -> None:
    seen: list[tuple[int, int]] = []

    verify_backup(
        backup.store, backup.manifest, progress=lambda done, total: seen.append((done, total))
    )

    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]


# -- status, topics, chain -------------------------------------------------------------------


def test_a_partial_backup_verifies_as_partial_naming_each_partition_it_missed(
    tmp_path: Path,
) -> None:
    made = HandmadeBackups(LocalStore(tmp_path / "store"))
    offline = MissingPartition("orders", 1, "no leader (offline)")
    manifest = made.backup(
        [entry("orders", 0, [made.segment("orders", 0, 0, 5)])], missing=[offline]
    )

    result = verify_backup(made.store, manifest)

    assert result.ok
    assert result.status == "PARTIAL"
    assert result.partial == ("orders-1: no leader (offline)",)


def test_a_partial_backup_with_a_missing_object_has_failed(tmp_path: Path) -> None:
    made = HandmadeBackups(LocalStore(tmp_path / "store"))
    offline = MissingPartition("orders", 1, "no leader (offline)")
    seg = made.segment("orders", 0, 0, 5)
    manifest = made.backup([entry("orders", 0, [seg])], missing=[offline])
    made.store.delete(seg.key)

    assert verify_backup(made.store, manifest).status == "FAILED"


def test_topics_limits_the_data_checks_to_those_topics(backup: Backup) -> None:
    backup.store.delete(backup.segments[0].key)  # orders-0

    only_payments = verify_backup(backup.store, backup.manifest, topics={"payments"})
    everything = verify_backup(backup.store, backup.manifest)

    assert only_payments.status == "OK"
    assert (only_payments.segments, only_payments.records) == (1, 0)
    assert everything.problems == (Problem(backup.segments[0].key, "missing"),)


def test_topics_still_checks_the_backups_metadata(backup: Backup) -> None:
    backup.store.delete(backup.manifest.metadata_key)

    result = verify_backup(backup.store, backup.manifest, topics={"payments"})

    assert result.problems == (Problem(backup.manifest.metadata_key, "missing"),)


def test_a_replaced_manifest_fails_verify_unless_the_chain_checks_are_left_out(
    backup: Backup,
) -> None:
    forged = reseal_in_place(backup.store, replace(backup.manifest, gaps_found=7))
    key = f"{forged.job}/manifests/{forged.backup_id}.json"

    checked = verify_backup(backup.store, forged)
    unchecked = verify_backup(backup.store, forged, chain=False)

    assert checked.problems == (Problem(key, "is not the manifest committed as backup number 1"),)
    assert unchecked.status == "OK"
