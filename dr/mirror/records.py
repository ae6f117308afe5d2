"""MirrorMaker 2's internal-topic records, in the exact bytes MirrorMaker writes, and their topics.

MirrorMaker serializes keys and values with Kafka's protocol ``Schema``/``Struct`` types: a
record is its fields back to back, big-endian, with no field names and no framing::

    INT16  2 bytes     INT32  4 bytes     INT64  8 bytes
    STRING INT16 length N (never negative, at most 32767) then N bytes of UTF-8

    checkpoint   key   group STRING, topic STRING, partition INT32
                 value version INT16 (= 0), upstreamOffset INT64, offset INT64, metadata STRING
    heartbeat    key   sourceClusterAlias STRING, targetClusterAlias STRING
                 value version INT16 (= 0), timestamp INT64
    offset-sync  key   topic STRING, partition INT32
                 value upstreamOffset INT64, offset INT64        (no version header)

Where they live: ``<source>.checkpoints.internal`` on the target cluster;
``mm2-offset-syncs.<target>.internal`` on the source cluster (MirrorMaker's default
``offset-syncs.topic.location=source``). The heartbeats of a flow source -> target go to
``heartbeats`` on the target; the source's own ``heartbeats`` topic is replicated to the target as
``<source>.heartbeats`` (under both policies).

Decoders are stricter than MirrorMaker's own reader: they refuse trailing bytes and versions
other than 0, where Java's reader ignores the former and (with assertions off) misreads the latter.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal

from dr.errors import DrError

ReplicationPolicy = Literal["default", "identity"]

HEARTBEATS_TOPIC = "heartbeats"
RECORD_VERSION = 0  # the only version of Checkpoint and Heartbeat values MirrorMaker has written

_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")
_INT64 = struct.Struct(">q")
_MAX_STRING_BYTES = 32767  # Kafka's STRING length is a signed INT16


class RecordFormatError(DrError):
    """A MirrorMaker 2 internal-topic record is not in the format MirrorMaker writes."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A group's committed source offset and its translation on the target.

    ``topic`` is already the target-side name (``primary.orders`` under the default policy):
    MirrorMaker renames the partition before writing the checkpoint.
    """

    group: str
    topic: str
    partition: int
    upstream_offset: int
    downstream_offset: int
    metadata: str


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """One heartbeat emitted for the flow source_alias -> target_alias, stamped in ms."""

    source_alias: str
    target_alias: str
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class OffsetSync:
    """A pair of offsets known to hold the same record on the source and on the target.

    ``topic`` is the source-side (upstream) name.
    """

    topic: str
    partition: int
    upstream_offset: int
    downstream_offset: int


@dataclass(frozen=True, slots=True)
class EncodedRecord:
    """The key and value bytes of one internal-topic record."""

    key: bytes
    value: bytes


class _Reader:
    """Reads Kafka protocol fields from one key or value, naming the field that fails."""

    def __init__(self, data: bytes | None, what: str) -> None:
        if data is None:
            raise RecordFormatError(f"{what} is null; is this a MirrorMaker 2 internal topic?")
        self._data = data
        self._pos = 0
        self._what = what

    def _take(self, size: int, field: str) -> int:
        start = self._pos
        left = len(self._data) - start
        if size > left:
            raise RecordFormatError(
                f"{self._what} is truncated: field '{field}' needs {size} bytes at byte {start}, "
                f"{left} left"
            )
        self._pos += size
        return start

    def int16(self, field: str) -> int:
        value: int = _INT16.unpack_from(self._data, self._take(2, field))[0]
        return value

    def int32(self, field: str) -> int:
        value: int = _INT32.unpack_from(self._data, self._take(4, field))[0]
        return value

    def int64(self, field: str) -> int:
        value: int = _INT64.unpack_from(self._data, self._take(8, field))[0]
        return value

    def string(self, field: str) -> str:
        length = self.int16(field)
        if length < 0:
            raise RecordFormatError(
                f"{self._what} field '{field}' has a negative string length ({length})"
            )
        start = self._take(length, field)
        try:
            return self._data[start : start + length].decode("utf-8")
        except UnicodeDecodeError:
            raise RecordFormatError(
                f"{self._what} field '{field}' is not valid UTF-8 (at byte {start})"
            ) from None

    def version(self) -> None:
        version = self.int16("version")
        if version != RECORD_VERSION:
            raise RecordFormatError(
                f"{self._what} has unknown version {version}; kafka-dr reads version "
                f"{RECORD_VERSION} (was it written by a newer MirrorMaker?)"
            )

    def end(self, last_field: str) -> None:
        extra = len(self._data) - self._pos
        if extra:
            raise RecordFormatError(
                f"{self._what} has {extra} trailing bytes after field '{last_field}'"
            )


class _Writer:
    """Writes Kafka protocol fields, refusing values Java's writer would refuse."""

    def __init__(self, what: str) -> None:
        self._buf = bytearray()
        self._what = what

    def _pack(self, codec: struct.Struct, bits: int, value: int, field: str) -> None:
        low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        if not low <= value <= high:
            raise RecordFormatError(
                f"cannot encode {self._what} field '{field}': {value} is not an INT{bits}"
            )
        self._buf += codec.pack(value)

    def int16(self, field: str, value: int) -> None:
        self._pack(_INT16, 16, value, field)

    def int32(self, field: str, value: int) -> None:
        self._pack(_INT32, 32, value, field)

    def int64(self, field: str, value: int) -> None:
        self._pack(_INT64, 64, value, field)

    def string(self, field: str, value: str) -> None:
        try:
            data = value.encode("utf-8")
        except UnicodeEncodeError:
            raise RecordFormatError(
                f"cannot encode {self._what} field '{field}': not encodable as UTF-8"
            ) from None
        if len(data) > _MAX_STRING_BYTES:
            raise RecordFormatError(
                f"cannot encode {self._what} field '{field}': {len(data)} bytes of UTF-8, "
                f"the most a Kafka STRING holds is {_MAX_STRING_BYTES}"
            )
        self.int16(field, len(data))
        self._buf += data

    def done(self) -> bytes:
        return bytes(self._buf)


