"""Group offsets after a restore: a group resumes at the first restored record it had not read."""

from __future__ import annotations

from array import array

import pytest

from dr.backup.restore import mapped_offset


def restored(*original_offsets: int) -> array[int]:
    """The original offsets of the records a restore wrote to one partition, in order."""
    return array("q", original_offsets)


def test_a_full_restore_maps_every_committed_offset_to_itself() -> None:
    originals = restored(*range(10))

    assert [mapped_offset(originals, 0, o) for o in range(11)] == list(range(11))


def test_a_group_committed_at_an_original_record_resumes_at_that_record() -> None:
    # Offsets 3, 4 and 8 were transaction markers or aborted records: never restored.
    originals = restored(0, 1, 2, 5, 6, 7, 9)

    assert mapped_offset(originals, 0, 5) == 3  # record 5 is the 4th restored record


def test_a_group_committed_inside_a_hole_resumes_at_the_next_restored_record() -> None:
    originals = restored(0, 1, 2, 5, 6, 7, 9)

    assert mapped_offset(originals, 0, 3) == 3
    assert mapped_offset(originals, 0, 4) == 3
    assert mapped_offset(originals, 0, 8) == 6


def test_records_left_out_by_until_are_not_counted() -> None:
    # --until kept only the records stamped at or before the time: 10, 11, 15 and 16.
    originals = restored(10, 11, 15, 16)

    assert [mapped_offset(originals, 0, o) for o in (10, 11, 12, 15, 16)] == [0, 1, 2, 2, 3]


def test_a_group_committed_before_the_first_restored_record_resumes_at_the_start() -> None:
    # The backup starts at 500: the log start had moved past the group's position.
    assert mapped_offset(restored(500, 501, 502), 0, 120) == 0


@pytest.mark.parametrize("committed", [17, 18, 10_000])
def test_a_group_committed_beyond_the_restored_records_resumes_at_the_end(committed: int) -> None:
    # Committed 17 means it read everything up to 16; the records after --until do not count.
    assert mapped_offset(restored(10, 11, 15, 16), 0, committed) == 4


def test_the_target_partitions_base_offset_is_added() -> None:
    # The target held 1000 records (or earlier restores) before this restore began.
    originals = restored(10, 11, 15, 16)

    assert mapped_offset(originals, 1000, 12) == 1002
    assert mapped_offset(originals, 1000, 99) == 1004


def test_a_partition_with_no_restored_record_maps_every_group_to_its_base() -> None:
    assert mapped_offset(restored(), 250, 42) == 250
