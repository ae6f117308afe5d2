"""Consumer group offsets after a restore: each group resumes at the first restored record it
had not read."""

from __future__ import annotations

import bisect
from array import array
from typing import Any

from dr.backup.metadata import group_offsets_of
from dr.backup.restore_plan import TIMEOUT_S, GroupSkip, RestorePlan
from dr.kafka import admin as kadmin
from dr.log import get_logger

log = get_logger(__name__)


def mapped_offset(originals: array[int], base: int, committed: int) -> int:
    """Where a group committed at `committed` resumes among the restored records: before the
    first restored record whose original offset is at or after it."""
    return base + bisect.bisect_left(originals, committed)


def restore_groups(
    admin: Any,
    plan: RestorePlan,
    metadata: dict[str, Any],
    bases: dict[str, dict[str, int]],
    restored: dict[tuple[str, int], array[int]],
) -> tuple[dict[str, dict[str, dict[int, int]]], tuple[GroupSkip, ...]]:
    """Each group's offsets mapped onto the restored partitions; offsets on partitions the
    restored topic does not have are skipped and returned, never dropped silently."""
    renames = {t.source: t.target for t in plan.topics}
    out: dict[str, dict[str, dict[int, int]]] = {}
    skips: list[GroupSkip] = []
    offsets = group_offsets_of(metadata)
    for group in plan.groups:
        mapped: dict[tuple[str, int], int] = {}
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
                mapped[(target, partition)] = mapped_offset(originals, base, committed)
        if mapped:
            kadmin.alter_group_offsets(admin, group, mapped, TIMEOUT_S)
            out[group] = {}
            for (t, p), o in mapped.items():
                out[group].setdefault(t, {})[p] = o
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
