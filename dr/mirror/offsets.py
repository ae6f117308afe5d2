"""Consumer offset translation for failover: the offsets a group should use on the target.

Reads MirrorMaker 2's checkpoints (on the target), its offset-syncs (on the source, unless the
flow sets ``offset-syncs.topic.location=target``) and the group's commits on the source, and
hands them to dr.mirror.translate. When the source cannot be read the translation rests on the
newest checkpoints alone, and says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from dr.config.schema import ClusterSettings, MirrorFlow, Settings
from dr.errors import DrError, KafkaError, UsageError
from dr.kafka import admin as kadmin
from dr.kafka import groups as kgroups
from dr.kafka.client import admin_client
from dr.kafka.reader import read_range
from dr.log import get_logger
from dr.mirror.properties import flow_property
from dr.mirror.records import (
    Checkpoint,
    OffsetSync,
    RecordFormatError,
    checkpoints_topic,
    decode_checkpoint,
    decode_offset_sync,
    offset_syncs_topic,
)
from dr.mirror.topics import flow_topics, group_excluded
from dr.mirror.translate import TranslationResult, translate_group, usable_syncs

log = get_logger(__name__)
T = TypeVar("T")


def flow_between(settings: Settings, source: str, target: str) -> MirrorFlow | None:
    """The configured flow source->target, if any."""
    flows = settings.mirror.flows if settings.mirror else []
    return next((f for f in flows if f.source == source and f.target == target), None)


def read_checkpoints(settings: Settings, source: str, target: str) -> list[tuple[Checkpoint, int]]:
    """Every checkpoint MirrorMaker wrote for source->target, in log order, with its timestamp."""
    return [
        (checkpoint, timestamp)
        for checkpoint, timestamp in _read_topic(
            settings.clusters[target], checkpoints_topic(source), decode_checkpoint
        )
        or []
    ]


def read_offset_syncs(settings: Settings, flow: MirrorFlow) -> list[OffsetSync]:
    """The flow's offset syncs in log order; raises KafkaError when they cannot be read (the
    topic absent included: MirrorMaker has not run, or the flow turned offset-syncs off)."""
    if flow_property(settings.mirror, flow, "offset-syncs.topic.location") == "target":
        cluster, topic = flow.target, offset_syncs_topic(flow.source)
    else:
        cluster, topic = flow.source, offset_syncs_topic(flow.target)
    found = _read_topic(settings.clusters[cluster], topic, decode_offset_sync)
    if found is None:
        raise KafkaError(f"topic {topic} does not exist on '{cluster}'")
    return [sync for sync, _ in found]


def _read_topic(
    cluster: ClusterSettings,
    topic: str,
    decode: Callable[[bytes | None, bytes | None], T],
) -> list[tuple[T, int]] | None:
    """A MirrorMaker internal topic's records decoded, in log order per partition, with their
    timestamps; None when the topic does not exist. Undecodable records are logged, skipped.
    Each request, and each wait for the next record, lasts the cluster's timeout_s."""
    timeout_s = cluster.timeout_s
    admin = admin_client(cluster)
    topics = kadmin.list_topic_partitions(admin, timeout_s)
    if topic not in topics:
        return None
    tps = [(topic, p) for p in range(topics[topic].partitions)]
    low = kadmin.offsets(admin, tps, "earliest", timeout_s, committed=False)
    high = kadmin.offsets(admin, tps, "latest", timeout_s, committed=False)
    out: list[tuple[T, int]] = []
    for tp in tps:
        # Whole or not at all: the newest records (checkpoints, syncs) are the last ones.
        for rec in read_range(cluster, tp, low[tp], high[tp], whole=True):
            try:
                out.append((decode(rec.key, rec.value), rec.timestamp_ms))
            except RecordFormatError as exc:
                log.warning(
                    "mirror_record_unreadable", topic=topic, offset=rec.offset, error=str(exc)
                )
    return out


def translate_offsets(
    settings: Settings, group: str, source: str, target: str
) -> TranslationResult:
    """Where group G should resume on `target`, never past what was replicated.

    Raises UsageError for unknown clusters, the same cluster on both sides or a direction no
    mirror flow replicates; UnknownGroup when the group has neither commits on the source nor
    checkpoints; KafkaError when the target cannot be read.
    """
    inputs = load_translation(settings, source, target, wanted=[group])
    result = inputs.translate(group)
    if not result.partitions and not result.missing:
        if inputs.source_unreachable is not None:
            raise UnknownGroup(
                f"group '{group}' has no checkpoints on '{target}' and "
                f"{inputs.source_unreachable}: nothing to translate"
            )
        raise UnknownGroup(
            f"group '{group}' has no committed offsets on '{source}' and no checkpoints on "
            f"'{target}': check the group name (kafka-consumer-groups --list)"
        )
    return result


