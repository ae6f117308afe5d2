"""What a mirror flow's replicas hold: the last record of each replica partition, and the
source record it is a copy of. Read from the clusters' data, never from MirrorMaker."""

from __future__ import annotations

import time
from collections.abc import Mapping

from dr.config.schema import ClusterSettings
from dr.kafka.reader import RecordAt, first_matching, last_records, offsets_for_times
from dr.objectives.figures import LAST_RECORD_WINDOW, TP, dating

# Records searched, from the copied record's timestamp on, for the one it is a copy of.
SAME_MILLISECOND_WINDOW = 50_000


def replicated_until(
    target: ClusterSettings, ends: Mapping[TP, int], *, timeout_s: float
) -> tuple[dict[TP, int], dict[TP, str]]:
    """For each replica partition that holds records: the timestamp of its last record, or
    why it could not be read. An empty replica partition is in neither (nothing replicated)."""
    until, unread, _ = replicas_last(target, ends, timeout_s=timeout_s)
    return until, unread


def replicas_last(
    target: ClusterSettings, ends: Mapping[TP, int], *, timeout_s: float
) -> tuple[dict[TP, int], dict[TP, str], dict[TP, RecordAt]]:
    """replicated_until's answers, and the last records they come from."""
    started = time.monotonic()
    last = last_records(target, ends, window=LAST_RECORD_WINDOW, timeout_s=timeout_s)
    timed_out = time.monotonic() - started >= timeout_s
    return (*dating(ends, last, timed_out=timed_out, timeout_s=timeout_s), last)


def back_to_last_copied(
    source: ClusterSettings,
    first_missing: Mapping[TP, int],
    copied: Mapping[TP, RecordAt],
    unmeasured: dict[TP, str],
    *,
    timeout_s: float,
) -> dict[TP, int]:
    """first_missing, moved back to just after the source record that each replica's last
    record is a copy of, when records of the same millisecond follow that one: offsets for
    one millisecond later skip them, and MirrorMaker stopped in the middle of such a burst
    would otherwise read as caught up. The record is found by its digest (key, value,
    headers, timestamp) among the source's records from its timestamp on; the first match is
    taken, so identical records count as missing, never as copied. A partition whose search
    runs out of time (``timeout_s``, for the read) or window moves to ``unmeasured``."""
    starts = offsets_for_times(source, {tp: rec.timestamp_ms for tp, rec in copied.items()})
    ranges = {
        tp: (start, first_missing[tp])
        for tp, start in starts.items()
        if 0 <= start < first_missing[tp] - 1  # more than the copied record itself
    }
    wide = {tp for tp, (start, stop) in ranges.items() if stop - start > SAME_MILLISECOND_WINDOW}
    searched = {tp: r for tp, r in ranges.items() if tp not in wide}
    found, timed_out = first_matching(
        source, searched, {tp: copied[tp].digest() for tp in searched}, timeout_s=timeout_s
    )
    out = dict(first_missing)
    for tp, (start, stop) in ranges.items():
        name = f"{tp[0]}-{tp[1]}"
        if tp in found:
            out[tp] = found[tp] + 1
        elif tp in wide or timed_out:
            del out[tp]
            unmeasured[tp] = (
                f"the source record that the last replicated record of {name} copies was not "
                f"found among offsets {start}..{stop - 1}"
                + (f" within {timeout_s:g}s" if timed_out and tp not in wide else "")
            )
    return out


def one_ms_after(replicated: Mapping[TP, int]) -> dict[TP, int]:
    return {tp: ts + 1 for tp, ts in replicated.items()}
