"""Restoring a backup onto a cluster: to its original partitions, idempotently, resumable.

Resuming needs no record of what was sent: a restore writes into each target partition alone,
so the records already there are exactly the first (end offset - base offset) records of the
backup's stream for that partition. The journal in the state store keeps the base offsets.
"""

from __future__ import annotations

import bisect
import hashlib
import re
import threading
import time
from array import array
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from confluent_kafka import Producer

from dr.backup.catalog import Manifest, PartitionEntry, SegmentRef
from dr.backup.format import SegmentHeader, decompress_segment, iter_raw
from dr.backup.metadata import group_offsets_of
from dr.config.schema import Settings
from dr.errors import DrError, KafkaError
from dr.kafka import admin as kadmin
from dr.kafka.client import admin_client, confluent_config, librdkafka_logger
from dr.log import get_logger
from dr.state import StateStore
from dr.storage import ObjectStore

log = get_logger(__name__)

TIMEOUT_S = 30.0
JOURNAL = "restore"


class RestoreError(DrError):
    """A restore cannot start or did not complete."""


@dataclass(frozen=True)
class TopicRestore:
    """One topic of the plan."""

    source: str
    target: str
    partitions: int
    replication_factor: int
    configs: dict[str, str]
    records: int
    exists: bool
    target_records: int


@dataclass(frozen=True)
class RestorePlan:
    """What a restore will do; `problems` block it."""

    backup_id: str
    cluster: str
    cluster_id: str
    topics: tuple[TopicRestore, ...]
    until_ms: int | None
    groups: tuple[str, ...]
    resuming: bool
    gaps: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def journal_key(self) -> str:
        return f"{self.backup_id}->{self.cluster_id}"


@dataclass(frozen=True)
class RestoreResult:
    backup_id: str
    cluster: str
    records: int
    already_present: int
    topics: dict[str, int]
    groups: dict[str, dict[str, dict[int, int]]] = field(default_factory=dict)
    seconds: float = 0.0


