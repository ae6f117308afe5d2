"""Where a partition's records are in its copy on another cluster, record by record.

A copy (a MirrorMaker replica, or records kafka-dr copied back) holds the same records in the
same order, but not at the same offsets: transaction markers take offsets on one side only,
and a copy starts wherever it started. Two offsets known to hold the same record (an
*anchor*: a MirrorMaker offset sync, both log starts, or where kafka-dr began a copy) let the
rest be paired by reading both sides from there and comparing records by digest (key, value,
headers, timestamp). Nothing here is estimated: a pairing that does not hold is an error
naming the partition and the offsets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dr.config.schema import ClusterSettings, MirrorFlow, MirrorSettings
from dr.errors import DrError
from dr.kafka.reader import scan_range
from dr.mirror.properties import flow_property
from dr.mirror.records import OffsetSync

TP = tuple[str, int]
Digested = tuple[int, str]  # (offset, digest)


class PairingError(DrError):
    """A partition and its copy do not hold the same records."""


@dataclass(frozen=True)
class Anchor:
    """Offsets holding the same record on the source side and on the copy."""

    source: int
    copy: int
    how: str


@dataclass(frozen=True)
class Side:
    """One side of a pairing: a partition and the part of it that counts."""

    cluster: ClusterSettings
    tp: TP
    end: int
    isolation: str = "read_committed"  # as the copy was made (see copy_isolation)


def pair(
    source: Sequence[Digested], copy: Sequence[Digested], *, what: str
) -> list[tuple[int, int]]:
    """(source offset, copy offset) of each record, when both hold the same records in the same
    order; raises PairingError at the first difference."""
    for (s_off, s_dig), (c_off, c_dig) in zip(source, copy, strict=False):
        if s_dig != c_dig:
            raise PairingError(
                f"{what}: the record at source offset {s_off} differs from the copy's at {c_off}"
            )
    if len(source) != len(copy):
        longer, n = ("source", len(source)) if len(source) > len(copy) else ("copy", len(copy))
        at = (source if longer == "source" else copy)[min(len(source), len(copy))][0]
        raise PairingError(
            f"{what}: {abs(len(source) - len(copy))} more record(s) on the {longer} side "
            f"from offset {at} ({len(source)} vs {len(copy)} records since the anchor; {n})"
        )
    return [(s[0], c[0]) for s, c in zip(source, copy, strict=True)]


def anchor_before(
    syncs: Iterable[OffsetSync],
    *,
    source_offset: int | None = None,
    copy_offset: int | None = None,
    source_start: int,
    copy_start: int,
) -> Anchor:
    """The newest sync at or before the given offset on its side (and within both logs), or
    both log starts when there is none."""
    best: OffsetSync | None = None
    for sync in syncs:
        if sync.upstream_offset < source_start or sync.downstream_offset < copy_start:
            continue
        if source_offset is not None and sync.upstream_offset > source_offset:
            continue
        if copy_offset is not None and sync.downstream_offset > copy_offset:
            continue
        if best is None or sync.upstream_offset > best.upstream_offset:
            best = sync
    if best is None:
        return Anchor(source_start, copy_start, "log starts")
    return Anchor(
        best.upstream_offset,
        best.downstream_offset,
        f"offset sync {best.upstream_offset}->{best.downstream_offset}",
    )


def digests(side: Side, start: int, *, timeout_s: float | None = None) -> list[Digested]:
    """(offset, digest) of every record of the side from start to its end."""
    records = scan_range(
        side.cluster, side.tp, start, side.end, timeout_s=timeout_s, isolation=side.isolation
    )
    return [(r.offset, r.digest()) for r in records]


def copy_isolation(mirror: MirrorSettings | None, flow: MirrorFlow) -> str:
    """How MirrorMaker reads the flow's source, so that a pairing reads what it copied: records
    of aborted transactions too unless its source consumer reads committed ones only."""
    default = "read_committed" if flow.exactly_once else "read_uncommitted"
    return flow_property(mirror, flow, "source.consumer.isolation.level") or default


@dataclass(frozen=True)
class Pairing:
    """A partition paired with its copy from an anchor to both ends."""

    anchor: Anchor
    pairs: list[tuple[int, int]]
    source_end: int
    copy_end: int

    @property
    def records(self) -> int:
        return len(self.pairs)

    def copy_offset(self, source_offset: int) -> int:
        """Where the copy holds the record at (or first after) source_offset; the copy's end
        when no record is at or after it. The offset must be at or after the anchor."""
        if source_offset < self.anchor.source:
            if self.anchor.how == "log starts":
                return self.anchor.copy  # before anything either side still holds
            raise ValueError("offset before the anchor")
        for s, c in self.pairs:
            if s >= source_offset:
                return c
        return self.copy_end

    def source_offset(self, copy_offset: int) -> int:
        """The reverse of copy_offset."""
        if copy_offset < self.anchor.copy:
            if self.anchor.how == "log starts":
                return self.anchor.source
            raise ValueError("offset before the anchor")
        for s, c in self.pairs:
            if c >= copy_offset:
                return s
        return self.source_end


def pair_sides(source: Side, copy: Side, anchor: Anchor, *, what: str) -> Pairing:
    """Read both sides from the anchor and pair them; raises PairingError when they differ."""
    pairs = pair(digests(source, anchor.source), digests(copy, anchor.copy), what=what)
    return Pairing(anchor, pairs, source.end, copy.end)
