"""Records a target topic would refuse, found before the first write.

A compacted topic refuses a record without a key: the broker fails the whole batch. A source
topic can hold such records (written before its cleanup.policy became compact: its cleaner
drops them only later), and so can its backup. Written blindly, they stop the restore part-way
with advice to resume that can never succeed. So the restore looks for them before it writes
anything (restore.check_backup) and refuses, naming the record and what to do; the write loop
checks each segment again before writing any record of it (a restore run with --no-verify).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from dr.backup.catalog import Manifest, PartitionEntry
from dr.backup.restore_plan import RestoreError, RestorePlan, TopicRestore
from dr.backup.restore_read import CheckedSegment, checked_segments
from dr.storage import ObjectStore


@dataclass(frozen=True)
class KeylessRecord:
    """A record without a key bound for a compacted target topic."""

    topic: TopicRestore
    partition: int
    offset: int  # in the backup (the source's offset)

    def message(self) -> str:
        policy = self.topic.config("cleanup.policy")
        where = (
            f"set cleanup.policy=delete on topic '{self.topic.target}' (or restore into a new "
            "topic with --rename)"
            if self.topic.exists
            else "restore it with --config cleanup.policy=delete"
        )
        return (
            f"{self.topic.source}-{self.partition} holds a record without a key (offset "
            f"{self.offset}), which target topic '{self.topic.target}' refuses as it compacts "
            f"(cleanup.policy={policy}); {where}, or leave the topic out with --topics"
        )


class KeylessRecordRefused(RestoreError):
    """A compacted target topic would refuse a record of the backup (it has no key)."""


def check_keys(store: ObjectStore, manifest: Manifest, plan: RestorePlan) -> None:
    """Raises KeylessRecordRefused (nothing written) when the backup holds a record without a
    key for a compacted target topic; reads only the segments of such topics."""
    found = first_keyless(store, manifest, plan)
    if found is not None:
        raise KeylessRecordRefused(f"restore refused before writing anything: {found.message()}")


def first_keyless(
    store: ObjectStore, manifest: Manifest, plan: RestorePlan
) -> KeylessRecord | None:
    """The first record without a key that the plan would write to a compacted target topic
    (records after --until are not written, so not looked at), or None."""
    compacted = {t.source: t for t in plan.topics if t.compacted}
    if not compacted:
        return None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="keys") as prefetch:
        for entry in manifest.partitions:
            topic = compacted.get(entry.topic)
            if topic is None:
                continue
            offset = _keyless_in(store, entry, prefetch, until_ms=plan.until_ms)
            if offset is not None:
                return KeylessRecord(topic, entry.partition, offset)
    return None


def keyless_offset(segment: CheckedSegment, until_ms: int | None) -> int | None:
    """The offset of the segment's first record without a key (at or before --until)."""
    for offset, ts, _type, key, _value, _headers in segment.records:
        if key is None and (until_ms is None or ts <= until_ms):
            return offset
    return None


def _keyless_in(
    store: ObjectStore, entry: PartitionEntry, prefetch: ThreadPoolExecutor, *, until_ms: int | None
) -> int | None:
    for segment in checked_segments(store, entry, prefetch):
        offset = keyless_offset(segment, until_ms)
        if offset is not None:
            return offset
    return None