def plan_restore(
    settings: Settings,
    manifest: Manifest,
    metadata: dict[str, Any],
    *,
    to: str,
    state: StateStore,
    topics: str | None = None,
    renames: dict[str, str] | None = None,
    until: datetime | None = None,
    groups: bool = False,
    force: bool = False,
) -> RestorePlan:
    """Decide what to restore where, and what blocks it (never writes anything)."""
    cluster = settings.clusters[to]
    admin = admin_client(cluster, timeout_s=TIMEOUT_S)
    cluster_id = kadmin.cluster_id(admin, TIMEOUT_S)
    pattern = re.compile(topics) if topics else None
    chosen = [t for t in manifest.topics if pattern is None or pattern.fullmatch(t)]
    if not chosen:
        raise RestoreError(f"backup {manifest.backup_id} has no topic matching '{topics}'")
    renames = renames or {}
    unknown = sorted(set(renames) - set(manifest.topics))
    if unknown:
        raise RestoreError(f"--rename names topic '{unknown[0]}', which is not in the backup")
    journal_key = f"{manifest.backup_id}->{cluster_id}"
    journal = state.load_journal(JOURNAL, journal_key)
    resuming = journal is not None and journal.get("status") == "running"
    existing = kadmin.list_topic_partitions(admin, TIMEOUT_S)
    brokers = kadmin.broker_count(admin, TIMEOUT_S)
    plans: list[TopicRestore] = []
    problems: list[str] = []
    for source in chosen:
        meta = metadata["topics"].get(source, {})
        parts = [p for p in manifest.partitions if p.topic == source]
        count = max(int(meta.get("partitions", 0)), max(p.partition for p in parts) + 1)
        target = renames.get(source, source)
        rf = max(1, min(int(meta.get("replication_factor", 1)), brokers))
        configs = dict(meta.get("configs", {}))
        if "min.insync.replicas" in configs:
            configs["min.insync.replicas"] = str(min(int(configs["min.insync.replicas"]), rf))
        info = existing.get(target)
        target_records = _records_in(admin, target, info.partitions) if info else 0
        plans.append(
            TopicRestore(
                source,
                target,
                count,
                rf,
                configs,
                sum(p.records for p in parts),
                info is not None,
                target_records,
            )
        )
        if info is not None and info.partitions < count:
            problems.append(
                f"target topic '{target}' has {info.partitions} partitions, the backup has {count}"
            )
        if target_records and not force and not resuming:
            problems.append(
                f"target topic '{target}' already holds {target_records} records "
                "(use --force to restore into it anyway)"
            )
    targets = [p.target for p in plans]
    if len(set(targets)) != len(targets):
        problems.append("two topics would be restored under the same name")
    group_names: tuple[str, ...] = ()
    if groups:
        offsets = group_offsets_of(metadata)
        group_names = tuple(sorted(g for g, by in offsets.items() if set(by) & set(chosen)))
    gaps = tuple(
        f"{p.topic}-{p.partition} offsets {g.start_offset}..{g.end_offset - 1}: {g.reason}"
        for p in manifest.partitions
        if p.topic in chosen
        for g in p.gaps
    )
    return RestorePlan(
        backup_id=manifest.backup_id,
        cluster=to,
        cluster_id=cluster_id,
        topics=tuple(plans),
        until_ms=int(until.timestamp() * 1000) if until else None,
        groups=group_names,
        resuming=resuming,
        gaps=gaps,
        problems=tuple(problems),
    )


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
) -> RestoreResult:
    """Carry out a plan without problems; raises RestoreError when it is blocked or fails."""
    if plan.problems:
        raise RestoreError(f"restore refused: {plan.problems[0]}")
    started = time.monotonic()
    cluster = settings.clusters[plan.cluster]
    admin = admin_client(cluster, timeout_s=TIMEOUT_S)
    journal = state.load_journal(JOURNAL, plan.journal_key) if plan.resuming else None
    bases: dict[str, dict[str, int]] = dict(journal["bases"]) if journal else {}
    for topic in plan.topics:
        if not topic.exists:
            info = kadmin.TopicInfo(
                topic.target, topic.partitions, topic.replication_factor, topic.configs
            )
            kadmin.create_topic(admin, info, TIMEOUT_S)
    all_tps = [(t.target, p) for t in plan.topics for p in range(t.partitions)]
    if plan.resuming or any(t.exists for t in plan.topics):
        ends = _stable_ends(admin, all_tps)
    else:  # every target topic was just created by this restore: all empty
        ends = dict.fromkeys(all_tps, 0)
    for topic in plan.topics:
        if topic.target not in bases:
            bases[topic.target] = {str(p): ends[(topic.target, p)] for p in range(topic.partitions)}
    options = _options(plan)
    if journal is not None and journal.get("options", options) != options:
        raise RestoreError(
            f"an interrupted restore of {plan.backup_id} onto '{plan.cluster}' used other options "
            f"({journal.get('options')}); resume it with the same --topics/--rename/--until"
        )
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
    producer = Producer(
        confluent_config(
            cluster,
            **{
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 20,
                "batch.size": 1_000_000,
                "compression.type": "lz4",
                "queue.buffering.max.kbytes": 256 * 1024,
                "message.max.bytes": 16 * 1024 * 1024,
            },
        ),
        logger=librdkafka_logger(),
    )
    failures: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            failures.append(str(err))

    total = sum(t.records for t in plan.topics)
    sent = already = 0
    topic_counts: dict[str, int] = {}
    restored_offsets: dict[tuple[str, int], array[int]] = {}
    until = plan.until_ms
    produce, poll = producer.produce, producer.poll
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch") as prefetch:
        for topic in plan.topics:
            target = topic.target
            for entry in (p for p in manifest.partitions if p.topic == topic.source):
                partition = entry.partition
                present = ends[(target, partition)] - bases[target][str(partition)]
                originals: array[int] = array("q")
                index = 0
                for payload, seg_key in _payloads(store, entry, prefetch):
                    for offset, ts, ts_type, key, value, headers in iter_raw(payload, name=seg_key):
                        if until is not None and ts > until:
                            continue
                        originals.append(offset)
                        index += 1
                        if index <= present:
                            already += 1
                            continue
                        while True:
                            try:
                                produce(
                                    target,
                                    value,
                                    key,
                                    partition=partition,
                                    on_delivery=on_delivery,
                                    timestamp=ts if ts_type and ts >= 0 else 0,
                                    headers=headers,  # type: ignore[arg-type]
                                )
                                break
                            except BufferError:
                                poll(0.05)
                        sent += 1
                        if sent % 5_000 == 0:
                            poll(0)
                            if failures:
                                raise RestoreError(f"writing to '{target}': {failures[0]}")
                            if cancel is not None and cancel.is_set():
                                producer.flush(60)
                                raise RestoreError("restore cancelled; run it again to resume")
                            if progress is not None:
                                progress(sent + already, total)
                restored_offsets[(topic.source, partition)] = originals
                topic_counts[target] = topic_counts.get(target, 0) + len(originals)
    remaining = producer.flush(120)
    if remaining or failures:
        raise RestoreError(
            f"{remaining} records unsent, {len(failures)} failed"
            f"{': ' + failures[0] if failures else ''}; run the restore again to resume"
        )
    group_result = _restore_groups(admin, plan, metadata, bases, restored_offsets)
    state.save_journal(
        JOURNAL, plan.journal_key, {"status": "done", "bases": bases, "options": options}
    )
    seconds = time.monotonic() - started
    log.info(
        "restore_done",
        backup_id=plan.backup_id,
        cluster=plan.cluster,
        records=sent,
        already_present=already,
        groups=len(group_result),
        duration_s=round(seconds, 2),
    )
    return RestoreResult(
        plan.backup_id, plan.cluster, sent, already, topic_counts, group_result, seconds
    )


