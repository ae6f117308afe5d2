"""Pairing a partition with its copy: exact or an error, never a guess."""

from __future__ import annotations

import pytest

from dr.mirror.records import OffsetSync
from dr.playbooks.positions import Anchor, Pairing, PairingError, anchor_before, pair


def test_records_pair_up_across_offset_gaps() -> None:
    source = [(10, "a"), (11, "b"), (13, "c")]  # 12: a transaction marker
    copy = [(4, "a"), (5, "b"), (6, "c")]
    assert pair(source, copy, what="t-0") == [(10, 4), (11, 5), (13, 6)]


def test_a_different_record_is_named_with_both_offsets() -> None:
    with pytest.raises(PairingError, match="source offset 11 differs from the copy's at 5"):
        pair([(10, "a"), (11, "b")], [(4, "a"), (5, "x")], what="t-0")


@pytest.mark.parametrize(
    ("source", "copy", "side"),
    [
        ([(1, "a"), (2, "b")], [(1, "a")], "source"),
        ([(1, "a")], [(1, "a"), (2, "a")], "copy"),  # a duplicate on the copy
    ],
)
def test_a_record_more_on_one_side_is_an_error(
    source: list[tuple[int, str]], copy: list[tuple[int, str]], side: str
) -> None:
    with pytest.raises(PairingError, match=f"1 more record\\(s\\) on the {side} side"):
        pair(source, copy, what="t-0")


def sync(u: int, d: int) -> OffsetSync:
    return OffsetSync(topic="t", partition=0, upstream_offset=u, downstream_offset=d)


def test_the_newest_sync_at_or_before_the_offset_is_the_anchor() -> None:
    syncs = [sync(0, 0), sync(100, 90), sync(200, 180)]
    anchor = anchor_before(syncs, source_offset=150, source_start=0, copy_start=0)
    assert anchor == Anchor(100, 90, "offset sync 100->90")
    anchor = anchor_before(syncs, copy_offset=179, source_start=0, copy_start=0)
    assert anchor.source == 100


def test_syncs_outside_either_log_are_not_anchors() -> None:
    syncs = [sync(0, 0), sync(100, 90)]
    anchor = anchor_before(syncs, source_offset=150, source_start=120, copy_start=0)
    assert anchor == Anchor(120, 0, "log starts")


def test_an_offset_maps_to_the_record_at_or_after_it_or_to_the_end() -> None:
    pairing = Pairing(Anchor(10, 4, "x"), [(10, 4), (11, 5), (13, 6)], source_end=14, copy_end=7)
    assert pairing.copy_offset(12) == 6  # 12 is a marker: the next record
    assert pairing.copy_offset(14) == 7
    assert pairing.source_offset(5) == 11
    assert pairing.records == 3
    with pytest.raises(ValueError, match="before the anchor"):
        pairing.copy_offset(9)


def test_before_both_log_starts_means_the_copy_start() -> None:
    pairing = Pairing(Anchor(10, 4, "log starts"), [(10, 4)], source_end=11, copy_end=5)
    assert pairing.copy_offset(3) == 4
