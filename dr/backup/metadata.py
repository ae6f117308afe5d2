"""The metadata saved with every backup run: topics, group offsets, ACLs, SCRAM user names."""

from __future__ import annotations

import json
from typing import Any

from confluent_kafka.admin import AdminClient

from dr.kafka import admin as kadmin
from dr.kafka import groups as kgroups


def snapshot_metadata(
    admin: AdminClient,
    topics: dict[str, kadmin.TopicInfo],
    timeout_s: float,
    *,
    topic_ids: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Everything about the backed-up topics that is not their records (never credentials);
    ``topic_ids`` are recorded beside each topic's shape and configs."""
    ids = topic_ids or {}
    configs = kadmin.topic_configs(admin, topics, timeout_s)
    return {
        "format": 1,
        "topics": {
            name: {
                "topic_id": ids.get(name),
                "partitions": info.partitions,
                "replication_factor": info.replication_factor,
                "configs": configs.get(name, {}),
            }
            for name, info in sorted(topics.items())
        },
        "consumer_groups": {
            group: {
                t: {str(p): o for p, o in sorted(parts.items())} for t, parts in by_topic.items()
            }
            for group, by_topic in kgroups.group_offsets(admin, set(topics), timeout_s).items()
        },
        "acls": kadmin.acls(admin, timeout_s),
        "scram_users": kadmin.scram_users(admin, timeout_s),
    }


def encode_metadata(metadata: dict[str, Any]) -> bytes:
    return json.dumps(metadata, indent=1, sort_keys=True).encode()


def group_offsets_of(metadata: dict[str, Any]) -> dict[str, dict[str, dict[int, int]]]:
    """group -> topic -> partition -> committed offset, from a metadata snapshot."""
    return {
        group: {t: {int(p): int(o) for p, o in parts.items()} for t, parts in by_topic.items()}
        for group, by_topic in metadata.get("consumer_groups", {}).items()
    }