def _options(plan: RestorePlan) -> dict[str, Any]:
    return {
        "topics": {t.source: t.target for t in plan.topics},
        "until_ms": plan.until_ms,
    }


def mapped_offset(originals: array[int], base: int, committed: int) -> int:
    """Where a group committed at `committed` resumes among the restored records: before the
    first restored record whose original offset is at or after it."""
    return base + bisect.bisect_left(originals, committed)


def _restore_groups(
    admin: Any,
    plan: RestorePlan,
    metadata: dict[str, Any],
    bases: dict[str, dict[str, int]],
    restored: dict[tuple[str, int], array[int]],
) -> dict[str, dict[str, dict[int, int]]]:
    renames = {t.source: t.target for t in plan.topics}
    out: dict[str, dict[str, dict[int, int]]] = {}
    offsets = group_offsets_of(metadata)
    for group in plan.groups:
        mapped: dict[tuple[str, int], int] = {}
        for source, parts in offsets[group].items():
            if source not in renames:
                continue
            target = renames[source]
            for partition, committed in parts.items():
                originals = restored.get((source, partition), array("q"))
                base = bases[target][str(partition)]
                mapped[(target, partition)] = mapped_offset(originals, base, committed)
        if mapped:
            kadmin.alter_group_offsets(admin, group, mapped, TIMEOUT_S)
            out[group] = {}
            for (t, p), o in mapped.items():
                out[group].setdefault(t, {})[p] = o
    return out


def _payloads(
    store: ObjectStore, entry: PartitionEntry, prefetch: ThreadPoolExecutor
) -> Iterator[tuple[bytes, str]]:
    """Each segment's decompressed payload, the next one fetched while this one is written."""
    segments = list(entry.segments)
    pending = prefetch.submit(_load, store, segments[0]) if segments else None
    for i, seg in enumerate(segments):
        assert pending is not None
        header, payload = pending.result()
        if i + 1 < len(segments):
            pending = prefetch.submit(_load, store, segments[i + 1])
        if (header.start_offset, header.end_offset, header.records) != (
            seg.start_offset,
            seg.end_offset,
            seg.records,
        ):
            raise RestoreError(f"segment {seg.key} does not match the manifest: backup damaged")
        yield payload, seg.key


def _load(store: ObjectStore, seg: SegmentRef) -> tuple[SegmentHeader, bytes]:
    data = store.get_bytes(seg.key)
    if hashlib.sha256(data).hexdigest() != seg.sha256:
        raise RestoreError(f"segment {seg.key} fails its checksum: the backup is damaged")
    return decompress_segment(data, name=seg.key)


def _records_in(admin: Any, topic: str, partitions: int) -> int:
    tps = [(topic, p) for p in range(partitions)]
    low = kadmin.offsets(admin, tps, "earliest", TIMEOUT_S, committed=False)
    high = kadmin.offsets(admin, tps, "latest", TIMEOUT_S, committed=False)
    return sum(high[tp] - low[tp] for tp in tps)


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
