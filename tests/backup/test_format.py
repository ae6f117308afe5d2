"""The segment format: records come back byte-exact, and a damaged object is named, not guessed."""

from __future__ import annotations

import json
import random
import struct

import pytest

from dr.backup.format import (
    MAGIC,
    Compression,
    Record,
    SegmentCorrupt,
    SegmentHeader,
    append_record,
    decode_segment,
    decompress_segment,
    encode_segment,
    iter_raw,
    iter_records,
    read_header,
)

NAME = "orders-job/data/orders/0/00000000000000000100.seg"
COMPRESSIONS: list[Compression] = ["zstd", "lz4", "none"]
PREFIX = struct.Struct(">6sHI")


def noise(size: int, seed: int = 7) -> bytes:
    """Bytes no compressor can shrink, the same on every run."""
    return random.Random(seed).randbytes(size)


def payload_of(records: list[Record]) -> bytes:
    buf = bytearray()
    for r in records:
        append_record(
            buf, r.offset, r.timestamp, r.timestamp_type, r.key, r.value, list(r.headers) or None
        )
    return bytes(buf)


def header_for(
    records: list[Record],
    payload: bytes,
    *,
    start: int,
    end: int,
    compression: Compression = "zstd",
    count: int | None = None,
) -> SegmentHeader:
    return SegmentHeader(
        topic="orders",
        partition=0,
        start_offset=start,
        end_offset=end,
        records=len(records) if count is None else count,
        compression=compression,
        first_timestamp=records[0].timestamp if records else None,
        last_timestamp=max(r.timestamp for r in records) if records else None,
        payload_bytes=len(payload),
    )


def segment(
    records: list[Record],
    *,
    start: int = 100,
    end: int = 110,
    compression: Compression = "zstd",
    count: int | None = None,
) -> bytes:
    payload = payload_of(records)
    header = header_for(
        records, payload, start=start, end=end, compression=compression, count=count
    )
    return encode_segment(header, payload)


def body_start(data: bytes) -> int:
    return read_header(data)[1]


def flipped(data: bytes, position: int) -> bytes:
    out = bytearray(data)
    out[position] ^= 0x01
    return bytes(out)


# Every shape a Kafka record can take that a careless encoder could lose or confuse.
AWKWARD = [
    Record(100, 1_714_521_600_000, 1, None, b"null key"),
    Record(101, 1_714_521_600_001, 1, b"tombstone", None),
    Record(102, 1_714_521_600_002, 2, b"", b""),
    Record(103, 1_714_521_600_003, 1, None, None),
    Record(104, 1_714_521_600_004, 1, b"\x00\xff\x80key", b"\xff\xfe\x00\x01value"),
    Record(
        105,
        1_714_521_600_005,
        1,
        b"k",
        b"v",
        (("trace", b"\x00\x01\xff"), ("trace", b"second"), ("empty", b""), ("no-value", None)),
    ),
    Record(106, -1, 0, b"no timestamp", b"v"),
    Record(108, 1_714_521_600_008, 1, b"after a marker at 107", b"v", (("ünïcödé", b"h"),)),
]


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_awkward_records_come_back_byte_exact_with_each_compression(
    compression: Compression,
) -> None:
    data = segment(AWKWARD, compression=compression)

    header, records = decode_segment(data, name=NAME)

    assert records == AWKWARD
    assert header == header_for(
        AWKWARD, payload_of(AWKWARD), start=100, end=110, compression=compression
    )


def test_empty_bytes_and_null_stay_distinct_in_keys_and_values() -> None:
    _, records = decode_segment(segment(AWKWARD))

    by_offset = {r.offset: r for r in records}
    assert (by_offset[102].key, by_offset[102].value) == (b"", b"")
    assert (by_offset[103].key, by_offset[103].value) == (None, None)
    assert by_offset[101].value is None


def test_repeated_headers_keep_their_order_and_a_null_header_value_stays_null() -> None:
    _, records = decode_segment(segment(AWKWARD))

    assert next(r for r in records if r.offset == 105).headers == (
        ("trace", b"\x00\x01\xff"),
        ("trace", b"second"),
        ("empty", b""),
        ("no-value", None),
    )


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_a_one_megabyte_value_round_trips_with_each_compression(compression: Compression) -> None:
    big = Record(100, 1_714_521_600_000, 1, b"big", noise(1024 * 1024), (("h", b"x"),))

    _, records = decode_segment(segment([big], compression=compression))

    assert records == [big]


def test_a_segment_without_records_still_covers_its_offsets() -> None:
    # Only transaction markers or aborted records between 100 and 103: nothing to store.
    header, records = decode_segment(segment([], start=100, end=103))

    assert records == []
    assert (header.start_offset, header.end_offset, header.records) == (100, 103, 0)
    assert (header.first_timestamp, header.last_timestamp) == (None, None)


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_decompress_segment_returns_the_exact_payload_that_was_encoded(
    compression: Compression,
) -> None:
    header, payload = decompress_segment(segment(AWKWARD, compression=compression))

    assert payload == payload_of(AWKWARD)
    assert header.payload_bytes == len(payload)


def test_iter_raw_yields_the_same_records_as_iter_records() -> None:
    payload = payload_of(AWKWARD)

    raw = list(iter_raw(payload))

    assert [Record(o, t, tt, k, v, tuple(h or ())) for o, t, tt, k, v, h in raw] == list(
        iter_records(payload)
    )
    assert len(raw) == len(AWKWARD)


