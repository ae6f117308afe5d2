"""The data segment format: one object per run of consecutive offsets of one partition.

An object is::

    magic      8 bytes  b"KDRSEG" + format version (uint16, big-endian) = 1
    hdr_len    uint32   length of the header
    header     JSON     {"topic", "partition", "start_offset", "end_offset", "records",
                         "compression", "first_timestamp", "last_timestamp", "payload_bytes"}
    body       bytes    the payload, compressed as the header says (zstd frame, lz4 frame, none)

The payload is the records back to back, each (big-endian)::

    offset int64, timestamp int64, timestamp_type int8 (0 none, 1 CreateTime, 2 LogAppendTime),
    key_len int32 (-1 = null) + key, value_len int32 (-1 = null) + value,
    header_count int32, then per header: name_len int32 + UTF-8 name,
                                         value_len int32 (-1 = null) + value

``start_offset`` and ``end_offset`` (exclusive) are the offsets the segment covers: every offset
in between was read; those without a record were not data (transaction markers, aborted or
compacted records). docs/backup-format.md describes the same for people.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import lz4.frame
import zstandard

from dr.errors import DrError

MAGIC = b"KDRSEG"
FORMAT_VERSION = 1
Compression = Literal["zstd", "lz4", "none"]

_PREFIX = struct.Struct(">6sHI")
_RECORD = struct.Struct(">qqb")
_I32 = struct.Struct(">i")
_NULL = _I32.pack(-1)
_ZERO = _I32.pack(0)
# The common record (non-null key and value, no headers) in three appends: these pack its
# fixed fields exactly as append_record does.
RECORD_HEAD = struct.Struct(">qqbi")  # offset, timestamp, timestamp_type, key_len
VALUE_LEN = _I32
NO_HEADERS = _ZERO


class SegmentCorrupt(DrError):
    """A segment object cannot be decoded."""

    exit_code = 1


@dataclass(frozen=True, slots=True)
class Record:
    """One Kafka record as stored: byte-exact key, value and headers."""

    offset: int
    timestamp: int
    timestamp_type: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()


@dataclass(frozen=True)
class SegmentHeader:
    """What a segment covers, from its own header."""

    topic: str
    partition: int
    start_offset: int
    end_offset: int
    records: int
    compression: Compression
    first_timestamp: int | None
    last_timestamp: int | None
    payload_bytes: int


def append_record(
    buf: bytearray,
    offset: int,
    timestamp: int,
    timestamp_type: int,
    key: bytes | None,
    value: bytes | None,
    headers: list[tuple[str, bytes | None]] | None,
) -> None:
    """Append one record's encoding to buf (the hot path of a backup: no objects made)."""
    buf += _RECORD.pack(offset, timestamp, timestamp_type)
    if key is None:
        buf += _NULL
    else:
        buf += _I32.pack(len(key))
        buf += key
    if value is None:
        buf += _NULL
    else:
        buf += _I32.pack(len(value))
        buf += value
    if not headers:
        buf += _ZERO
        return
    buf += _I32.pack(len(headers))
    for name, hval in headers:
        raw = name.encode()
        buf += _I32.pack(len(raw))
        buf += raw
        if hval is None:
            buf += _NULL
        else:
            buf += _I32.pack(len(hval))
            buf += hval


def encode_segment(header: SegmentHeader, payload: bytes | bytearray) -> bytes:
    """The object bytes for a segment: magic, header, compressed payload (the compressors read
    payload in place: a segment's buffer is never copied whole)."""
    head = json.dumps(_header_dict(header), separators=(",", ":")).encode()
    body: bytes | bytearray
    if header.compression == "zstd":
        body = zstandard.ZstdCompressor(level=3, write_checksum=True).compress(payload)
    elif header.compression == "lz4":
        body = lz4.frame.compress(payload, content_checksum=True)
    else:
        body = payload
    return b"".join((_PREFIX.pack(MAGIC, FORMAT_VERSION, len(head)), head, body))


def read_header(data: bytes, *, name: str = "segment") -> tuple[SegmentHeader, int]:
    """The segment's header and where its body starts; raises SegmentCorrupt."""
    if len(data) < _PREFIX.size:
        raise SegmentCorrupt(f"{name}: truncated ({len(data)} bytes)")
    magic, version, head_len = _PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise SegmentCorrupt(f"{name}: not a kafka-dr segment (bad magic)")
    if version != FORMAT_VERSION:
        raise SegmentCorrupt(f"{name}: format version {version} is not supported")
    end = _PREFIX.size + head_len
    try:
        raw: dict[str, Any] = json.loads(data[_PREFIX.size : end])
        header = SegmentHeader(**raw)
    except (ValueError, TypeError) as exc:
        raise SegmentCorrupt(f"{name}: unreadable header ({exc})") from None
    return header, end


