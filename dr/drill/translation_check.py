"""Is a translated offset right? The record a group would read next on the source against the
one it would read first on the target, compared by digest (key, value, headers and timestamp:
what a copy keeps). Pure: the caller reads the records (dr.drill.mirror_translation).

A group committed C on the source and is translated to T on the target. Let S be the first
source record at or after C (what the group reads next) and R the first target record at or
after T (what it would read there). What the records show:

    exact         R is S's copy.
    redelivered   S's copy comes k records after T: the group re-reads k records it had already
                  consumed. MirrorMaker's translation is conservative by design (it rounds down
                  to an offset sync, see dr.mirror.translate), so this passes, unless the
                  translation states a bound (``max_redelivered``, basis offset-sync) and k
                  exceeds it: beyond-bound.
    at-end        nothing at or after C on the source, nothing at or after T on the target.
    pending       S is not replicated yet, and the replica holds nothing past T but records
                  before S: the group reads S once it is replicated, nothing is skipped.
    skipped       S's copy lies before T, or R is a source record after S: a consumer resuming
                  at T never reads the records in between. Data loss: failed.
    past-end      T lies beyond the replica's end: the next records replicated get offsets
                  below T and are never read. Failed.
    unverified    the records read cannot tell (S's copy not within the records read, a read
                  cut short by its deadline). A warning, never a pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from dr.drill.translation_verdicts import PartitionVerdict, Probe, Verdict, Window
from dr.kafka.reader import RecordAt

DEFAULT_WINDOW = 200  # records read on each side of C and T (twice MirrorMaker's offset.lag.max)
MAX_WINDOW = 5000  # never more per partition, whatever bound a translation states


def read_spans(
    committed: int,
    translated: int,
    bound: int | None,
    *,
    source: tuple[int, int],
    target: tuple[int, int],
    window: int = DEFAULT_WINDOW,
) -> tuple[tuple[int, int], tuple[int, int]]:
    """The offsets to read on the source around C and on the target around T, within each
    partition's [log start, end): far enough past T to cover the stated bound (or ``window``
    records when none is stated), ``window`` records the other way to name a skip."""
    ahead = window if bound is None else min(max(bound + 1, window), MAX_WINDOW)

    def clamp(lo: int, hi: int, span: tuple[int, int]) -> tuple[int, int]:
        start = min(max(lo, span[0]), span[1])
        return start, max(start, min(hi, span[1]))

    return (
        clamp(committed - ahead, committed + window, source),
        clamp(translated - window, translated + ahead, target),
    )


class _Side:
    """One side's records in offset order, with their digests computed once."""

    def __init__(self, window: Window) -> None:
        self.window = window
        self.records = sorted(window.records, key=lambda r: r.offset)
        self.digests = [r.digest() for r in self.records]

    def first_at(self, offset: int) -> RecordAt | None:
        return next((r for r in self.records if r.offset >= offset), None)

    def last_before(self, offset: int) -> RecordAt | None:
        return next((r for r in reversed(self.records) if r.offset < offset), None)

    def count(self, lo: int, hi: int) -> int:
        return sum(1 for r in self.records if lo <= r.offset < hi)

    def find(self, digest: str, lo: int, hi: int) -> RecordAt | None:
        return next(
            (r for r, d in zip(self.records, self.digests, strict=True)
             if d == digest and lo <= r.offset < hi),
            None,
        )  # fmt: skip

    def offset_of(self, record: RecordAt | None) -> int | None:
        """The offset of a record with the same digest as ``record`` on this side, if read."""
        if record is None:
            return None
        digest = record.digest()
        return next((r.offset for r, d in zip(self.records, self.digests, strict=True)
                     if d == digest), None)  # fmt: skip

    def span(self) -> str:
        return f"offsets {self.window.start}..{self.window.stop - 1}"


@dataclass(frozen=True)
class _Found:
    """What compare() established, before it is written up as a verdict."""

    s: RecordAt | None
    r: RecordAt | None
    u: int | None  # R's source offset


def compare(p: Probe) -> PartitionVerdict:
    """The verdict of one translated partition (see the module docstring)."""
    src, dst = _Side(p.source), _Side(p.target)
    s, r = src.first_at(p.committed), dst.first_at(p.translated)
    seen = _Found(s, r, src.offset_of(r))
    if s is None:
        return _source_at_end(p, src, dst, seen)
    ahead = dst.find(s.digest(), p.translated, p.target.stop)
    if ahead is not None:
        return _found_ahead(p, dst, seen, ahead)
    before = dst.find(s.digest(), p.target.start, p.translated)
    if before is not None:
        skipped = dst.count(before.offset, p.translated)
        what = _what_is(p, src, seen)
        return _verdict(
            p, "skipped", seen,
            f"{_where(p)}, but the record at {p.translated} on {p.target_cluster} is not "
            f"source offset {s.offset}'s record ({what}); that record is at {before.offset} on "
            f"{p.target_cluster}: resuming at {p.translated} skips {_n(skipped)}",
            found=before.offset, skipped=skipped,
        )  # fmt: skip
    return _not_found(p, src, dst, seen)


