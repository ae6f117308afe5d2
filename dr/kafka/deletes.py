"""Deleting topics and consumer groups (the drill's scratch copies), waiting until they are
gone so that a name can be used again at once."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from dr.errors import KafkaError
from dr.kafka.admin import list_topic_partitions, reason


def delete_topics(admin: AdminClient, names: Iterable[str], timeout_s: float) -> list[str]:
    """Delete the topics and wait until the metadata no longer lists them; returns those
    deleted (a topic already gone is not an error). Raises KafkaError naming the first topic
    that could not be deleted."""
    wanted = sorted(set(names))
    if not wanted:
        return []
    futures = admin.delete_topics(wanted, operation_timeout=timeout_s)
    deleted = _settled(futures, "topic", ("UNKNOWN_TOPIC", "unknown topic"), timeout_s)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        left = set(wanted) & set(list_topic_partitions(admin, timeout_s))
        if not left:
            return deleted
        time.sleep(0.2)
    raise KafkaError(f"topic '{sorted(left)[0]}' is still listed {timeout_s:.0f}s after deletion")


def delete_groups(admin: AdminClient, names: Iterable[str], timeout_s: float) -> list[str]:
    """Delete the consumer groups (they must have no members); returns those deleted. Raises
    KafkaError naming the first group that could not be deleted."""
    wanted = sorted(set(names))
    if not wanted:
        return []
    futures = admin.delete_consumer_groups(wanted, request_timeout=timeout_s)
    return _settled(futures, "consumer group", ("GROUP_ID_NOT_FOUND", "not found"), timeout_s)


def _settled(
    futures: Mapping[str, Any], what: str, already_gone: tuple[str, str], timeout_s: float
) -> list[str]:
    """The names whose deletion succeeded, sorted; one already gone (its error names one of
    ``already_gone``, upper- or lower-case) is skipped. Raises KafkaError on any other failure."""
    deleted: list[str] = []
    for name, future in futures.items():
        try:
            future.result(timeout=timeout_s + 5)
            deleted.append(name)
        except KafkaException as exc:
            why = reason(exc)
            if already_gone[0] in why.upper() or already_gone[1] in why.lower():
                continue
            raise KafkaError(f"cannot delete {what} '{name}': {why}") from None
        except TimeoutError:
            raise KafkaError(
                f"deleting {what} '{name}' did not finish in {timeout_s:.0f}s"
            ) from None
    return sorted(deleted)
