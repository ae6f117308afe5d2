"""Where a replica stops following its source: pure logic over (offset, digest) pairs.

A replica partition written by MirrorMaker 2 holds copies of its source partition's records, in
the same order, but not at the same offsets (transaction markers and aborted records are not
copied; offsets on either side need not be contiguous), and MirrorMaker is at-least-once: after
a restart it may copy again records it had already copied. Records are compared by digest (key,
value, headers, timestamp: dr.kafka.reader.RecordAt.digest), never by offset.

The walk starts at a pair both sides are known to share (an offset-sync, or both log starts) and
reads the replica to its end. Each replica record is the next source record, or a repeat of a
record already matched (a MirrorMaker duplicate); anything else means the replica is not a copy
of the source from that point, and the walk refuses to guess. A replica record that equals the
next source record is always taken as that record, never as a duplicate: when a record is
ambiguous, the walk errs towards reporting it diverged (it is then archived), never towards
treating an unreplicated record as replicated.

Records of aborted (or still open) transactions are *optional* on the source: MirrorMaker reads
its source read_uncommitted unless told otherwise (exactly-once flows read committed), so a
replica may or may not hold copies of them. The walk skips optional source records the replica
does not have; they are never divergence (no producer was told they were written).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from dr.errors import DrError

Entry = tuple[int, str]  # (offset, digest) of one record
# A source record: (offset, digest), or (offset, digest, optional) where optional marks a record
# of an aborted or undecided transaction, which the replica may lack.
SourceEntry = tuple[int, str] | tuple[int, str, bool]
# How many matched records a duplicate is looked for among: MirrorMaker re-copies at most what
# it copied since its last committed source offset, far fewer records than this.
DUPLICATE_WINDOW = 100_000


class DivergenceError(DrError):
    """Where a replica diverged from its source cannot be told without guessing."""


@dataclass(frozen=True)
class Match:
    """The end of a walk: the last source record the replica holds a copy of.

    ``source_offset`` is that record's offset on the source (None when the replica gave no
    record), ``replica_offset`` the offset of the replica's last record, ``matched`` the replica
    records matched one to one, ``duplicates`` those that repeated a record already matched.
    """

    source_offset: int | None
    replica_offset: int | None
    matched: int
    duplicates: int


def match_replica(
    replica: Iterable[Entry],
    source: Iterable[SourceEntry],
    *,
    where: str,
    window: int = DUPLICATE_WINDOW,
) -> Match:
    """Walk the replica's records against the source's, both from a pair they share.

    The first replica record must be the first source record (optional ones aside). ``where``
    names the partitions and the starting point in error messages. Reads ``source`` only as
    far as the replica needs. Raises DivergenceError when the first records differ, or when a
    replica record is neither the next source record nor a repeat of one already matched
    (naming both offsets).
    """
    ahead = _Ahead(iter(source))
    recent: deque[str] = deque()
    seen: Counter[str] = Counter()
    last_source: int | None = None
    last_replica: int | None = None
    matched = duplicates = 0
    for offset, digest in replica:
        hit = ahead.take(digest)
        if hit is not None:
            last_source, last_replica, matched = hit, offset, matched + 1
            _remember(digest, recent, seen, window)
            continue
        nxt = ahead.next_offset()
        if last_source is None:
            first = "has no record" if nxt is None else f"has offset {nxt}"
            raise DivergenceError(
                f"{where}: the replica's first record (offset {offset}) is not the source's "
                f"first record (the source {first}): the starting point does not hold; refusing "
                "to guess where the replica diverged"
            )
        if seen[digest]:
            duplicates += 1
            last_replica = offset
            continue
        expected = (
            f"the next source record (offset {nxt})"
            if nxt is not None
            else f"any source record (the source ends after offset {last_source})"
        )
        raise DivergenceError(
            f"{where}: replica record at offset {offset} is neither {expected} nor a repeat of "
            f"one already matched (last matched: source {last_source}); the replica is not a copy "
            "of the source there: refusing to guess where it diverged"
        )
    return Match(last_source, last_replica, matched, duplicates)


class _Ahead:
    """The source records not yet matched, read one at a time as the walk needs them."""

    def __init__(self, source: Iterator[SourceEntry]) -> None:
        self._source = source
        self._buffer: deque[SourceEntry] = deque()

    def _peek(self, i: int) -> SourceEntry | None:
        while len(self._buffer) <= i:
            entry = next(self._source, None)
            if entry is None:
                return None
            self._buffer.append(entry)
        return self._buffer[i]

    def take(self, digest: str) -> int | None:
        """The offset of the next source record with this digest, consuming it and the
        optional records before it; None (consuming nothing) when a required record or the
        source's end comes first."""
        i = 0
        while (entry := self._peek(i)) is not None:
            if entry[1] == digest:
                for _ in range(i + 1):
                    self._buffer.popleft()
                return entry[0]
            if entry[2:] != (True,):
                return None
            i += 1
        return None

    def next_offset(self) -> int | None:
        """The offset of the next required source record (for messages); None at the end."""
        i = 0
        while (entry := self._peek(i)) is not None:
            if entry[2:] != (True,):
                return entry[0]
            i += 1
        return None


def _remember(digest: str, recent: deque[str], seen: Counter[str], window: int) -> None:
    recent.append(digest)
    seen[digest] += 1
    if len(recent) > window:
        old = recent.popleft()
        seen[old] -= 1
        if not seen[old]:
            del seen[old]
