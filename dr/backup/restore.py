"""Restoring a backup onto a cluster: to its original partitions, idempotently, resumable.

Resuming needs no record of what was sent: a restore writes into each target partition alone,
in order and without gaps, so the records already there are exactly the first (end offset -
base offset) records of the backup's stream for that partition; restore_resume checks that
before it relies on it. The journal in the state store keeps the base offsets.

The plan (restore_plan), the configs of restored topics (restore_configs), reading checked
segments (restore_read), writing records (restore_write), the resume check (restore_resume)
and group offsets (restore_groups) live beside this module.
"""

from __future__ import annotations

import threading
import time
from array import array
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from dr.backup.catalog import Manifest, PartitionEntry
from dr.backup.restore_groups import mapped_offset, restore_groups
from dr.backup.restore_plan import (
    JOURNAL,
    TIMEOUT_S,
    GroupSkip,
    RestoreError,
    RestoreFailed,
    RestorePlan,
    TopicRestore,
    plan_restore,
)
from dr.backup.restore_read import DamagedSegment, checked_segments
from dr.backup.restore_resume import check_resume, written_timestamp
from dr.backup.restore_write import RecordWriter
from dr.backup.verify import VerifyResult, verify_backup
from dr.config.schema import Settings
from dr.errors import DrError, KafkaError
from dr.kafka import admin as kadmin
from dr.kafka.client import admin_client
from dr.log import get_logger
from dr.state import StateStore
from dr.storage import ObjectStore

__all__ = [
    "GroupSkip",
    "RestoreError",
    "RestoreFailed",
    "RestorePlan",
    "RestoreResult",
    "TopicRestore",
    "mapped_offset",
    "plan_restore",
    "run_restore",
    "verify_for_restore",
]

log = get_logger(__name__)

TP = tuple[str, int]
Verify = Literal["checksums", "deep", "none"]
CHECK_EVERY = 5_000
CANCELLED = "restore cancelled"


@dataclass(frozen=True)
class RestoreResult:
    backup_id: str
    cluster: str
    records: int
    already_present: int
    topics: dict[str, int]
    groups: dict[str, dict[str, dict[int, int]]] = field(default_factory=dict)
    seconds: float = 0.0
    group_skips: tuple[GroupSkip, ...] = ()
    complete: tuple[str, ...] = ()  # every target partition, as topic-partition names


@dataclass
class _Stream:
    """What the write loop has done so far, per target partition."""

    sent: int = 0
    already: int = 0
    to_write: Counter[TP] = field(default_factory=Counter)
    finished: set[TP] = field(default_factory=set)
    originals: dict[tuple[str, int], array[int]] = field(default_factory=dict)
    topic_counts: dict[str, int] = field(default_factory=dict)


def verify_for_restore(
    store: ObjectStore, manifest: Manifest, plan: RestorePlan, *, deep: bool = False
) -> VerifyResult:
    """The backup checked as a restore of this plan needs it: every segment of the chosen
    topics present with its checksum (``deep``: every record decoded too)."""
    chosen = {t.source for t in plan.topics}
    return verify_backup(store, manifest, deep=deep, topics=chosen, newer=False)


