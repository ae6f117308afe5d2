"""The arithmetic of RPO, without I/O: from offsets and the records read at them to each
partition's figures, and from partitions to a flow's or a job's.

A figure that cannot be established is None with the reason beside it: never 0 and never a
guess. These functions are pure, so every way a measurement can fall short is unit-tested.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dr.backup.manifest import PartitionEntry
from dr.kafka.reader import RecordAt

TP = tuple[str, int]
LAST_RECORD_WINDOW = 10  # offsets looked back on the target for its last record


@dataclass(frozen=True)
class PartitionRpo:
    """One partition's RPO and lag; ``rpo_seconds`` is None when it could not be measured
    (``unmeasured`` says why), ``lag_messages`` None when how far replication got is unknown."""

    topic: str
    partition: int
    target_topic: str
    lag_messages: int | None
    rpo_seconds: float | None
    source_end: int
    unmeasured: str | None = None


@dataclass(frozen=True)
class Totals:
    """Partitions summed up: the worst RPO and the total lag, or None when unknown."""

    rpo_seconds: float | None
    lag_messages: int | None
    unmeasured: str | None


def totals(partitions: Sequence[PartitionRpo]) -> Totals:
    """The worst RPO and the total lag of ``partitions``. One unmeasured partition makes the
    whole unmeasured, with its reason (and how many more there are): the worst is unknown."""
    lags = [p.lag_messages for p in partitions]
    lag = None if None in lags else sum(x for x in lags if x is not None)
    reasons = [p.unmeasured or "unmeasured" for p in partitions if p.rpo_seconds is None]
    if reasons:
        others = len(reasons) - 1
        more = f" (and {others} more partition{'s' if others > 1 else ''})" if others else ""
        return Totals(None, lag, reasons[0] + more)
    worst = max((p.rpo_seconds for p in partitions if p.rpo_seconds is not None), default=0.0)
    return Totals(worst, lag, None)


def dating(
    ends: Mapping[TP, int], last: Mapping[TP, RecordAt], *, timed_out: bool, timeout_s: float
) -> tuple[dict[TP, int], dict[TP, str]]:
    """The replicas' last timestamps from what the last-record read found, or the reason each
    cannot be dated. When the read ran out of time, a record short of the end offset may not
    be the last one: only a record at end - 1 is sure to be."""
    until: dict[TP, int] = {}
    unread: dict[TP, str] = {}
    for (topic, partition), end in ends.items():
        if end <= 0:
            continue  # an empty replica: nothing replicated, which is known
        tp = (topic, partition)
        rec = last.get(tp)
        if rec is None or (timed_out and rec.offset < end - 1):
            unread[tp] = (
                f"the last record of {topic}-{partition} on the target could not be read "
                f"within {timeout_s:g}s"
                if timed_out
                else f"no record among the last {LAST_RECORD_WINDOW} offsets of "
                f"{topic}-{partition} on the target to date the replication by"
            )
        elif rec.timestamp_ms < 0:
            unread[tp] = f"the last record of {topic}-{partition} on the target has no timestamp"
        else:
            until[tp] = rec.timestamp_ms
    return until, unread


def first_missing_offsets(
    tps: Sequence[TP],
    low: Mapping[TP, int],
    end: Mapping[TP, int],
    replicated: Mapping[TP, int],
    unknown: Mapping[TP, str],
    after: Mapping[TP, int],
) -> tuple[dict[TP, int], dict[TP, str]]:
    """Where each source partition's first record not on the target is, or why that is not
    known. ``replicated`` holds the timestamp of the last replicated record, ``after`` the
    source's offsets-for-times answers for one millisecond later (-1: no record that late)."""
    first: dict[TP, int] = {}
    unmeasured: dict[TP, str] = {}
    for tp in tps:
        name = f"{tp[0]}-{tp[1]}"
        if low[tp] >= end[tp]:
            first[tp] = end[tp]  # nothing on the source: nothing to lose, however replicated
        elif tp in unknown:
            unmeasured[tp] = unknown[tp]
        elif tp not in replicated:
            first[tp] = low[tp]  # nothing replicated: every record the source holds is missing
        else:
            offset = after.get(tp)
            # On a partition error the client hands back the asked timestamp as the offset.
            if offset is None or offset < -1 or offset == replicated[tp] + 1:
                unmeasured[tp] = (
                    f"the source did not say which offset of {name} follows the last "
                    "replicated record (offsets-for-times failed)"
                )
            else:
                first[tp] = end[tp] if offset == -1 else offset
    return first, unmeasured


def stored_until(
    entries: Sequence[PartitionEntry], *, low: int, end: int, topic_id: str | None
) -> int:
    """The first offset of a source partition that the store does not hold: past the latest
    backup's entry of the topic's present lineage, else the log start. An entry of another
    lineage (a topic deleted and created again since, by Kafka's topic id, or without ids a log
    that now ends before it) holds none of the present topic's records: counting it would read
    0 while nothing of the new topic is backed up."""
    stored = low
    for entry in entries:
        if entry.topic_id is not None and topic_id is not None:
            same = entry.topic_id == topic_id
        else:
            same = entry.end_offset <= end
        if same:
            stored = max(stored, entry.end_offset)
    return stored


def partition_rpo(
    tp: TP,
    target_topic: str,
    *,
    end: int,
    first_missing: int | None,
    oldest: RecordAt | None,
    timed_out: bool,
    now: float,
    timeout_s: float,
    unmeasured: str | None = None,
    log_start_after: int | None = None,
) -> PartitionRpo:
    """One partition's figures. RPO is the age of ``oldest``, the record at or after
    ``first_missing``; 0 when nothing is missing, or when the read reached the end without a
    record (only transaction markers or aborted records: nothing to lose). Unmeasured: a read
    that ran out of time, a record without a timestamp, an unknown ``first_missing``, or a
    read that found nothing because retention deleted ``first_missing`` meanwhile (the log
    start, read again after the read, ``log_start_after``, is past it)."""
    topic, partition = tp

    def make(lag: int | None, rpo: float | None, why: str | None = None) -> PartitionRpo:
        return PartitionRpo(topic, partition, target_topic, lag, rpo, end, why)

    if first_missing is None:
        return make(None, None, unmeasured or f"{topic}-{partition}: position unknown")
    lag = max(0, end - first_missing)
    if first_missing >= end:
        return make(lag, 0.0)
    if oldest is not None and oldest.timestamp_ms >= 0:
        return make(lag, age(now, oldest.timestamp_ms))
    if oldest is not None:
        why = f"the record at offset {oldest.offset} of {topic}-{partition} has no timestamp"
        return make(lag, None, why)
    if timed_out:
        why = (
            f"the record at offset {first_missing} of {topic}-{partition} could not be read "
            f"within {timeout_s:g}s"
        )
        return make(lag, None, why)
    if log_start_after is not None and log_start_after > first_missing:
        why = (
            f"offsets {first_missing} to {log_start_after - 1} of {topic}-{partition} were deleted "
            "(retention) while being read"
        )
        return make(lag, None, why)
    return make(lag, 0.0)


def age(now: float, timestamp_ms: int) -> float:
    """Seconds from the record's timestamp to ``now``; a record from the future (clock skew
    between the producer and this host) counts as 0."""
    return max(0.0, now - timestamp_ms / 1000)
