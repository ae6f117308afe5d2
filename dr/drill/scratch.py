"""Scratch names: where a drill restores, so that it never touches a real topic or group.

Every scratch topic and group is named ``__kafka-dr-drill-<drill id>.<original>``: the
prefix cannot be confused with a user's name by accident, and the drill id says which drill
left it. Before a drill starts, and when it ends (also after a failure), every scratch name
on the cluster that does not belong to a running drill is deleted; one drill runs at a time
(the host lock), so a killed drill's leftovers go with the next run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from dr.backup.restore_plan import JOURNAL
from dr.config.schema import ClusterSettings
from dr.kafka import admin as kadmin
from dr.kafka import groups as kgroups
from dr.kafka.client import admin_client
from dr.kafka.deletes import delete_groups, delete_topics
from dr.kafka.names import DRILL_PREFIX
from dr.log import get_logger
from dr.state import StateStore

log = get_logger(__name__)

PREFIX = DRILL_PREFIX
MAX_TOPIC_NAME = 249


def scratch_name(drill_id: str, original: str) -> str:
    """The scratch name of a topic or group for this drill. Raises ValueError when a topic's
    name would exceed Kafka's limit."""
    name = f"{PREFIX}{drill_id}.{original}"
    if len(name) > MAX_TOPIC_NAME:
        raise ValueError(f"scratch name for '{original}' would exceed {MAX_TOPIC_NAME} characters")
    return name


# A drill id is the UTC start time and 4 hex digits (run.py): a user's topic that merely
# starts with the prefix is never taken for a scratch copy.
_SCRATCH = re.compile(re.escape(PREFIX) + r"(\d{8}t\d{6}-[0-9a-f]{4})\.")


def is_scratch(name: str, drill_id: str | None = None) -> bool:
    """Whether a topic or group is a drill's scratch copy (of drill_id, when given)."""
    found = _SCRATCH.match(name)
    return found is not None and (drill_id is None or found.group(1) == drill_id)


@dataclass(frozen=True)
class Removed:
    """What a clean-up deleted."""

    topics: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    journals: tuple[str, ...] = ()

    def names(self) -> tuple[str, ...]:
        return (*self.topics, *(f"group {g}" for g in self.groups))


def remove_scratch(
    cluster: ClusterSettings, *, keep_drill: str | None = None, only_drill: str | None = None
) -> Removed:
    """Delete the scratch topics and groups on the cluster: of one drill (only_drill), or of
    every drill but keep_drill. Raises KafkaError (the cluster cannot be reached, or a name
    cannot be deleted)."""
    admin = admin_client(cluster)
    wait = cluster.timeout_s

    def chosen(name: str) -> bool:
        if only_drill is not None:
            return is_scratch(name, only_drill)
        return is_scratch(name) and not (keep_drill and is_scratch(name, keep_drill))

    topics = [t for t in kadmin.list_topic_partitions(admin, wait) if chosen(t)]
    groups = [g for g in kgroups.group_ids(admin, wait) if chosen(g)]
    removed = Removed(
        topics=tuple(delete_topics(admin, topics, wait)),
        groups=tuple(delete_groups(admin, groups, wait)),
    )
    if removed.topics or removed.groups:
        log.info("drill_scratch_removed", topics=len(removed.topics), groups=len(removed.groups))
    return removed


def abandon_scratch_restores(state: StateStore, cluster_id: str) -> tuple[str, ...]:
    """Mark finished the restore journals onto this cluster that wrote only scratch topics:
    an interrupted drill's restore is never resumed (its topics are gone), and a real
    restore of the same backup must not be asked to resume it. Returns their keys."""
    abandoned: list[str] = []
    for key, data in _restore_journals(state, cluster_id):
        renames = (data.get("options") or {}).get("topics") or {}
        if (
            data.get("status") == "running"
            and renames
            and all(is_scratch(str(t)) for t in renames.values())
        ):
            state.save_journal(JOURNAL, key, {**data, "status": "abandoned"})
            abandoned.append(key)
    return tuple(abandoned)


def _restore_journals(state: StateStore, cluster_id: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (key, data) for key, data in state.journals_of(JOURNAL) if key.endswith(f"->{cluster_id}")
    ]