def _source_at_end(p: Probe, src: _Side, dst: _Side, seen: _Found) -> PartitionVerdict:
    """Nothing at or after C on the source: T must leave nothing to read but re-reads."""
    if not p.source.complete or p.source.stop < p.source_end:
        return _verdict(
            p, "unverified", seen,
            f"{_where(p)}: no source record at or after {p.committed} among {src.span()} read "
            f"(of {p.source_end}{'' if p.source.complete else ', the read was cut short'})",
        )  # fmt: skip
    if seen.r is None:
        if p.translated > p.target_end:
            return _past_end(p, seen)
        if not p.target.complete:
            return _verdict(p, "unverified", seen, f"{_where(p)}: the read on "
                            f"{p.target_cluster} was cut short before {p.translated}")  # fmt: skip
        return _verdict(p, "at-end", seen)
    whole = p.target.complete and p.target.stop >= p.target_end
    left = dst.count(p.translated, p.target.stop)
    if p.bound is not None and left > p.bound:
        return _verdict(
            p, "beyond-bound", seen,
            f"{_where(p)}: the group has read all of {p.topic}-{p.partition}, but "
            f"{left}{'' if whole else '+'} records follow {p.translated} on {p.target_cluster}, "
            f"more than the {p.bound} it may re-read",
            redelivered=left,
        )  # fmt: skip
    if seen.u is None:
        return _verdict(
            p, "unverified", seen,
            f"{_where(p)}: the group has read all of {p.topic}-{p.partition}, and the record at "
            f"{p.translated} on {p.target_cluster} is none of source {src.span()}",
        )  # fmt: skip
    return _verdict(
        p, "redelivered", seen, redelivered=left if whole else p.target_end - p.translated
    )


def _found_ahead(p: Probe, dst: _Side, seen: _Found, found: RecordAt) -> PartitionVerdict:
    """S's copy is at or after T: exact, or k records re-read (within the bound, if stated)."""
    k = dst.count(p.translated, found.offset)
    if k == 0:
        return _verdict(p, "exact", seen, found=found.offset, redelivered=0)
    if p.bound is not None and k > p.bound:
        assert seen.s is not None
        return _verdict(
            p, "beyond-bound", seen,
            f"{_where(p)}: source offset {seen.s.offset}'s record is at {found.offset} on "
            f"{p.target_cluster}, so resuming at {p.translated} re-reads {_n(k)}, more than "
            f"the {p.bound} the translation allows",
            found=found.offset, redelivered=k,
        )  # fmt: skip
    return _verdict(p, "redelivered", seen, found=found.offset, redelivered=k)


def _not_found(p: Probe, src: _Side, dst: _Side, seen: _Found) -> PartitionVerdict:
    """S's copy is not among the target records read: R tells, or the replica's end does."""
    s = seen.s
    assert s is not None
    if p.elsewhere is not None:
        return _found_elsewhere(p, src, dst, seen, p.elsewhere)
    if seen.r is None:
        return _nothing_after(p, src, dst, seen)
    if seen.u is not None and seen.u > s.offset:
        skipped = src.count(s.offset, seen.u)
        return _verdict(
            p, "skipped", seen,
            f"{_where(p)}, but the record at {p.translated} on {p.target_cluster} is not source "
            f"offset {s.offset}'s record (it is source offset {seen.u}'s): resuming there skips "
            f"{_n(skipped)}",
            skipped=skipped,
        )  # fmt: skip
    left = dst.count(p.translated, p.target.stop)
    whole = p.target.complete and p.target.stop >= p.target_end
    if seen.u is not None and p.bound is not None and left > p.bound:
        return _verdict(
            p, "beyond-bound", seen,
            f"{_where(p)}: source offset {s.offset}'s record is not within the {left} records "
            f"after {p.translated} on {p.target_cluster}, more than the {p.bound} the "
            "translation allows to re-read",
            redelivered=left,
        )  # fmt: skip
    if seen.u is not None and whole:
        return _verdict(p, "pending", seen, redelivered=left)
    where = (
        f"the record at {p.translated} on {p.target_cluster} is none of source {src.span()}"
        if seen.u is None
        else f"source offset {s.offset}'s record is not within {dst.span()} of {p.target_cluster}"
    )
    return _verdict(p, "unverified", seen, f"{_where(p)}: {where}")