def test_iter_raw_gives_none_for_no_headers_and_a_list_otherwise() -> None:
    raw = {row[0]: row for row in iter_raw(payload_of(AWKWARD))}

    assert raw[100][5] is None
    assert raw[105][5] == [
        ("trace", b"\x00\x01\xff"),
        ("trace", b"second"),
        ("empty", b""),
        ("no-value", None),
    ]


def test_the_object_starts_with_the_magic_the_version_and_a_json_header() -> None:
    data = segment(AWKWARD, compression="none")

    magic, version, head_len = PREFIX.unpack_from(data)
    head = json.loads(data[PREFIX.size : PREFIX.size + head_len])

    assert (magic, version) == (MAGIC, 1)
    assert head["start_offset"] == 100 and head["records"] == len(AWKWARD)
    assert data[PREFIX.size + head_len :] == payload_of(AWKWARD)


# -- damaged objects -----------------------------------------------------------------------


def corrupt_message(data: bytes) -> str:
    with pytest.raises(SegmentCorrupt) as caught:
        decode_segment(data, name=NAME)
    message = str(caught.value)
    assert message.startswith(f"{NAME}: ")
    return message.removeprefix(f"{NAME}: ")


def test_a_bad_magic_is_reported_naming_the_segment() -> None:
    data = b"PARQ" + segment(AWKWARD)[4:]

    assert corrupt_message(data) == "not a kafka-dr segment (bad magic)"


def test_an_unknown_format_version_is_reported_naming_the_segment() -> None:
    data = segment(AWKWARD)
    _, _, head_len = PREFIX.unpack_from(data)
    newer = PREFIX.pack(MAGIC, 2, head_len) + data[PREFIX.size :]

    assert corrupt_message(newer) == "format version 2 is not supported"


def test_an_object_shorter_than_the_prefix_is_reported_as_truncated() -> None:
    assert corrupt_message(segment(AWKWARD)[:5]) == "truncated (5 bytes)"


def test_an_unreadable_json_header_is_reported_naming_the_segment() -> None:
    data = segment(AWKWARD)
    _, _, head_len = PREFIX.unpack_from(data)
    garbled = data[: PREFIX.size] + b"{" * head_len + data[PREFIX.size + head_len :]

    assert corrupt_message(garbled).startswith("unreadable header")


def test_an_unknown_compression_is_reported_naming_it() -> None:
    payload = payload_of(AWKWARD)
    head = json.dumps(
        {
            "topic": "orders",
            "partition": 0,
            "start_offset": 100,
            "end_offset": 110,
            "records": len(AWKWARD),
            "compression": "gzip",
            "first_timestamp": None,
            "last_timestamp": None,
            "payload_bytes": len(payload),
        }
    ).encode()
    data = PREFIX.pack(MAGIC, 1, len(head)) + head + payload

    assert corrupt_message(data) == "unknown compression 'gzip'"


@pytest.mark.parametrize("compression", COMPRESSIONS)
@pytest.mark.parametrize("cut", [1, 64])
def test_a_truncated_body_is_reported_with_each_compression(
    compression: Compression, cut: int
) -> None:
    data = segment(AWKWARD, compression=compression)

    message = corrupt_message(data[:-cut])

    assert message.startswith(("cannot decompress", "payload is"))


@pytest.mark.parametrize("compression", ["zstd", "lz4"])
def test_a_flipped_byte_in_the_compressed_frame_header_is_reported(
    compression: Compression,
) -> None:
    data = segment(AWKWARD, compression=compression)

    assert corrupt_message(flipped(data, body_start(data))).startswith("cannot decompress")


@pytest.mark.parametrize("compression", ["zstd", "lz4"])
def test_a_flipped_byte_inside_a_compressed_value_is_reported(compression: Compression) -> None:
    # One incompressible value fills the body: its middle byte is record data, not framing.
    data = segment([Record(100, 1, 1, b"k", noise(4096))], compression=compression)
    start = body_start(data)

    corrupt_message(flipped(data, start + (len(data) - start) // 2))


def test_a_header_record_count_that_disagrees_with_the_body_is_reported() -> None:
    data = segment(AWKWARD, count=len(AWKWARD) + 1)

    assert corrupt_message(data) == f"holds {len(AWKWARD)} records, header says {len(AWKWARD) + 1}"


@pytest.mark.parametrize(
    ("start", "end", "bad"),
    [(101, 110, 100), (100, 108, 108)],
    ids=["below-start", "at-end"],
)
def test_a_record_offset_outside_the_segment_range_is_reported(
    start: int, end: int, bad: int
) -> None:
    data = segment(AWKWARD, start=start, end=end)

    assert corrupt_message(data) == f"record offset {bad} outside [{start}, {end})"


def test_a_record_running_past_the_payload_is_reported_with_its_position() -> None:
    # A stored payload whose last record lost its tail, with a header that agrees on the size.
    records = [Record(100, 1, 1, b"key", b"value")]
    payload = payload_of(records)[:-3]
    header = header_for(records, payload, start=100, end=101, compression="none")

    assert corrupt_message(encode_segment(header, payload)).startswith("corrupt record data")


def test_a_payload_size_that_disagrees_with_the_header_is_reported() -> None:
    payload = payload_of(AWKWARD)
    header = header_for(AWKWARD, payload, start=100, end=110, compression="none")
    data = encode_segment(header, payload + b"\x00\x00")

    assert (
        corrupt_message(data) == f"payload is {len(payload) + 2} bytes, header says {len(payload)}"
    )
