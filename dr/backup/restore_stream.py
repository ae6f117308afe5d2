"""The write loop of a restore: every record not yet on the target, partition after partition,
each segment checked whole before any record of it is written.

The loop runs over a list of target partitions (PartitionWrite): all of a plan's in the
restore's own process, or one worker's share of them (dr.backup.restore_workers).
"""

from __future__ import annotations

import threading
import time
from array import array
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from dr.backup.catalog import Manifest, PartitionEntry
from dr.backup.restore_configs import TimestampWindow, timestamp_window
from dr.backup.restore_content import keyless_offset
from dr.backup.restore_plan import RestoreError, RestoreFailed, RestorePlan
from dr.backup.restore_read import CheckedSegment, DamagedSegment, checked_segments
from dr.backup.restore_resume import written_timestamp
from dr.backup.restore_write import RecordWriter
from dr.errors import DrError, KafkaError
from dr.storage import ObjectStore

TP = tuple[str, int]
CHECK_EVERY = 5_000
CANCELLED = "restore cancelled"
RESUME = "fix the cause and run the same command again: it resumes where this stopped"


@dataclass(frozen=True)
class PartitionWrite:
    """One target partition of a restore: what the backup holds for it (None: nothing) and
    how many of its records the target already holds."""

    tp: TP  # target topic and partition
    entry: PartitionEntry | None
    present: int
    compacted: bool = False  # the target refuses records without a key
    window: TimestampWindow | None = None  # the timestamps the target accepts (None: all)

    @property
    def name(self) -> str:
        return f"{self.tp[0]}-{self.tp[1]}"

    @property
    def to_write(self) -> int:
        """Records of the backup not yet on the target (before --until filters any)."""
        return max(0, (self.entry.records if self.entry else 0) - self.present)


@dataclass
class Stream:
    """What the write loop has done so far, per target partition."""

    sent: int = 0
    already: int = 0
    to_write: Counter[TP] = field(default_factory=Counter)
    finished: set[TP] = field(default_factory=set)
    originals: dict[tuple[str, int], array[int]] = field(default_factory=dict)
    topic_counts: dict[str, int] = field(default_factory=dict)


class StreamStopped(RestoreFailed):
    """The write loop stopped: its ``reason`` and ``advice``, and which of its partitions are
    complete (acknowledged whole) and which are not."""

    def __init__(
        self, reason: str, advice: str, complete: Iterable[str], incomplete: Iterable[str]
    ) -> None:
        complete, incomplete = list(complete), list(incomplete)
        super().__init__(
            stopped_message(reason, advice, complete, incomplete), complete, incomplete
        )
        self.reason, self.advice = reason, advice


def stopped_message(reason: str, advice: str, complete: list[str], incomplete: list[str]) -> str:
    """The one line of a restore that stopped part-way."""
    return (
        f"restore stopped: {reason}; complete: {names(complete)}; incomplete: "
        f"{names(incomplete)}; {advice}"
    )


def partition_writes(
    manifest: Manifest, plan: RestorePlan, *, ends: dict[TP, int], bases: dict[str, dict[str, int]]
) -> list[PartitionWrite]:
    """Every target partition of the plan, in the plan's order, with its part of the backup
    and the records of it already written (end offset - base offset)."""
    writes = []
    now_ms = int(time.time() * 1000)
    for topic in plan.topics:
        window = timestamp_window(topic.configs_in_force, now_ms)
        entries = {p.partition: p for p in manifest.partitions if p.topic == topic.source}
        for partition in range(topic.partitions):
            tp = (topic.target, partition)
            present = ends[tp] - bases[topic.target][str(partition)]
            writes.append(
                PartitionWrite(tp, entries.get(partition), present, topic.compacted, window)
            )
    return writes


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
    keep: Collection[tuple[str, int]] | None = None,
) -> Stream:
    """Every record of the plan not yet on the target (write_partitions over all of the
    plan's partitions)."""
    return write_partitions(
        store,
        partition_writes(manifest, plan, ends=ends, bases=bases),
        writer,
        until=plan.until_ms,
        total=sum(t.records for t in plan.topics),
        prefetch=prefetch,
        progress=progress,
        cancel=cancel,
        keep=keep,
    )


