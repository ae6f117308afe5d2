"""The write loop of a restore: every record not yet on the target, partition after partition,
each segment checked whole before any record of it is written."""

from __future__ import annotations

import threading
from array import array
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from dr.backup.catalog import Manifest, PartitionEntry
from dr.backup.restore_plan import RestoreError, RestoreFailed, RestorePlan
from dr.backup.restore_read import DamagedSegment, checked_segments
from dr.backup.restore_resume import written_timestamp
from dr.backup.restore_write import RecordWriter
from dr.errors import DrError, KafkaError
from dr.storage import ObjectStore

TP = tuple[str, int]
CHECK_EVERY = 5_000
CANCELLED = "restore cancelled"


@dataclass
class Stream:
    """What the write loop has done so far, per target partition."""

    sent: int = 0
    already: int = 0
    to_write: Counter[TP] = field(default_factory=Counter)
    finished: set[TP] = field(default_factory=set)
    originals: dict[tuple[str, int], array[int]] = field(default_factory=dict)
    topic_counts: dict[str, int] = field(default_factory=dict)


def write_all(
    store: ObjectStore,
    manifest: Manifest,
    plan: RestorePlan,
    writer: RecordWriter,
    *,
    ends: dict[TP, int],
    bases: dict[str, dict[str, int]],
    prefetch: ThreadPoolExecutor,
    progress: Callable[[int, int], None] | None,
    cancel: threading.Event | None,
) -> Stream:
    """Every record of the plan not yet on the target, partition after partition; raises
    RestoreFailed naming the complete partitions when it cannot finish."""
    stream = Stream()
    total = sum(t.records for t in plan.topics)
    try:
        for topic in plan.topics:
            entries = {p.partition: p for p in manifest.partitions if p.topic == topic.source}
            for partition in range(topic.partitions):
                tp = (topic.target, partition)
                present = ends[tp] - bases[topic.target][str(partition)]
                entry = entries.get(partition)
                if entry is not None:
                    _write_partition(
                        store,
                        entry,
                        tp,
                        present=present,
                        until=plan.until_ms,
                        writer=writer,
                        stream=stream,
                        prefetch=prefetch,
                        checkpoint=lambda: _checkpoint(writer, stream, total, progress, cancel),
                    )
                stream.finished.add(tp)
        writer.settle()
    except (DrError, KafkaError) as exc:
        writer.drain()
        raise _failed(plan, writer, stream, exc) from None
    return stream


def _write_partition(
    store: ObjectStore,
    entry: PartitionEntry,
    tp: TP,
    *,
    present: int,
    until: int | None,
    writer: RecordWriter,
    stream: Stream,
    prefetch: ThreadPoolExecutor,
    checkpoint: Callable[[], None],
) -> None:
    originals: array[int] = array("q")
    index = 0
    for segment in checked_segments(store, entry, prefetch):
        for offset, ts, ts_type, key, value, headers in segment.records:
            if until is not None and ts > until:
                continue
            originals.append(offset)
            index += 1
            if index <= present:
                stream.already += 1
                continue
            writer.write(tp, key, value, headers, written_timestamp(ts, ts_type))
            stream.to_write[tp] += 1
            stream.sent += 1
            if stream.sent % CHECK_EVERY == 0:
                checkpoint()
    stream.originals[(entry.topic, entry.partition)] = originals
    stream.topic_counts[tp[0]] = stream.topic_counts.get(tp[0], 0) + len(originals)


def _checkpoint(
    writer: RecordWriter,
    stream: Stream,
    total: int,
    progress: Callable[[int, int], None] | None,
    cancel: threading.Event | None,
) -> None:
    writer.check()
    if cancel is not None and cancel.is_set():
        raise RestoreError(CANCELLED)
    if progress is not None:
        progress(stream.sent + stream.already, total)


def _failed(plan: RestorePlan, writer: RecordWriter, stream: Stream, exc: DrError) -> RestoreFailed:
    complete: list[str] = []
    incomplete: list[str] = []
    for t in plan.topics:
        for p in range(t.partitions):
            tp = (t.target, p)
            done = tp in stream.finished and writer.delivered(tp) == stream.to_write[tp]
            (complete if done else incomplete).append(f"{t.target}-{p}")
    if isinstance(exc, DamagedSegment):
        advice = (
            "nothing of that segment was written; this backup cannot restore the incomplete "
            "partitions past it (restore them from another backup)"
        )
    elif str(exc) == CANCELLED:
        advice = "run the same command again to resume"
    else:
        advice = "fix the cause and run the same command again: it resumes where this stopped"
    return RestoreFailed(
        f"restore stopped: {exc}; complete: {_names(complete)}; incomplete: "
        f"{_names(incomplete)}; {advice}",
        complete,
        incomplete,
    )


def _names(tps: list[str], most: int = 20) -> str:
    if not tps:
        return "none"
    more = f" (+{len(tps) - most} more)" if len(tps) > most else ""
    return ", ".join(tps[:most]) + more
