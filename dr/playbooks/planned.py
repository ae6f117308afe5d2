"""What every planned move (cutover, rollback, failback) does the same way: wait until the
cluster clients leave is quiet, wait until its consumer groups have committed where they
stopped, and commit those positions, moved record by record, on the cluster clients go to."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from dr.config.schema import ClusterSettings
from dr.errors import DrError, UsageError
from dr.kafka import admin as kadmin
from dr.kafka import groups as kgroups
from dr.kafka.client import admin_client
from dr.log import get_logger
from dr.playbooks.replication import tp_key

log = get_logger(__name__)
TP = tuple[str, int]
POLL_S = 1.0
COMMIT_RETRIES = 3


def check_pattern(groups: str | None) -> None:
    """--groups must be a regular expression; raises UsageError naming it otherwise."""
    if groups is not None:
        try:
            re.compile(groups)
        except re.error as exc:
            raise UsageError(f"--groups '{groups}' is not a regular expression: {exc}") from None


class NotQuiet(DrError):
    """The cluster clients leave kept changing past the deadline."""


def wait_quiet(
    cluster: ClusterSettings, name: str, topics: list[str], *, quiet_s: float, deadline_s: float
) -> dict[str, int]:
    """Wait until no end offset of these topics moved for quiet_s; returns the ends
    (``TOPIC:PARTITION``). Raises NotQuiet naming a partition still moving at the deadline."""
    admin = admin_client(cluster)
    found = kadmin.list_topic_partitions(admin, admin.timeout_s)
    tps = [(t, p) for t in sorted(set(topics)) if t in found for p in range(found[t].partitions)]
    started = time.monotonic()
    last = kadmin.offsets(admin, tps, "latest", admin.timeout_s, committed=False)
    still_since = time.monotonic()
    while True:
        if time.monotonic() - still_since >= quiet_s:
            return {tp_key(tp): end for tp, end in sorted(last.items())}
        if time.monotonic() - started > deadline_s:
            raise NotQuiet(
                f"'{name}' is still written to after {deadline_s:.0f}s: stop its producers "
                "(the stop_producers hooks), then resume"
            )
        time.sleep(min(POLL_S, quiet_s))
        now = kadmin.offsets(admin, tps, "latest", admin.timeout_s, committed=False)
        moved = [tp for tp in tps if now[tp] != last[tp]]
        if moved:
            log.info("still_written", cluster=name, partition=tp_key(moved[0]), end=now[moved[0]])
            still_since = time.monotonic()
        last = now


def groups_of(
    admin: Any, topics: set[str], pattern: str | None, allowed: Callable[[str], bool]
) -> dict[str, dict[TP, int]]:
    """Every group with commits on these topics (matching pattern, or else ``allowed``), with
    those commits."""
    names = [
        g
        for g in kgroups.group_ids(admin, admin.timeout_s)
        if (re.fullmatch(pattern, g) if pattern else allowed(g))
    ]
    commits = kgroups.committed_offsets_of(admin, names, admin.timeout_s) if names else {}
    out = {}
    for group, by_tp in commits.items():
        mine = {tp: o for tp, o in by_tp.items() if tp[0] in topics and o >= 0}
        if mine:
            out[group] = mine
    return out


def wait_groups_settled(
    cluster: ClusterSettings,
    name: str,
    topics: set[str],
    ends: Mapping[str, int],
    *,
    pattern: str | None,
    allowed: Callable[[str], bool],
    quiet_s: float,
    deadline_s: float,
) -> tuple[dict[str, dict[TP, int]], list[dict[str, Any]]]:
    """The groups' commits once every group with members has committed up to the ends or
    stopped committing for quiet_s; plus, for groups still behind with members at the
    deadline, a note each (their commits are taken as they are then)."""
    admin = admin_client(cluster)
    started = time.monotonic()
    last = groups_of(admin, topics, pattern, allowed)
    still_since = time.monotonic()
    while True:
        members = kgroups.group_members(admin, list(last), admin.timeout_s) if last else {}
        behind = {
            g
            for g, by_tp in last.items()
            if members.get(g) and any(o < ends.get(tp_key(tp), o) for tp, o in by_tp.items())
        }
        settled = not behind or time.monotonic() - still_since >= quiet_s
        if settled or time.monotonic() - started > deadline_s:
            notes = [
                {
                    "group": g,
                    "note": f"{members[g]} member(s) on {name} still behind its end after "
                    f"{time.monotonic() - started:.0f}s; its commits as they were then",
                }
                for g in sorted(behind)
            ]
            return last, notes if not settled else []
        time.sleep(POLL_S)
        now = groups_of(admin, topics, pattern, allowed)
        if now != last:
            still_since = time.monotonic()
        last = now


def commit_on(
    cluster: ClusterSettings, name: str, wanted: Mapping[str, Mapping[TP, int]]
) -> tuple[dict[str, dict[str, int]], list[dict[str, str]], list[dict[str, str]]]:
    """Commit each group's offsets on the cluster clients go to; a group with members there is
    skipped, never overwritten. Returns (committed, skipped, failed)."""
    admin = admin_client(cluster)
    members = kgroups.group_members(admin, list(wanted), admin.timeout_s) if wanted else {}
    skipped = [
        {"group": g, "reason": f"active on {name}: {n} member(s); not overwritten"}
        for g, n in sorted(members.items())
        if n
    ]
    todo = {g: dict(o) for g, o in wanted.items() if not members.get(g) and o}
    failed = kgroups.alter_groups_offsets(admin, todo, admin.timeout_s)
    for _ in range(COMMIT_RETRIES):
        if not failed:
            break
        time.sleep(2)
        failed = kgroups.alter_groups_offsets(admin, {g: todo[g] for g in failed}, admin.timeout_s)
    committed = {
        g: {tp_key(tp): o for tp, o in sorted(offsets.items())}
        for g, offsets in sorted(todo.items())
        if g not in failed
    }
    log.info("groups_committed", cluster=name, groups=len(committed), skipped=len(skipped))
    return (
        committed,
        skipped,
        [{"group": g, "reason": why} for g, why in sorted(failed.items())],
    )
