"""MirrorMaker 2's internal records: read from the exact bytes MirrorMaker writes, damage named.

The fixtures below are written out by hand from Kafka's protocol types (STRING = INT16 length +
UTF-8, INT16/INT32/INT64 big-endian) and the schemas of Checkpoint.java, Heartbeat.java and
OffsetSync.java; they are not produced by the encoders under test.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dr.errors import DrError
from dr.mirror.records import (
    HEARTBEATS_TOPIC,
    Checkpoint,
    EncodedRecord,
    Heartbeat,
    OffsetSync,
    RecordFormatError,
    checkpoints_topic,
    decode_checkpoint,
    decode_heartbeat,
    decode_offset_sync,
    encode_checkpoint,
    encode_heartbeat,
    encode_offset_sync,
    offset_syncs_topic,
)

# Checkpoint(group "g1", topic "orders", partition 3, upstream 100, downstream 90, metadata "")
CHECKPOINT = Checkpoint("g1", "orders", 3, 100, 90, "")
CHECKPOINT_KEY = bytes.fromhex(
    "0002 6731"  # group: length 2, "g1"
    " 0006 6f7264657273"  # topic: length 6, "orders"
    " 00000003"  # partition: INT32 3
)
CHECKPOINT_VALUE = bytes.fromhex(
    "0000"  # version header: INT16 0
    " 0000000000000064"  # upstreamOffset: INT64 100
    " 000000000000005a"  # offset (downstream): INT64 90
    " 0000"  # metadata: length 0, ""
)

# A remote topic, an offset past 2^32 and metadata whose UTF-8 is longer than its text.
CHECKPOINT_WIDE = Checkpoint("billing", "primary.invoices", 11, 1 << 40, (1 << 40) - 7, "é")
CHECKPOINT_WIDE_KEY = bytes.fromhex(
    "0007 62696c6c696e67"  # group: "billing"
    " 0010 7072696d6172792e696e766f69636573"  # topic: 16 bytes, "primary.invoices"
    " 0000000b"  # partition 11
)
CHECKPOINT_WIDE_VALUE = bytes.fromhex(
    "0000"  # version 0
    " 0000010000000000"  # upstreamOffset 2^40
    " 000000fffffffff9"  # offset 2^40 - 7
    " 0002 c3a9"  # metadata: 2 bytes, "é"
)

# Heartbeat(source "primary", target "dr", timestamp 1700000000000 = 0x18bcfe56800)
HEARTBEAT = Heartbeat("primary", "dr", 1_700_000_000_000)
HEARTBEAT_KEY = bytes.fromhex(
    "0007 7072696d617279"  # sourceClusterAlias: "primary"
    " 0002 6472"  # targetClusterAlias: "dr"
)
HEARTBEAT_VALUE = bytes.fromhex(
    "0000"  # version 0
    " 0000018bcfe56800"  # timestamp
)

# OffsetSync(topic "orders", partition 3, upstream 100, downstream 90): no version header.
OFFSET_SYNC = OffsetSync("orders", 3, 100, 90)
OFFSET_SYNC_KEY = bytes.fromhex("0006 6f7264657273 00000003")
OFFSET_SYNC_VALUE = bytes.fromhex("0000000000000064 000000000000005a")

Decoder = Callable[[bytes | None, bytes | None], object]
FIXTURES: list[tuple[str, Decoder, bytes, bytes]] = [
    ("checkpoint", decode_checkpoint, CHECKPOINT_KEY, CHECKPOINT_VALUE),
    ("checkpoint-wide", decode_checkpoint, CHECKPOINT_WIDE_KEY, CHECKPOINT_WIDE_VALUE),
    ("heartbeat", decode_heartbeat, HEARTBEAT_KEY, HEARTBEAT_VALUE),
    ("offset-sync", decode_offset_sync, OFFSET_SYNC_KEY, OFFSET_SYNC_VALUE),
]


def test_a_checkpoint_is_read_from_mirrormakers_bytes() -> None:
    assert decode_checkpoint(CHECKPOINT_KEY, CHECKPOINT_VALUE) == CHECKPOINT
    assert decode_checkpoint(CHECKPOINT_WIDE_KEY, CHECKPOINT_WIDE_VALUE) == CHECKPOINT_WIDE


def test_a_heartbeat_is_read_from_mirrormakers_bytes() -> None:
    assert decode_heartbeat(HEARTBEAT_KEY, HEARTBEAT_VALUE) == HEARTBEAT


def test_an_offset_sync_is_read_from_mirrormakers_bytes() -> None:
    assert decode_offset_sync(OFFSET_SYNC_KEY, OFFSET_SYNC_VALUE) == OFFSET_SYNC


def test_encoders_write_the_bytes_mirrormaker_writes() -> None:
    assert encode_checkpoint(CHECKPOINT) == EncodedRecord(CHECKPOINT_KEY, CHECKPOINT_VALUE)
    assert encode_checkpoint(CHECKPOINT_WIDE) == EncodedRecord(
        CHECKPOINT_WIDE_KEY, CHECKPOINT_WIDE_VALUE
    )
    assert encode_heartbeat(HEARTBEAT) == EncodedRecord(HEARTBEAT_KEY, HEARTBEAT_VALUE)
    assert encode_offset_sync(OFFSET_SYNC) == EncodedRecord(OFFSET_SYNC_KEY, OFFSET_SYNC_VALUE)


@pytest.mark.parametrize(
    "checkpoint",
    [
        Checkpoint("", "", 0, 0, 0, ""),
        Checkpoint("grüppe-日本", "dr.orders", (1 << 31) - 1, (1 << 63) - 1, -1, "m" * 32767),
        Checkpoint("g", "t", -1, -(1 << 63), 5, '{"k": 1}'),
    ],
)
def test_a_checkpoint_survives_a_round_trip(checkpoint: Checkpoint) -> None:
    encoded = encode_checkpoint(checkpoint)
    assert decode_checkpoint(encoded.key, encoded.value) == checkpoint


def test_a_heartbeat_and_an_offset_sync_survive_a_round_trip() -> None:
    heartbeat = Heartbeat("east-1", "west_2", -1)
    sync = OffsetSync("östlich", 0, 0, (1 << 63) - 1)
    encoded = encode_heartbeat(heartbeat)
    assert decode_heartbeat(encoded.key, encoded.value) == heartbeat
    encoded = encode_offset_sync(sync)
    assert decode_offset_sync(encoded.key, encoded.value) == sync


@pytest.mark.parametrize(("name", "decode", "key", "value"), FIXTURES, ids=[f[0] for f in FIXTURES])
def test_every_truncation_is_reported_as_a_format_error(
    name: str, decode: Decoder, key: bytes, value: bytes
) -> None:
    for cut in range(len(key)):
        with pytest.raises(RecordFormatError, match="key is truncated"):
            decode(key[:cut], value)
    for cut in range(len(value)):
        with pytest.raises(RecordFormatError, match="value is truncated"):
            decode(key, value[:cut])


def test_a_truncated_field_is_named_with_its_position() -> None:
    with pytest.raises(RecordFormatError) as err:
        decode_checkpoint(CHECKPOINT_KEY[:-1], CHECKPOINT_VALUE)
    assert str(err.value) == (
        "checkpoint key is truncated: field 'partition' needs 4 bytes at byte 12, 3 left"
    )
    with pytest.raises(RecordFormatError) as err:
        decode_checkpoint(bytes.fromhex("0002 67"), CHECKPOINT_VALUE)
    assert str(err.value) == (
        "checkpoint key is truncated: field 'group' needs 2 bytes at byte 2, 1 left"
    )


@pytest.mark.parametrize(("name", "decode", "key", "value"), FIXTURES, ids=[f[0] for f in FIXTURES])
def test_trailing_bytes_are_refused(name: str, decode: Decoder, key: bytes, value: bytes) -> None:
    with pytest.raises(RecordFormatError, match="key has 1 trailing bytes"):
        decode(key + b"\x00", value)
    with pytest.raises(RecordFormatError, match="value has 3 trailing bytes"):
        decode(key, value + b"\x00\x00\x01")


def test_an_offset_sync_value_has_no_version_header() -> None:
    with_header = bytes.fromhex("0000") + OFFSET_SYNC_VALUE
    with pytest.raises(RecordFormatError) as err:
        decode_offset_sync(OFFSET_SYNC_KEY, with_header)
    assert str(err.value) == "offset-sync value has 2 trailing bytes after field 'offset'"


def test_a_checkpoint_of_an_unknown_version_is_refused() -> None:
    version_1 = bytes.fromhex("0001") + CHECKPOINT_VALUE[2:]
    with pytest.raises(RecordFormatError, match="checkpoint value has unknown version 1"):
        decode_checkpoint(CHECKPOINT_KEY, version_1)


def test_a_heartbeat_of_an_unknown_version_is_refused() -> None:
    version_minus_1 = bytes.fromhex("ffff") + HEARTBEAT_VALUE[2:]
    with pytest.raises(RecordFormatError, match="heartbeat value has unknown version -1"):
        decode_heartbeat(HEARTBEAT_KEY, version_minus_1)


def test_a_negative_string_length_is_refused() -> None:
    key = bytes.fromhex("ffff 0006 6f7264657273 00000003")
    with pytest.raises(RecordFormatError, match="field 'group' has a negative string length"):
        decode_checkpoint(key, CHECKPOINT_VALUE)


def test_a_string_that_is_not_utf8_is_refused() -> None:
    key = bytes.fromhex("0002 c328 00000003")
    with pytest.raises(RecordFormatError, match="field 'topic' is not valid UTF-8"):
        decode_offset_sync(key, OFFSET_SYNC_VALUE)


def test_a_null_key_or_value_is_refused() -> None:
    with pytest.raises(RecordFormatError, match="heartbeat key is null"):
        decode_heartbeat(None, HEARTBEAT_VALUE)
    with pytest.raises(RecordFormatError, match="checkpoint value is null"):
        decode_checkpoint(CHECKPOINT_KEY, None)


def test_a_record_format_error_is_a_one_line_dr_error() -> None:
    with pytest.raises(DrError) as err:
        decode_checkpoint(CHECKPOINT_KEY, CHECKPOINT_VALUE[:5])
    assert "\n" not in str(err.value)


def test_a_string_longer_than_a_kafka_string_cannot_be_encoded() -> None:
    # 16384 "é" are 16384 characters but 32768 bytes of UTF-8, one more than INT16 allows.
    with pytest.raises(RecordFormatError, match="field 'metadata': 32768 bytes of UTF-8"):
        encode_checkpoint(Checkpoint("g", "t", 0, 0, 0, "é" * 16384))


def test_numbers_outside_their_kafka_type_cannot_be_encoded() -> None:
    with pytest.raises(RecordFormatError, match="field 'partition': 2147483648 is not an INT32"):
        encode_offset_sync(OffsetSync("t", 1 << 31, 0, 0))
    with pytest.raises(RecordFormatError, match="field 'timestamp'"):
        encode_heartbeat(Heartbeat("a", "b", 1 << 63))


def test_a_string_with_a_lone_surrogate_cannot_be_encoded() -> None:
    with pytest.raises(RecordFormatError, match="field 'group': not encodable as UTF-8"):
        encode_checkpoint(Checkpoint("\ud800", "t", 0, 0, 0, ""))


def test_internal_topics_are_named_as_mirrormaker_names_them() -> None:
    assert checkpoints_topic("primary") == "primary.checkpoints.internal"
    assert offset_syncs_topic("dr") == "mm2-offset-syncs.dr.internal"
    assert HEARTBEATS_TOPIC == "heartbeats"


def test_internal_topics_follow_a_custom_separator() -> None:
    assert checkpoints_topic("primary", separator="_") == "primary_checkpoints_internal"
    assert offset_syncs_topic("dr", separator="__") == "mm2-offset-syncs__dr__internal"
