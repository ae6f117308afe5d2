"""Creating a restore's target topics: those missing, each with the plan's configs."""

from __future__ import annotations

from typing import Any

from dr.backup.restore_plan import RestoreError, RestorePlan, TopicRestore
from dr.config.schema import Settings
from dr.errors import KafkaError
from dr.kafka import admin as kadmin
from dr.kafka.client import admin_client
from dr.log import get_logger

log = get_logger(__name__)


def create_missing_topics(settings: Settings, plan: RestorePlan) -> list[str]:
    """Create the plan's target topics the cluster does not have (safe to run twice); returns
    the names created. Raises RestoreError naming a config the cluster refuses."""
    admin = admin_client(settings.clusters[plan.cluster])
    existing = kadmin.list_topic_partitions(admin, admin.timeout_s)
    created = []
    for topic in plan.topics:
        if topic.target not in existing:
            create_topic(admin, topic)
            created.append(topic.target)
    if created:
        log.info("restore_topics_created", cluster=plan.cluster, topics=created)
    return created


def create_topic(admin: Any, topic: TopicRestore) -> None:
    """Create a target topic; a config the cluster refuses is named, with what to do."""
    info = kadmin.TopicInfo(topic.target, topic.partitions, topic.replication_factor, topic.configs)
    try:
        kadmin.create_topic(admin, info, admin.timeout_s)
    except KafkaError as exc:
        named = [f"{k}={v}" for k, v in sorted(topic.configs.items()) if k in str(exc)]
        if not named:
            raise
        raise RestoreError(
            f"cannot create topic '{topic.target}': the cluster refuses config {named[0]} "
            f"({str(exc).split(': ', 1)[-1]}); set it with --config KEY=VALUE or leave it to the "
            "cluster's default with --drop-config KEY, then run the restore again"
        ) from None