def _found_elsewhere(
    p: Probe, src: _Side, dst: _Side, seen: _Found, found: RecordAt
) -> PartitionVerdict:
    """S's copy lies outside the window read around T: far behind it (a skip) or far ahead (a
    long re-read). Offsets between the two were not read: counts are offsets, not records."""
    assert seen.s is not None
    if found.offset < p.translated:
        gap = p.translated - found.offset
        return _verdict(
            p, "skipped", seen,
            f"{_where(p)}, but the record at {p.translated} on {p.target_cluster} is not "
            f"source offset {seen.s.offset}'s record ({_what_is(p, src, seen)}); that record is "
            f"at {found.offset} on {p.target_cluster}: resuming at {p.translated} skips about "
            f"{_n(gap)}",
            found=found.offset, skipped=gap,
        )  # fmt: skip
    read_again = found.offset - p.translated
    if p.bound is not None and dst.count(p.translated, p.target.stop) > p.bound:
        return _verdict(
            p, "beyond-bound", seen,
            f"{_where(p)}: source offset {seen.s.offset}'s record is at {found.offset} on "
            f"{p.target_cluster}, so resuming at {p.translated} re-reads about {read_again} "
            f"records, more than the {p.bound} the translation allows",
            found=found.offset, redelivered=read_again,
        )  # fmt: skip
    if p.bound is not None:
        return _verdict(
            p, "unverified", seen,
            f"{_where(p)}: source offset {seen.s.offset}'s record is at {found.offset} on "
            f"{p.target_cluster}, {read_again} offsets on, but too few records were read in "
            f"between to hold that against the bound of {p.bound}",
            found=found.offset,
        )  # fmt: skip
    return _verdict(p, "redelivered", seen, found=found.offset, redelivered=read_again)


def _nothing_after(p: Probe, src: _Side, dst: _Side, seen: _Found) -> PartitionVerdict:
    """Nothing at or after T on the target, S's copy not before it: is S only not there yet?"""
    s = seen.s
    assert s is not None
    if p.translated > p.target_end:
        return _past_end(p, seen)
    if not p.target.complete:
        return _verdict(p, "unverified", seen, f"{_where(p)}: the read on {p.target_cluster} "
                        f"was cut short before {p.translated}")  # fmt: skip
    last = dst.last_before(p.translated)
    u = src.offset_of(last)
    if u is not None and u < s.offset:
        again = src.count(u + 1, p.committed)
        if p.bound is not None and again > p.bound:
            return _verdict(
                p, "beyond-bound", seen,
                f"{_where(p)}: the replica ends with source offset {u}'s record, so the group "
                f"will re-read {_n(again)}, more than the {p.bound} the translation allows",
                redelivered=again,
            )  # fmt: skip
        return _verdict(p, "pending", seen, redelivered=again)
    if u is not None:
        return _verdict(
            p, "skipped", seen,
            f"{_where(p)}: source offset {u}'s record is at {last.offset if last else '?'} on "
            f"{p.target_cluster}, before {p.translated}, but source offset {s.offset}'s record is "
            "not there: the replica lacks it",
        )  # fmt: skip
    return _verdict(
        p, "unverified", seen,
        f"{_where(p)}: nothing at or after {p.translated} on {p.target_cluster}, and the record "
        f"before it is none of source {src.span()}",
    )  # fmt: skip


def _past_end(p: Probe, seen: _Found) -> PartitionVerdict:
    return _verdict(
        p, "past-end", seen,
        f"{_where(p)}, past the end of {p.target_topic}-{p.partition} on {p.target_cluster} "
        f"({p.target_end}): the next {p.translated - p.target_end} records replicated there "
        "would never be read",
        skipped=p.translated - p.target_end,
    )  # fmt: skip


def _what_is(p: Probe, src: _Side, seen: _Found) -> str:
    if seen.r is None:
        return f"there is none: {p.translated} is past the last record read there"
    if seen.u is not None:
        return f"it is source offset {seen.u}'s"
    return f"it is none of source {src.span()}"


def _n(count: int) -> str:
    return f"{count} record" if count == 1 else f"{count} records"


def _where(p: Probe) -> str:
    return (
        f"group {p.group}: {p.topic}-{p.partition} committed {p.committed} translated to "
        f"{p.translated}"
    )


def _verdict(
    p: Probe,
    verdict: Verdict,
    seen: _Found,
    problem: str | None = None,
    *,
    found: int | None = None,
    redelivered: int | None = None,
    skipped: int | None = None,
) -> PartitionVerdict:
    return PartitionVerdict(
        probe=p,
        verdict=verdict,
        problem=problem,
        source_offset=seen.s.offset if seen.s else None,
        source_digest=seen.s.digest() if seen.s else None,
        target_digest=seen.r.digest() if seen.r else None,
        target_record_source_offset=seen.u,
        target_offset_found=found,
        redelivered=redelivered,
        skipped=skipped,
    )
