"""Consumer offset translation for failover: the offsets a group should use on the target,
from MirrorMaker 2's latest checkpoints (read from the target cluster)."""

from __future__ import annotations

import time

from dr.config.schema import MirrorFlow, Settings
from dr.errors import DrError, UsageError
from dr.kafka import admin as kadmin
from dr.kafka.client import admin_client
from dr.kafka.reader import read_range
from dr.log import get_logger
from dr.mirror.records import Checkpoint, RecordFormatError, checkpoints_topic, decode_checkpoint
from dr.mirror.translate import TranslationResult, translate_group

log = get_logger(__name__)
TIMEOUT_S = 30.0


def flow_between(settings: Settings, source: str, target: str) -> MirrorFlow | None:
    """The configured flow source->target, if any."""
    flows = settings.mirror.flows if settings.mirror else []
    return next((f for f in flows if f.source == source and f.target == target), None)


def read_checkpoints(settings: Settings, source: str, target: str) -> list[tuple[Checkpoint, int]]:
    """Every checkpoint MirrorMaker wrote for source->target, in log order, with its timestamp."""
    cluster = settings.clusters[target]
    admin = admin_client(cluster)
    topic = checkpoints_topic(source)
    topics = kadmin.list_topic_partitions(admin, TIMEOUT_S)
    if topic not in topics:
        return []
    tps = [(topic, p) for p in range(topics[topic].partitions)]
    low = kadmin.offsets(admin, tps, "earliest", TIMEOUT_S, committed=False)
    high = kadmin.offsets(admin, tps, "latest", TIMEOUT_S, committed=False)
    out: list[tuple[Checkpoint, int]] = []
    for tp in tps:
        for rec in read_range(cluster, tp, low[tp], high[tp], timeout_s=TIMEOUT_S):
            try:
                out.append((decode_checkpoint(rec.key, rec.value), rec.timestamp_ms))
            except RecordFormatError as exc:
                log.warning("checkpoint_unreadable", topic=topic, offset=rec.offset, error=str(exc))
    return out


def translate_offsets(
    settings: Settings, group: str, source: str, target: str
) -> TranslationResult:
    """Where group G should resume on `target`, never past what was replicated.

    Raises UsageError for unknown clusters, the same cluster on both sides or a direction no
    mirror flow replicates; UnknownGroup when the group has neither commits on the source nor
    checkpoints; KafkaError when a cluster cannot be read.
    """
    for name in (source, target):
        if name not in settings.clusters:
            raise UsageError(
                f"no cluster named '{name}' (clusters: {', '.join(settings.clusters)})"
            )
    if source == target:
        raise UsageError(
            f"--from and --to both name cluster '{source}': offsets translate "
            "across a mirror flow, from one cluster to another"
        )
    flow = flow_between(settings, source, target)
    if flow is None:
        flows = [
            f"{f.source}->{f.target}" for f in (settings.mirror.flows if settings.mirror else [])
        ]
        raise UsageError(
            f"no mirror flow replicates {source}->{target} "
            f"(flows: {', '.join(flows) or 'none configured'})"
        )
    policy = flow.replication_policy
    committed = kadmin.group_offsets(
        admin_client(settings.clusters[source]), _all_topics(settings, source), TIMEOUT_S
    ).get(group, {})
    upstream = {(t, p): o for t, parts in committed.items() for p, o in parts.items()}
    result = translate_group(
        group,
        read_checkpoints(settings, source, target),
        source_alias=source,
        policy=policy,
        now_ms=int(time.time() * 1000),
        committed_upstream=upstream,
        target_alias=target,
    )
    if not result.partitions and not result.missing:
        raise UnknownGroup(
            f"group '{group}' has no committed offsets on '{source}' and no checkpoints on "
            f"'{target}': check the group name (kafka-consumer-groups --list)"
        )
    return result


class UnknownGroup(DrError):
    """The group is known to neither side of the flow: nothing to translate."""

    exit_code = 1


def _all_topics(settings: Settings, cluster: str) -> set[str]:
    return set(kadmin.list_topic_partitions(admin_client(settings.clusters[cluster]), TIMEOUT_S))
