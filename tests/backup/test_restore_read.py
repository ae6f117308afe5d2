"""A restore reads each segment whole and checks it before it writes any record of it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
from handmade import encode

from dr.backup.catalog import PartitionEntry, SegmentRef
from dr.backup.format import decompress_segment, encode_segment
from dr.backup.restore_read import DamagedSegment, checked_segments, load_checked
from dr.storage import LocalStore

TOPIC = "orders"


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path)


@pytest.fixture
def prefetch() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool


def put(store: LocalStore, data: bytes, *, start: int, end: int, records: int) -> SegmentRef:
    key = f"job/data/{TOPIC}/0/{start:020d}.seg"
    store.put_bytes(key, data)
    sha = hashlib.sha256(data).hexdigest()
    return SegmentRef(key, start, end, records, len(data), sha, 1_000, 1_000)


def segment(store: LocalStore, offsets: list[int], start: int, end: int) -> SegmentRef:
    data, count = encode(
        offsets, topic=TOPIC, partition=0, start=start, end=end, timestamp_ms=1_000
    )
    return put(store, data, start=start, end=end, records=count)


def partition(*segments: SegmentRef) -> PartitionEntry:
    return PartitionEntry(TOPIC, 0, segments[0].start_offset, segments[-1].end_offset, segments)


def test_every_record_of_a_good_segment_comes_back_in_order(
    store: LocalStore, prefetch: ThreadPoolExecutor
) -> None:
    entry = partition(segment(store, [0, 1, 3], 0, 5), segment(store, [5, 6], 5, 7))

    offsets = [r[0] for s in checked_segments(store, entry, prefetch) for r in s.records]

    assert offsets == [0, 1, 3, 5, 6]


def test_a_segment_altered_in_the_store_is_refused(store: LocalStore) -> None:
    seg = segment(store, [0, 1], 0, 2)
    store.put_bytes(seg.key, store.get_bytes(seg.key) + b"x")

    with pytest.raises(DamagedSegment, match="checksum"):
        load_checked(store, partition(seg), seg)


def test_a_segment_that_does_not_decode_is_refused_whole_though_its_checksum_matches(
    store: LocalStore,
) -> None:
    good = segment(store, [0, 1, 2], 0, 3)
    header, payload = decompress_segment(store.get_bytes(good.key))
    cut = payload[:-3]  # the last record runs past the end; the first two decode
    bad = put(
        store,
        encode_segment(replace(header, payload_bytes=len(cut)), cut),
        start=0,
        end=3,
        records=3,
    )

    with pytest.raises(DamagedSegment, match="is damaged"):
        load_checked(store, partition(bad), bad)


def test_a_segment_holding_other_records_than_the_manifest_says_is_refused(
    store: LocalStore,
) -> None:
    seg = segment(store, [0, 1], 0, 2)
    wrong = replace(seg, records=3)

    with pytest.raises(DamagedSegment, match="the manifest says"):
        load_checked(store, partition(wrong), wrong)


def test_a_segment_missing_from_the_store_is_refused(store: LocalStore) -> None:
    seg = segment(store, [0], 0, 1)
    store.delete(seg.key)

    with pytest.raises(DamagedSegment, match="missing"):
        load_checked(store, partition(seg), seg)


def test_segments_before_the_first_wanted_one_are_not_read(
    store: LocalStore, prefetch: ThreadPoolExecutor
) -> None:
    first = segment(store, [0, 1], 0, 2)
    second = segment(store, [2, 3], 2, 4)
    store.delete(first.key)  # reading it would fail

    got = [s.ref for s in checked_segments(store, partition(first, second), prefetch, first=1)]

    assert got == [second]


@pytest.mark.parametrize(
    ("offsets", "bad"), [([0, 3, 2], 2), ([0, 1, 1], 1), ([0, 1, 5], 5), ([0, 1, 9], 9)]
)
def test_a_segment_whose_offsets_fall_back_repeat_or_leave_its_range_is_refused(
    store: LocalStore, offsets: list[int], bad: int
) -> None:
    seg = segment(store, offsets, 0, 5)

    with pytest.raises(DamagedSegment, match=f"has record offset {bad} out of order or range"):
        load_checked(store, partition(seg), seg)


def test_a_segment_whose_first_offset_is_before_its_range_is_refused(store: LocalStore) -> None:
    seg = segment(store, [3, 4], 4, 6)

    with pytest.raises(DamagedSegment, match="has record offset 3 out of order or range"):
        load_checked(store, partition(seg), seg)