def decode_segment(data: bytes, *, name: str = "segment") -> tuple[SegmentHeader, list[Record]]:
    """Decode a whole segment; raises SegmentCorrupt naming it when anything is off."""
    header, start = read_header(data, name=name)
    payload = _decompress(header, data[start:], name)
    records = list(iter_records(payload, name=name))
    if len(records) != header.records:
        raise SegmentCorrupt(f"{name}: holds {len(records)} records, header says {header.records}")
    for rec in records:
        if not header.start_offset <= rec.offset < header.end_offset:
            raise SegmentCorrupt(
                f"{name}: record offset {rec.offset} outside "
                f"[{header.start_offset}, {header.end_offset})"
            )
    return header, records


RawRecord = tuple[int, int, int, bytes | None, bytes | None, list[tuple[str, bytes | None]] | None]


def iter_records(payload: bytes, *, name: str = "segment") -> Iterator[Record]:
    """Records of a decompressed payload, in order; raises SegmentCorrupt on a short read."""
    for offset, timestamp, ts_type, key, value, headers in iter_raw(payload, name=name):
        yield Record(offset, timestamp, ts_type, key, value, tuple(headers or ()))


def iter_raw(payload: bytes, *, name: str = "segment") -> Iterator[RawRecord]:
    """Records as plain tuples (offset, timestamp, type, key, value, headers or None), in
    order. Raises SegmentCorrupt on a short read."""
    yield from raw_records(payload, name=name)


def raw_records(payload: bytes, *, name: str = "segment") -> list[RawRecord]:
    """All records of a decompressed payload as plain tuples, in order: the restore's hot path
    (one unpack for the fixed fields and the key's length, bytes sliced straight from the
    payload). Raises SegmentCorrupt on a short read."""
    records: list[RawRecord] = []
    append = records.append
    pos, size = 0, len(payload)
    unpack_head, unpack_i32 = RECORD_HEAD.unpack_from, _I32.unpack_from
    try:
        while pos < size:
            offset, timestamp, ts_type, length = unpack_head(payload, pos)
            pos += 21  # RECORD_HEAD.size
            if length < 0:
                key = None
            else:
                key = payload[pos : pos + length]
                pos += length
            (length,) = unpack_i32(payload, pos)
            pos += 4
            if length < 0:
                value = None
            else:
                value = payload[pos : pos + length]
                pos += length
            (count,) = unpack_i32(payload, pos)
            pos += 4
            if count:
                view = memoryview(payload)
                headers: list[tuple[str, bytes | None]] = []
                for _ in range(count):
                    raw_name, pos = _read_bytes(view, pos)
                    hval, pos = _read_bytes(view, pos)
                    headers.append(((raw_name or b"").decode(), hval))
                append((offset, timestamp, ts_type, key, value, headers))
            else:
                append((offset, timestamp, ts_type, key, value, None))
        if pos > size:  # a slice past the end is only shorter: the lengths tell
            raise struct.error("record runs past the payload")
    except (struct.error, UnicodeDecodeError) as exc:
        raise SegmentCorrupt(f"{name}: corrupt record data at byte {pos} ({exc})") from None
    return records


def decompress_segment(data: bytes, *, name: str = "segment") -> tuple[SegmentHeader, bytes]:
    """The header and the decompressed payload; raises SegmentCorrupt."""
    header, start = read_header(data, name=name)
    return header, _decompress(header, data[start:], name)


def _read_bytes(view: memoryview, pos: int) -> tuple[bytes | None, int]:
    (length,) = _I32.unpack_from(view, pos)
    pos += 4
    if length < 0:
        return None, pos
    end = pos + length
    if end > len(view):
        raise struct.error("field runs past the payload")
    return bytes(view[pos:end]), end


def _decompress(header: SegmentHeader, body: bytes, name: str) -> bytes:
    try:
        if header.compression == "zstd":
            out: bytes = zstandard.ZstdDecompressor().decompress(
                body, max_output_size=header.payload_bytes
            )
        elif header.compression == "lz4":
            out = lz4.frame.decompress(body)
        elif header.compression == "none":
            out = bytes(body)
        else:
            raise SegmentCorrupt(f"{name}: unknown compression '{header.compression}'")
    except (zstandard.ZstdError, RuntimeError, ValueError) as exc:
        raise SegmentCorrupt(f"{name}: cannot decompress ({exc})") from None
    if len(out) != header.payload_bytes:
        raise SegmentCorrupt(
            f"{name}: payload is {len(out)} bytes, header says {header.payload_bytes}"
        )
    return out


def _header_dict(header: SegmentHeader) -> dict[str, Any]:
    return {
        "topic": header.topic,
        "partition": header.partition,
        "start_offset": header.start_offset,
        "end_offset": header.end_offset,
        "records": header.records,
        "compression": header.compression,
        "first_timestamp": header.first_timestamp,
        "last_timestamp": header.last_timestamp,
        "payload_bytes": header.payload_bytes,
    }