def decode_checkpoint(key: bytes | None, value: bytes | None) -> Checkpoint:
    """The Checkpoint in one record of a ``<source>.checkpoints.internal`` topic.

    Raises RecordFormatError if the key or value is null, truncated, of an unknown version,
    not UTF-8 where a string is, or followed by trailing bytes.
    """
    k = _Reader(key, "checkpoint key")
    group, topic, partition = k.string("group"), k.string("topic"), k.int32("partition")
    k.end("partition")
    v = _Reader(value, "checkpoint value")
    v.version()
    upstream, downstream = v.int64("upstreamOffset"), v.int64("offset")
    metadata = v.string("metadata")
    v.end("metadata")
    return Checkpoint(group, topic, partition, upstream, downstream, metadata)


def decode_heartbeat(key: bytes | None, value: bytes | None) -> Heartbeat:
    """The Heartbeat in one record of a ``heartbeats`` (or ``<source>.heartbeats``) topic.

    Raises RecordFormatError as decode_checkpoint does.
    """
    k = _Reader(key, "heartbeat key")
    source, target = k.string("sourceClusterAlias"), k.string("targetClusterAlias")
    k.end("targetClusterAlias")
    v = _Reader(value, "heartbeat value")
    v.version()
    timestamp = v.int64("timestamp")
    v.end("timestamp")
    return Heartbeat(source, target, timestamp)


def decode_offset_sync(key: bytes | None, value: bytes | None) -> OffsetSync:
    """The OffsetSync in one record of a ``mm2-offset-syncs.<alias>.internal`` topic.

    Its value has no version header. Raises RecordFormatError if the key or value is null,
    truncated, not UTF-8 where a string is, or followed by trailing bytes.
    """
    k = _Reader(key, "offset-sync key")
    topic, partition = k.string("topic"), k.int32("partition")
    k.end("partition")
    v = _Reader(value, "offset-sync value")
    upstream, downstream = v.int64("upstreamOffset"), v.int64("offset")
    v.end("offset")
    return OffsetSync(topic, partition, upstream, downstream)


def encode_checkpoint(checkpoint: Checkpoint) -> EncodedRecord:
    """The key and value MirrorMaker would write for this checkpoint (version 0).

    Raises RecordFormatError if a field does not fit its Kafka type.
    """
    k = _Writer("checkpoint key")
    k.string("group", checkpoint.group)
    k.string("topic", checkpoint.topic)
    k.int32("partition", checkpoint.partition)
    v = _Writer("checkpoint value")
    v.int16("version", RECORD_VERSION)
    v.int64("upstreamOffset", checkpoint.upstream_offset)
    v.int64("offset", checkpoint.downstream_offset)
    v.string("metadata", checkpoint.metadata)
    return EncodedRecord(k.done(), v.done())


def encode_heartbeat(heartbeat: Heartbeat) -> EncodedRecord:
    """The key and value MirrorMaker would write for this heartbeat (version 0).

    Raises RecordFormatError if a field does not fit its Kafka type.
    """
    k = _Writer("heartbeat key")
    k.string("sourceClusterAlias", heartbeat.source_alias)
    k.string("targetClusterAlias", heartbeat.target_alias)
    v = _Writer("heartbeat value")
    v.int16("version", RECORD_VERSION)
    v.int64("timestamp", heartbeat.timestamp_ms)
    return EncodedRecord(k.done(), v.done())


def encode_offset_sync(sync: OffsetSync) -> EncodedRecord:
    """The key and value MirrorMaker would write for this offset sync (no version header).

    Raises RecordFormatError if a field does not fit its Kafka type.
    """
    k = _Writer("offset-sync key")
    k.string("topic", sync.topic)
    k.int32("partition", sync.partition)
    v = _Writer("offset-sync value")
    v.int64("upstreamOffset", sync.upstream_offset)
    v.int64("offset", sync.downstream_offset)
    return EncodedRecord(k.done(), v.done())


def checkpoints_topic(source_alias: str, *, separator: str = ".") -> str:
    """The checkpoints topic of flows from source_alias, which lives on the target cluster.

    ``separator`` is MirrorMaker's internal-topic separator: ``replication.policy.separator``,
    unless ``replication.policy.internal.topic.separator.enabled`` is false, then ".".
    """
    return f"{source_alias}{separator}checkpoints{separator}internal"


def offset_syncs_topic(target_alias: str, *, separator: str = ".") -> str:
    """The offset-syncs topic of flows to target_alias, which lives on the source cluster.

    That is MirrorMaker's default (``offset-syncs.topic.location=source``); with ``target``, the
    topic lives on the target and is named after the source: pass the source alias instead.
    ``separator`` is as for checkpoints_topic.
    """
    return f"mm2-offset-syncs{separator}{target_alias}{separator}internal"


def remote_topic(
    source_alias: str, topic: str, policy: ReplicationPolicy, separator: str = "."
) -> str:
    """The name a source topic gets on the target cluster under this replication policy.

    The default policy prefixes ``<source_alias><separator>``; identity keeps the name, except for
    heartbeats topics, which it prefixes as the default policy does. Like MirrorMaker, identity
    takes any name ending in "heartbeats" for a heartbeats topic.
    """
    if policy == "identity" and not topic.endswith(HEARTBEATS_TOPIC):
        return topic
    return f"{source_alias}{separator}{topic}"