@dataclass(frozen=True)
class Translation:
    """Everything read once to translate any number of groups of one flow."""

    settings: Settings
    flow: MirrorFlow
    checkpoints: Mapping[str, list[tuple[Checkpoint, int]]]  # by group, in log order
    commits: Mapping[str, dict[tuple[str, int], int]] | None  # by group; None: source unread
    source_unreachable: str | None
    replicated: frozenset[str]
    syncs: Mapping[tuple[str, int], list[OffsetSync]] | None
    syncs_error: str | None
    now_ms: int

    @property
    def groups(self) -> list[str]:
        """Every group with checkpoints or (source readable) commits, sorted."""
        return sorted(set(self.checkpoints) | set(self.commits or {}))

    def translate(self, group: str) -> TranslationResult:
        return translate_group(
            group,
            self.checkpoints.get(group, []),
            source_alias=self.flow.source,
            policy=self.flow.replication_policy,
            now_ms=self.now_ms,
            committed_upstream=None if self.commits is None else self.commits.get(group, {}),
            source_unreachable=self.source_unreachable,
            offset_syncs=self.syncs,
            syncs_unreadable=self.syncs_error,
            replicated=self.replicated.__contains__,
            group_excluded=group_excluded(group, self.flow, self.settings.mirror),
            target_alias=self.flow.target,
        )


def load_translation(
    settings: Settings,
    source: str,
    target: str,
    *,
    wanted: Iterable[str] | None = None,
    source_lost: str | None = None,
) -> Translation:
    """Read the flow's checkpoints, offset-syncs and the groups' commits on the source once.

    ``wanted``: the groups whose commits to read (default: every group of the source). A source
    that cannot be read within its timeout_s is recorded as unreachable, not raised; one the
    caller already knows is lost (``source_lost``, why) is not asked again.
    Raises UsageError (see translate_offsets), KafkaError when the target cannot be read.
    """
    flow = flow_for(settings, source, target)
    src = settings.clusters[source]
    commits: dict[str, dict[tuple[str, int], int]] | None
    try:
        if source_lost is not None:
            raise KafkaError(source_lost)
        src_admin = admin_client(src)
        topics = set(kadmin.list_topic_partitions(src_admin, src.timeout_s))
        groups = list(wanted) if wanted is not None else kgroups.group_ids(src_admin, src.timeout_s)
        commits = kgroups.committed_offsets_of(src_admin, groups, src.timeout_s)
        unreachable = None
    except KafkaError as exc:
        commits, topics = None, set()
        unreachable = f"'{source}' cannot be read: {exc}"
        log.info("translate_source_unreachable", cluster=source, error=str(exc))
    syncs, syncs_error = None, None
    if commits and any(commits.values()):
        try:
            syncs = usable_syncs(read_offset_syncs(settings, flow))
        except KafkaError as exc:
            syncs_error = str(exc)
    by_group: dict[str, list[tuple[Checkpoint, int]]] = {}
    for checkpoint, at in read_checkpoints(settings, source, target):
        by_group.setdefault(checkpoint.group, []).append((checkpoint, at))
    return Translation(
        settings=settings,
        flow=flow,
        checkpoints=by_group,
        commits=None if commits is None else {g: c for g, c in commits.items() if c},
        source_unreachable=unreachable,
        replicated=frozenset(flow_topics(topics, flow)),
        syncs=syncs,
        syncs_error=syncs_error,
        now_ms=int(time.time() * 1000),
    )


def flow_for(settings: Settings, source: str, target: str) -> MirrorFlow:
    """The flow source->target; raises UsageError naming what is wrong (an unknown cluster,
    the same cluster twice, no flow for the direction)."""
    for name in (source, target):
        if name not in settings.clusters:
            raise UsageError(
                f"no cluster named '{name}' (clusters: {', '.join(settings.clusters)})"
            )
    if source == target:
        raise UsageError(
            f"--from and --to both name cluster '{source}': give two clusters joined by a "
            "mirror flow"
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
    return flow


class UnknownGroup(DrError):
    """The group is known to neither side of the flow: nothing to translate."""

    exit_code = 1
