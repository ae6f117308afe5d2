"""Consumer groups: their ids, committed offsets and members, and setting their offsets.

Every function takes an AdminClient and a timeout, and raises KafkaError naming the cluster
and the group at fault.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from dr.errors import KafkaError, NotAuthorizedError
from dr.kafka.admin import RETRY_DEADLINE_S, error_name, failed, is_transient, reason, where
from dr.log import get_logger

log = get_logger(__name__)

TP = tuple[str, int]


def group_offsets(
    admin: AdminClient, topics: set[str], timeout_s: float
) -> dict[str, dict[str, dict[int, int]]]:
    """Committed offsets of every consumer group, for the given topics: group -> topic -> p -> o."""
    out: dict[str, dict[str, dict[int, int]]] = {}
    commits = committed_offsets_of(admin, group_ids(admin, timeout_s), timeout_s)
    for group, offsets in commits.items():
        for (topic, partition), offset in offsets.items():
            if topic in topics:
                out.setdefault(group, {}).setdefault(topic, {})[partition] = offset
    return out


def group_ids(admin: AdminClient, timeout_s: float) -> list[str]:
    """Every consumer group of the cluster, sorted."""
    try:
        listing = admin.list_consumer_groups(request_timeout=timeout_s).result(
            timeout=timeout_s + 5
        )
    except (KafkaException, TimeoutError) as exc:
        what = "cannot list consumer groups"
        raise failed(admin, what, exc, operation="DESCRIBE", resource="the cluster") from None
    return sorted(g.group_id for g in listing.valid)


def committed_offsets_of(
    admin: AdminClient, groups: Iterable[str], timeout_s: float
) -> dict[str, dict[TP, int]]:
    """The committed offsets of many groups, asked all at once (one request per group, in
    flight together); a group with none maps to {}."""
    futures = {
        g: admin.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(g)], request_timeout=timeout_s
        )[g]
        for g in groups
    }
    return {g: _offsets_result(admin, g, f, timeout_s) for g, f in futures.items()}


def _offsets_result(admin: AdminClient, group: str, future: Any, timeout_s: float) -> dict[TP, int]:
    try:
        result = future.result(timeout=timeout_s + 5)
    except KafkaException as exc:
        if error_name(exc) == "GROUP_ID_NOT_FOUND":
            return {}
        what, named = f"cannot read offsets of group '{group}'", f"group '{group}'"
        raise failed(admin, what, exc, operation="DESCRIBE", resource=named) from None
    except TimeoutError as exc:
        raise failed(admin, f"cannot read offsets of group '{group}'", exc) from None
    return {
        (tp.topic, tp.partition): int(tp.offset)
        for tp in result.topic_partitions or []
        if tp.offset >= 0
    }


def committed_offsets(admin: AdminClient, group: str, timeout_s: float) -> dict[TP, int]:
    """One group's committed offsets; empty for a group that has none (or does not exist)."""
    return committed_offsets_of(admin, [group], timeout_s)[group]


def group_members(admin: AdminClient, groups: Iterable[str], timeout_s: float) -> dict[str, int]:
    """How many members each group has right now (0: no consumer is in it), asked at once."""
    wanted = list(groups)
    deadline = time.monotonic() + RETRY_DEADLINE_S
    out: dict[str, int] = {}
    while wanted:
        futures = admin.describe_consumer_groups(wanted, request_timeout=timeout_s)
        again = []
        for group, future in futures.items():
            try:
                out[group] = len(future.result(timeout=timeout_s + 5).members or [])
            except KafkaException as exc:
                if error_name(exc) == "GROUP_ID_NOT_FOUND":
                    out[group] = 0
                elif is_transient(exc) and time.monotonic() < deadline:
                    again.append(group)  # a coordinator loading or moving
                else:
                    what, named = f"cannot describe group '{group}'", f"group '{group}'"
                    raise failed(admin, what, exc, operation="DESCRIBE", resource=named) from None
            except TimeoutError as exc:
                raise failed(admin, f"cannot describe group '{group}'", exc) from None
        if again:
            log.info("kafka_retry", what="describe groups", groups=len(again))
            time.sleep(1)
        wanted = again
    return out


def alter_groups_offsets(
    admin: AdminClient, offsets: Mapping[str, Mapping[TP, int]], timeout_s: float
) -> dict[str, str]:
    """Set many groups' committed offsets at once (each group must have no active member);
    returns the groups that failed with the reason, {} when every one succeeded (a refusal for
    authorization is said as NotAuthorizedError says it)."""
    return {g: str(why) for g, why in _alter_offsets(admin, offsets, timeout_s).items()}


def _alter_offsets(
    admin: AdminClient, offsets: Mapping[str, Mapping[TP, int]], timeout_s: float
) -> dict[str, str | NotAuthorizedError]:
    futures = {}
    for group, by_tp in offsets.items():
        tps = [TopicPartition(t, p, o) for (t, p), o in sorted(by_tp.items())]
        request = [ConsumerGroupTopicPartitions(group, tps)]
        futures[group] = admin.alter_consumer_group_offsets(request, request_timeout=timeout_s)[
            group
        ]
    failures: dict[str, str | NotAuthorizedError] = {}
    for group, future in futures.items():
        try:
            result = future.result(timeout=timeout_s + 5)
        except (KafkaException, TimeoutError) as exc:
            failures[group] = _refused(admin, exc, f"group '{group}'") or reason(exc)
            continue
        # The request may succeed while partitions fail (a coordinator still loading on a new
        # cluster): those errors come only in the result, and mean "not committed".
        bad = [tp for tp in result.topic_partitions or [] if tp.error is not None]
        if bad:
            first = bad[0]
            failures[group] = _refused(
                admin, KafkaException(first.error), f"topic '{first.topic}'"
            ) or (f"{first.topic}-{first.partition}: {first.error.str()}")
    return failures


def _refused(admin: AdminClient, exc: BaseException, resource: str) -> NotAuthorizedError | None:
    """The refusal an OffsetCommit met (it needs READ on the group and on the topics)."""
    denied = failed(admin, "", exc, operation="READ", resource=resource)
    return denied if isinstance(denied, NotAuthorizedError) else None


def alter_group_offsets(
    admin: AdminClient, group: str, offsets_by_tp: dict[TP, int], timeout_s: float
) -> None:
    """Set a group's committed offsets (the group must have no active members). A group
    coordinator that is moving or still loading (a new or restarted cluster) is waited for,
    up to RETRY_DEADLINE_S; a refusal raises NotAuthorizedError and any other failure
    KafkaError, at once."""
    deadline = time.monotonic() + RETRY_DEADLINE_S
    while True:
        failures = _alter_offsets(admin, {group: offsets_by_tp}, timeout_s)
        if not failures:
            return
        why = failures[group]
        if isinstance(why, NotAuthorizedError):
            raise why
        if "coordinator" not in why.lower() or time.monotonic() > deadline:
            raise KafkaError(f"{where(admin)}cannot set offsets of group '{group}': {why}")
        log.info("kafka_retry", what=f"offsets of group {group}", error=why)
        time.sleep(0.5)
