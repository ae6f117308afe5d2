"""The backup's hot loop: records appended to segments exactly as the format says, each
segment's buffer handed to the uploader without a copy, and a fresh one started."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Message

from dr.backup.copy import PartitionPlan, _fill, _Open, _Uploader
from dr.backup.format import decode_segment
from dr.storage.local import LocalStore

TS = 1_700_000_000_000


def message(offset: int, partition: int = 0, **fields: Any) -> Message:
    record: dict[str, Any] = {
        "key": b"k%d" % offset,
        "value": b"v" * (offset % 7),
        "timestamp": (1, TS + offset),
        "headers": None,
    }
    record.update(fields)
    return Message(topic="orders", partition=partition, offset=offset, error=None, **record)


def stored(tmp_path: Path, uploader: _Uploader, plan: PartitionPlan) -> list[list[Any]]:
    uploader.finish()
    store = LocalStore(tmp_path / "store")
    out = []
    for ref in plan.segments:
        header, records = decode_segment(store.get_bytes(ref.key))
        assert (header.start_offset, header.end_offset) == (ref.start_offset, ref.end_offset)
        out.append([(r.offset, r.timestamp, r.key, r.value, r.headers) for r in records])
    return out


@pytest.fixture
def uploader(tmp_path: Path) -> Iterator[_Uploader]:
    up = _Uploader(LocalStore(tmp_path / "store"), "job", "zstd", max_in_flight=1 << 30)
    yield up
    up.close()


def test_records_of_every_shape_are_stored_as_the_format_decodes_them(
    tmp_path: Path, uploader: _Uploader
) -> None:
    plan = PartitionPlan("orders", 0, 0, 100, None)
    st = _Open(plan, 0, 0)
    batch = [message(o) for o in range(6)]
    batch += [
        message(6, key=None),
        message(7, value=None),
        message(8, key=b"", value=b""),
        message(9, headers=[("h", b"x"), ("n", None)]),
        message(10, key=b"a much longer key than the others"),
    ]

    i, added, closed = _fill(st, batch, 0, uploader, 1000, 1 << 20)
    uploader.submit(st, st.next_offset)

    assert (i, added, closed, st.next_offset) == (11, 11, False, 11)
    [records] = stored(tmp_path, uploader, plan)
    expected = [
        (o, TS + o, m.key(), m.value(), tuple(m.headers() or ())) for o, m in enumerate(batch)
    ]
    assert records == expected


def test_a_full_segment_is_handed_over_and_the_next_starts_in_a_new_buffer(
    tmp_path: Path, uploader: _Uploader
) -> None:
    plan = PartitionPlan("orders", 0, 0, 100, None)
    st = _Open(plan, 0, 0)
    first_buffer = st.buf

    _fill(st, [message(o) for o in range(10)], 0, uploader, 4, 1 << 20)

    assert st.buf is not first_buffer and st.seg_start == 8 and st.count == 2
    assert st.first_ts == TS + 8
    uploader.submit(st, st.next_offset)
    segments = stored(tmp_path, uploader, plan)
    assert [[r[0] for r in s] for s in segments] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_a_run_stops_at_another_partition_and_at_the_ranges_end(uploader: _Uploader) -> None:
    plan = PartitionPlan("orders", 0, 0, 5, None)
    st = _Open(plan, 0, 0)
    batch = [message(0), message(1), message(0, partition=1), message(2)]

    assert _fill(st, batch, 0, uploader, 1000, 1 << 20) == (2, 2, False)
    assert st.next_offset == 2
    # Offsets 3 and 4 compacted away: the next record read is past the range.
    assert _fill(st, [*batch, message(9)], 3, uploader, 1000, 1 << 20) == (5, 1, True)
    assert st.next_offset == 5 and st.count == 3


def test_the_last_offset_of_the_range_closes_the_partition(uploader: _Uploader) -> None:
    plan = PartitionPlan("orders", 0, 10, 13, None)
    st = _Open(plan, 10, 10)

    batch = [message(o) for o in range(10, 16)]

    assert _fill(st, batch, 0, uploader, 1000, 1 << 20) == (3, 3, True)
    assert st.next_offset == 13
