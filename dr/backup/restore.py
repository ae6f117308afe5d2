"""Restoring a backup onto a cluster: to its original partitions, idempotently, resumable.

Resuming needs no record of what was sent: a restore writes into each target partition alone,
in order and without gaps, so the records already there are exactly the first (end offset -
base offset) records of the backup's stream for that partition; restore_resume checks that
before it relies on it. The journal in the state store keeps the base offsets.

The plan (restore_plan), the configs of restored topics (restore_configs), reading checked
segments (restore_read), the write loop (restore_stream) over the record writer
(restore_write), the resume check (restore_resume), creating topics (restore_topics), group
offsets (restore_groups) and ACLs (restore_acls) live beside this module. The phases (verify,
ACLs, create topics, write records, group offsets) are public so that the restore playbook
runs them as its steps.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from dr.backup.catalog import Manifest
from dr.backup.metadata import group_offsets_of
from dr.backup.restore_acls import Acl, apply_acls
from dr.backup.restore_configs import fitted_producer
from dr.backup.restore_content import check_keys
from dr.backup.restore_groups import (
    Mapped,
    commit_group_offsets,
    map_group_offsets,
    mapped_offset,
)
from dr.backup.restore_plan import (
    JOURNAL,
    GroupSkip,
    RestoreError,
    RestoreFailed,
    RestorePlan,
    TopicRestore,
    plan_restore,
)
from dr.backup.restore_resume import check_resume
from dr.backup.restore_stream import PartitionWrite, Stream, partition_writes, write_partitions
from dr.backup.restore_topics import create_missing_topics
from dr.backup.restore_workers import Destination, check_workers, worker_count, write_with_workers
from dr.backup.restore_write import RecordWriter
from dr.backup.verify import VerifyResult, verify_backup
from dr.config.schema import Settings, StorageSettings
from dr.errors import KafkaError
from dr.kafka import admin as kadmin
from dr.kafka.client import admin_client
from dr.log import get_logger
from dr.state import StateStore
from dr.storage import ObjectStore, open_store

__all__ = [
    "GroupSkip",
    "RestoreError",
    "RestoreFailed",
    "RestorePlan",
    "RestoreResult",
    "TopicRestore",
    "Written",
    "check_backup",
    "create_missing_topics",
    "mapped_offset",
    "mark_done",
    "plan_restore",
    "run_restore",
    "verify_for_restore",
    "write_records",
]

log = get_logger(__name__)

Verify = Literal["checksums", "deep", "none"]


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
    acls_created: tuple[Acl, ...] = ()
    acls_existed: tuple[Acl, ...] = ()


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
    workers: int = 1,
) -> RestoreResult:
    """Carry out a plan without problems, all phases in one call (the restore playbook runs
    the same phases as steps: dr.playbooks.restore).

    Before the first write it verifies the chosen topics' segments (``verify``) and, when
    resuming, that each target partition holds a prefix of the backup. Raises RestoreError
    when it is blocked (nothing written), RestoreFailed when it stopped part-way (naming the
    complete partitions)."""
    if plan.problems:
        raise RestoreError(f"restore refused: {plan.problems[0]}")
    started = time.monotonic()
    if verify != "none":
        check_backup(store, manifest, plan, deep=verify == "deep")
    acls = (
        apply_acls(settings.clusters[plan.cluster], plan.acls, to=plan.cluster)
        if plan.acls
        else None
    )
    created = create_missing_topics(settings, plan)
    written = write_records(
        settings,
        store,
        manifest,
        metadata,
        plan,
        state=state,
        created=created,
        final=False,
        progress=progress,
        cancel=cancel,
        workers=workers,
    )
    admin = admin_client(settings.clusters[plan.cluster])
    group_result = commit_group_offsets(admin, written.groups)
    mark_done(state, plan, written.bases)
    seconds = time.monotonic() - started
    log.info(
        "restore_done",
        backup_id=plan.backup_id,
        cluster=plan.cluster,
        records=written.records,
        already_present=written.already_present,
        groups=len(group_result),
        groups_skipped=len(written.group_skips),
        duration_s=round(seconds, 2),
    )
    return RestoreResult(
        plan.backup_id,
        plan.cluster,
        written.records,
        written.already_present,
        written.topics,
        group_result,
        seconds,
        written.group_skips,
        tuple(plan.partitions()),
        acls.created if acls else (),
        acls.existed if acls else (),
    )


def check_backup(
    store: ObjectStore, manifest: Manifest, plan: RestorePlan, *, deep: bool = False
) -> VerifyResult:
    """verify_for_restore, raising RestoreError (nothing written) when the backup fails it or
    holds records a target topic would refuse (restore_content)."""
    checked = verify_for_restore(store, manifest, plan, deep=deep)
    if not checked.ok:
        raise RestoreError(
            f"restore refused before writing anything: backup {manifest.backup_id} fails "
            f"verification: {checked.problems[0]} (see 'kafka-dr backup verify')"
        )
    check_keys(store, manifest, plan)
    return checked


@dataclass(frozen=True)
class Written:
    """What write_records did, and where each group of the plan resumes (not committed)."""

    records: int
    already_present: int
    topics: dict[str, int]
    bases: dict[str, dict[str, int]]
    resumed: bool
    groups: Mapped = field(default_factory=dict)
    group_skips: tuple[GroupSkip, ...] = ()


def write_records(
    settings: Settings,
    store: ObjectStore,
    manifest: Manifest,
    metadata: dict[str, Any],
    plan: RestorePlan,
    *,
    state: StateStore,
    created: Collection[str] = (),
    run_id: str | None = None,
    final: bool = True,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
    workers: int = 1,
) -> Written:
    """Write every record of the plan not yet on the target; safe to run again: it carries
    on from the restore journal (``backup->cluster id``), never writing a record twice.

    The journal is resumed when it says "running" (an interrupted restore, of any run) or
    when playbook run ``run_id`` wrote it; otherwise this is a fresh restore and the plan's
    problems refuse it. ``created`` are the topics this restore created (empty: no end
    offsets to wait for). ``final``: mark the journal done (no group step follows).
    ``workers``: processes that write the partitions in shares (1: this process writes them).
    Raises RestoreError (nothing written), RestoreFailed (stopped part-way)."""
    check_workers(workers)
    cluster = settings.clusters[plan.cluster]
    admin = admin_client(cluster)
    journal = state.load_journal(JOURNAL, plan.journal_key)
    own = journal is not None and run_id is not None and journal.get("run_id") == run_id
    if journal is not None and not (own or journal.get("status") == "running"):
        journal = None
    if plan.problems and not own:
        raise RestoreError(f"restore refused: {plan.problems[0]}")
    # The bases of this run's own journal postdate the topics it created: keep them.
    fresh = set() if own else set(created)
    bases: dict[str, dict[str, int]] = dict(journal["bases"]) if journal else {}
    # A topic this run created is empty: only the others are asked for their ends.
    ends = {(t.target, p): 0 for t in plan.topics if t.target in fresh for p in range(t.partitions)}
    existing = [
        (t.target, p) for t in plan.topics if t.target not in fresh for p in range(t.partitions)
    ]
    if existing:
        ends |= _stable_ends(admin, existing)
    for topic in plan.topics:
        # A topic this run creates starts afresh, even when an interrupted restore had written
        # to an earlier topic of that name (deleted since, as a refused resume advises).
        if topic.target not in bases or topic.target in fresh:
            bases[topic.target] = {str(p): ends[(topic.target, p)] for p in range(topic.partitions)}
    options = _options(plan)
    if journal is not None and journal.get("options", options) != options:
        raise RestoreError(
            f"an interrupted restore of {plan.backup_id} onto '{plan.cluster}' used other options "
            f"({journal.get('options')}); resume it with the same --topics/--rename/--until"
        )
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch") as prefetch:
        if journal is not None:
            check_resume(cluster, store, manifest, plan, ends=ends, bases=bases, prefetch=prefetch)
        _save(state, plan, "running", bases, run_id)
        log.info(
            "restore_started",
            backup_id=plan.backup_id,
            cluster=plan.cluster,
            resuming=journal is not None,
            topics=[t.target for t in plan.topics],
        )
        stream = _write(
            settings,
            store,
            manifest,
            plan,
            partition_writes(manifest, plan, ends=ends, bases=bases),
            keep=_group_partitions(plan, metadata),
            workers=workers,
            prefetch=prefetch,
            progress=progress,
            cancel=cancel,
        )
    groups, skips = map_group_offsets(plan, metadata, bases, stream.originals)
    if final:
        _save(state, plan, "done", bases, run_id)
    return Written(
        stream.sent, stream.already, stream.topic_counts, bases, journal is not None, groups, skips
    )


def _write(
    settings: Settings,
    store: ObjectStore,
    manifest: Manifest,
    plan: RestorePlan,
    writes: list[PartitionWrite],
    *,
    keep: set[tuple[str, int]],
    workers: int,
    prefetch: ThreadPoolExecutor,
    progress: Callable[[int, int], None] | None,
    cancel: threading.Event | None,
) -> Stream:
    """The write loop over every target partition: in this process, or by worker processes
    in shares (restore_workers)."""
    cluster = settings.clusters[plan.cluster]
    # The job's own producer settings, when the job is still configured.
    job = settings.backups.get(manifest.job)
    producer = fitted_producer(
        job.client_overrides.producer if job else None,
        limits=[t.config("max.message.bytes") for t in plan.topics],
    )
    total = sum(t.records for t in plan.topics)
    count = worker_count(workers, writes) if workers > 1 else 1
    if count > 1:
        return write_with_workers(
            Destination(cluster, _storage_of(settings, manifest, store), producer),
            writes,
            count,
            until=plan.until_ms,
            total=total,
            keep=keep,
            progress=progress,
            cancel=cancel,
        )
    writer = RecordWriter(cluster, producer)
    try:
        return write_partitions(
            store,
            writes,
            writer,
            until=plan.until_ms,
            total=total,
            prefetch=prefetch,
            progress=progress,
            cancel=cancel,
            keep=keep,
        )
    finally:
        writer.close()


def _group_partitions(plan: RestorePlan, metadata: dict[str, Any]) -> set[tuple[str, int]]:
    """The backup partitions (source topic, partition) on which a group of the plan has a
    committed offset: only their original offsets are kept, to map the groups."""
    sources = {t.source for t in plan.topics}
    offsets = group_offsets_of(metadata)
    return {
        (topic, partition)
        for group in plan.groups
        for topic, parts in offsets.get(group, {}).items()
        if topic in sources
        for partition in parts
    }


def _storage_of(settings: Settings, manifest: Manifest, store: ObjectStore) -> StorageSettings:
    """The configured storage the backup was found in (the workers open it again)."""
    job = settings.backups.get(manifest.job)
    first = [settings.storage[job.storage]] if job else []
    for storage in first + list(settings.storage.values()):
        if open_store(storage).url == store.url:
            return storage
    raise RestoreError(
        f"no configured storage is {store.url}, where backup {manifest.backup_id} was found: "
        "restore it with one worker"
    )


def mark_done(
    state: StateStore,
    plan: RestorePlan,
    bases: dict[str, dict[str, int]],
    run_id: str | None = None,
) -> None:
    """The restore journal says done: running the restore again starts afresh (and is refused
    by a target that holds records, unless --force)."""
    _save(state, plan, "done", bases, run_id)


def _save(
    state: StateStore,
    plan: RestorePlan,
    status: str,
    bases: dict[str, dict[str, int]],
    run_id: str | None,
) -> None:
    data: dict[str, Any] = {"status": status, "bases": bases, "options": _options(plan)}
    if run_id is not None:
        data["run_id"] = run_id
    state.save_journal(JOURNAL, plan.journal_key, data)


def _options(plan: RestorePlan) -> dict[str, Any]:
    return {
        "topics": {t.source: t.target for t in plan.topics},
        "until_ms": plan.until_ms,
    }


def _stable_ends(admin: Any, tps: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """End offsets read until two reads a second apart agree (in-flight writes settle)."""
    previous = kadmin.offsets(admin, tps, "latest", admin.timeout_s, committed=False)
    for _ in range(30):
        time.sleep(1.0)
        current = kadmin.offsets(admin, tps, "latest", admin.timeout_s, committed=False)
        if current == previous:
            return current
        previous = current
    raise KafkaError(f"end offsets of {tps[0][0]} keep moving: is something else writing to it?")