def write_partitions(
    store: ObjectStore,
    writes: list[PartitionWrite],
    writer: RecordWriter,
    *,
    until: int | None,
    total: int,
    prefetch: ThreadPoolExecutor,
    progress: Callable[[int, int], None] | None,
    cancel: threading.Event | None,
    keep: Collection[tuple[str, int]] | None = None,
) -> Stream:
    """Every record of these partitions not yet on the target, partition after partition,
    all acknowledged; ``progress(done, total)`` every CHECK_EVERY records written. Keeps the
    original offsets of the backup partitions in ``keep`` (None: of all) for group offsets.
    Raises StreamStopped naming the complete partitions when it cannot finish."""
    stream = Stream()
    try:
        for w in writes:
            if w.entry is not None:
                _write_partition(
                    store,
                    w.entry,
                    w.tp,
                    present=w.present,
                    until=until,
                    writer=writer,
                    stream=stream,
                    prefetch=prefetch,
                    checkpoint=lambda: _checkpoint(writer, stream, total, progress, cancel),
                    keep=keep is None or (w.entry.topic, w.entry.partition) in keep,
                    refuses=(w.compacted, w.window),
                )
            stream.finished.add(w.tp)
        writer.settle()
    except (DrError, KafkaError) as exc:
        writer.drain()
        raise _failed(writes, writer, stream, exc) from None
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
    keep: bool,
    refuses: tuple[bool, TimestampWindow | None] = (False, None),
) -> None:
    originals: array[int] = array("q")
    index = 0
    # The per-record loop keeps its counts in locals (copied to stream at each checkpoint and
    # on the way out, where a failure report reads them) and calls the writer through one.
    write = writer.write
    sent, already = stream.sent, stream.already
    queued = 0  # records of tp handed to the writer by this call
    try:
        for segment in checked_segments(store, entry, prefetch):
            if refuses != (False, None):
                _refuse(segment, entry, tp, until, *refuses)
            for offset, ts, ts_type, key, value, headers in segment.records:
                if until is not None and ts > until:
                    continue
                if keep:
                    originals.append(offset)
                index += 1
                if index <= present:
                    continue
                write(tp, key, value, headers, written_timestamp(ts, ts_type))
                queued += 1
                sent += 1
                if sent % CHECK_EVERY == 0:
                    stream.sent, stream.already = sent, already + present
                    stream.to_write[tp] += queued
                    queued = 0
                    checkpoint()
    finally:
        stream.sent = sent
        stream.to_write[tp] += queued
        stream.already = already + min(index, present)
    if keep:
        stream.originals[(entry.topic, entry.partition)] = originals
    stream.topic_counts[tp[0]] = stream.topic_counts.get(tp[0], 0) + index


def _refuse(
    segment: CheckedSegment,
    entry: PartitionEntry,
    tp: TP,
    until: int | None,
    compacted: bool,
    window: TimestampWindow | None,
) -> None:
    """Raises RestoreError before any record of the segment is written when the target would
    refuse one: without a key for a compacted topic, or stamped outside its timestamp limits
    (the plan and restore_content check what they can before the first write)."""
    name = f"{entry.topic}-{entry.partition}"
    offset = keyless_offset(segment, until) if compacted else None
    if offset is not None:
        raise RestoreError(
            f"{name} holds a record without a key (offset {offset}), which target topic "
            f"'{tp[0]}' refuses as it compacts; set cleanup.policy=delete on it, or leave the "
            "topic out with --topics"
        )
    if window is None:
        return
    for offset, ts, *_ in segment.records:
        config = window.refusal(ts) if until is None or ts <= until else None
        if config is not None:
            raise RestoreError(
                f"{name} holds a record stamped {ts} (offset {offset}), which target topic "
                f"'{tp[0]}' refuses by {config}; give it a larger value on the topic, or leave "
                "the topic out with --topics"
            )


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


def _failed(
    writes: list[PartitionWrite], writer: RecordWriter, stream: Stream, exc: DrError
) -> StreamStopped:
    complete: list[str] = []
    incomplete: list[str] = []
    for w in writes:
        done = w.tp in stream.finished and writer.delivered(w.tp) == stream.to_write[w.tp]
        (complete if done else incomplete).append(w.name)
    if isinstance(exc, DamagedSegment):
        advice = (
            "nothing of that segment was written; this backup cannot restore the incomplete "
            "partitions past it (restore them from another backup)"
        )
    elif str(exc) == CANCELLED:
        advice = "run the same command again to resume"
    else:
        advice = RESUME
    return StreamStopped(str(exc), advice, complete, incomplete)


def names(tps: list[str], most: int = 20) -> str:
    """Partition names for a one-line message: the first ``most``, then how many more."""
    if not tps:
        return "none"
    more = f" (+{len(tps) - most} more)" if len(tps) > most else ""
    return ", ".join(tps[:most]) + more