def run_restore(
    settings: Settings,
    store: ObjectStore,
    manifest: Manifest,
    metadata: dict[str, Any],
    plan: RestorePlan,
    *,
    state: StateStore,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
    verify: Verify = "checksums",
) -> RestoreResult:
    """Carry out a plan without problems.

    Before the first write it verifies the chosen topics' segments (``verify``) and, when
    resuming, that each target partition holds a prefix of the backup. Raises RestoreError
    when it is blocked (nothing written), RestoreFailed when it stopped part-way (naming the
    complete partitions)."""
    if plan.problems:
        raise RestoreError(f"restore refused: {plan.problems[0]}")
    started = time.monotonic()
    if verify != "none":
        checked = verify_for_restore(store, manifest, plan, deep=verify == "deep")
        if not checked.ok:
            raise RestoreError(
                f"restore refused before writing anything: backup {manifest.backup_id} fails "
                f"verification: {checked.problems[0]} (see 'kafka-dr backup verify')"
            )
    cluster = settings.clusters[plan.cluster]
    admin = admin_client(cluster, timeout_s=TIMEOUT_S)
    journal = state.load_journal(JOURNAL, plan.journal_key) if plan.resuming else None
    bases: dict[str, dict[str, int]] = dict(journal["bases"]) if journal else {}
    for topic in plan.topics:
        if not topic.exists:
            _create_topic(admin, topic)
    # A topic this run created is empty: only existing ones are asked for their ends.
    ends = {(t.target, p): 0 for t in plan.topics if not t.exists for p in range(t.partitions)}
    existing = [(t.target, p) for t in plan.topics if t.exists for p in range(t.partitions)]
    if existing:
        ends |= _stable_ends(admin, existing)
    for topic in plan.topics:
        # A topic this run creates starts afresh, even when an interrupted restore had written
        # to an earlier topic of that name (deleted since, as a refused resume advises).
        if topic.target not in bases or not topic.exists:
            bases[topic.target] = {str(p): ends[(topic.target, p)] for p in range(topic.partitions)}
    options = _options(plan)
    if journal is not None and journal.get("options", options) != options:
        raise RestoreError(
            f"an interrupted restore of {plan.backup_id} onto '{plan.cluster}' used other options "
            f"({journal.get('options')}); resume it with the same --topics/--rename/--until"
        )
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch") as prefetch:
        if plan.resuming:
            check_resume(cluster, store, manifest, plan, ends=ends, bases=bases, prefetch=prefetch)
        state.save_journal(
            JOURNAL, plan.journal_key, {"status": "running", "bases": bases, "options": options}
        )
        log.info(
            "restore_started",
            backup_id=plan.backup_id,
            cluster=plan.cluster,
            resuming=plan.resuming,
            topics=[t.target for t in plan.topics],
        )
        writer = RecordWriter(cluster)
        try:
            stream = _write_all(
                store,
                manifest,
                plan,
                writer,
                ends=ends,
                bases=bases,
                prefetch=prefetch,
                progress=progress,
                cancel=cancel,
            )
        finally:
            writer.close()
    group_result, skips = restore_groups(admin, plan, metadata, bases, stream.originals)
    state.save_journal(
        JOURNAL, plan.journal_key, {"status": "done", "bases": bases, "options": options}
    )
    seconds = time.monotonic() - started
    log.info(
        "restore_done",
        backup_id=plan.backup_id,
        cluster=plan.cluster,
        records=stream.sent,
        already_present=stream.already,
        groups=len(group_result),
        groups_skipped=len(skips),
        duration_s=round(seconds, 2),
    )
    return RestoreResult(
        plan.backup_id,
        plan.cluster,
        stream.sent,
        stream.already,
        stream.topic_counts,
        group_result,
        seconds,
        skips,
        tuple(plan.partitions()),
    )


def _write_all(
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
) -> _Stream:
    """Every record of the plan not yet on the target, partition after partition; raises
    RestoreFailed naming the complete partitions when it cannot finish."""
    stream = _Stream()
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
    stream: _Stream,
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
    stream: _Stream,
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
    plan: RestorePlan, writer: RecordWriter, stream: _Stream, exc: DrError
) -> RestoreFailed:
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


def _create_topic(admin: Any, topic: TopicRestore) -> None:
    """Create a target topic; a config the cluster refuses is named, with what to do."""
    info = kadmin.TopicInfo(topic.target, topic.partitions, topic.replication_factor, topic.configs)
    try:
        kadmin.create_topic(admin, info, TIMEOUT_S)
    except KafkaError as exc:
        named = [f"{k}={v}" for k, v in sorted(topic.configs.items()) if k in str(exc)]
        if not named:
            raise
        raise RestoreError(
            f"cannot create topic '{topic.target}': the cluster refuses config {named[0]} "
            f"({str(exc).split(': ', 1)[-1]}); set it with --config KEY=VALUE or leave it to the "
            "cluster's default with --drop-config KEY, then run the restore again"
        ) from None


def _options(plan: RestorePlan) -> dict[str, Any]:
    return {
        "topics": {t.source: t.target for t in plan.topics},
        "until_ms": plan.until_ms,
    }


def _stable_ends(admin: Any, tps: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """End offsets read until two reads a second apart agree (in-flight writes settle)."""
    previous = kadmin.offsets(admin, tps, "latest", TIMEOUT_S, committed=False)
    for _ in range(30):
        time.sleep(1.0)
        current = kadmin.offsets(admin, tps, "latest", TIMEOUT_S, committed=False)
        if current == previous:
            return current
        previous = current
    raise KafkaError(f"end offsets of {tps[0][0]} keep moving: is something else writing to it?")
