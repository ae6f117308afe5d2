"""Deleting topics and consumer groups (the drill's scratch copies), waiting until they are
gone so that a name can be used again at once."""

from __future__ import annotations

import time
from collections.abc import Iterable

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
    deleted: list[str] = []
    for name, future in futures.items():
        try:
            future.result(timeout=timeout_s + 5)
            deleted.append(name)
        except KafkaException as exc:
            if "UNKNOWN_TOPIC" in reason(exc).upper() or "unknown topic" in reason(exc).lower():
                continue
            raise KafkaError(f"cannot delete topic '{name}': {reason(exc)}") from None
        except TimeoutError:
            raise KafkaError(
                f"deleting topic '{name}' did not finish in {timeout_s:.0f}s"
            ) from None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        left = set(wanted) & set(list_topic_partitions(admin, timeout_s))
        if not left:
            return sorted(deleted)
        time.sleep(0.2)
    raise KafkaError(f"topic '{sorted(left)[0]}' is still listed {timeout_s:.0f}s after deletion")


def delete_groups(admin: AdminClient, names: Iterable[str], timeout_s: float) -> list[str]:
    """Delete the consumer groups (they must have no members); returns those deleted. Raises
    KafkaError naming the first group that could not be deleted."""
    wanted = sorted(set(names))
    if not wanted:
        return []
    futures = admin.delete_consumer_groups(wanted, request_timeout=timeout_s)
    deleted: list[str] = []
    for name, future in futures.items():
        try:
            future.result(timeout=timeout_s + 5)
            deleted.append(name)
        except KafkaException as exc:
            if "GROUP_ID_NOT_FOUND" in reason(exc).upper() or "not found" in reason(exc).lower():
                continue
            raise KafkaError(f"cannot delete consumer group '{name}': {reason(exc)}") from None
        except TimeoutError:
            raise KafkaError(
                f"deleting group '{name}' did not finish in {timeout_s:.0f}s"
            ) from None
    return sorted(deleted)
