"""Consumer group offsets after a restore: each group resumes at the first restored record it
had not read."""

from __future__ import annotations

import bisect
from array import array
from typing import Any

from dr.backup.metadata import group_offsets_of
from dr.backup.restore_plan import GroupSkip, RestorePlan
from dr.kafka import groups as kgroups
from dr.log import get_logger

log = get_logger(__name__)


def mapped_offset(originals: array[int], base: int, committed: int) -> int:
    """Where a group committed at `committed` resumes among the restored records: before the
    first restored record whose original offset is at or after it."""
    return base + bisect.bisect_left(originals, committed)


Mapped = dict[str, dict[str, dict[int, int]]]  # group -> target topic -> partition -> offset


def restore_groups(
    admin: Any,
    plan: RestorePlan,
    metadata: dict[str, Any],
    bases: dict[str, dict[str, int]],
    restored: dict[tuple[str, int], array[int]],
) -> tuple[Mapped, tuple[GroupSkip, ...]]:
    """Each group's offsets mapped onto the restored partitions and committed; offsets on
    partitions the restored topic does not have are skipped and returned, never dropped
    silently."""
    mapped, skips = map_group_offsets(plan, metadata, bases, restored)
    return commit_group_offsets(admin, mapped), skips


def map_group_offsets(
    plan: RestorePlan,
    metadata: dict[str, Any],
    bases: dict[str, dict[str, int]],
    restored: dict[tuple[str, int], array[int]],
) -> tuple[Mapped, tuple[GroupSkip, ...]]:
    """Where each group of the plan resumes on the restored partitions (nothing committed),
    and the offsets that cannot be placed."""
    renames = {t.source: t.target for t in plan.topics}
    out: Mapped = {}
    skips: list[GroupSkip] = []
    offsets = group_offsets_of(metadata)
    for group in plan.groups:
        mapped: dict[str, dict[int, int]] = {}
        for source, parts in offsets.get(group, {}).items():
            if source not in renames:
                continue
            target = renames[source]
            for partition, committed in sorted(parts.items()):
                base = bases[target].get(str(partition))
                if base is None:
                    skips.append(
                        GroupSkip(
                            group,
                            target,
                            partition,
                            committed,
                            f"the restored topic has no partition {partition}",
                        )
                    )
                    continue
                originals = restored.get((source, partition), array("q"))
                offset = mapped_offset(originals, base, committed)
                mapped.setdefault(target, {})[partition] = offset
        if mapped:
            out[group] = mapped
    for skip in skips:
        log.info(
            "restore_group_offset_skipped",
            group=skip.group,
            topic=skip.topic,
            partition=skip.partition,
            offset=skip.offset,
            reason=skip.reason,
        )
    return out, tuple(skips)


def commit_group_offsets(admin: Any, mapped: Mapped) -> Mapped:
    """Commit the mapped offsets, group by group (committing again is harmless); returns
    what was committed."""
    for group, by_topic in mapped.items():
        offsets = {(t, p): o for t, parts in by_topic.items() for p, o in parts.items()}
        kgroups.alter_group_offsets(admin, group, offsets, admin.timeout_s)
    return mapped
