"""Translating a consumer group's offsets to the target cluster from MirrorMaker 2 checkpoints.

Pure logic: the caller reads the checkpoints topic (and, if it wants the gaps named, the group's
committed offsets on the source) and hands the records here.

What a checkpoint's offset means. MirrorMaker translates a group's committed source offset
through the newest offset sync at or before it: to the sync's downstream offset when the commit
sits exactly on the sync, otherwise to one past it. It never guesses further, because records may
be filtered or compacted away in between and overshooting would skip data. The translation is
therefore *conservative*: a consumer that starts from it never skips a record it had not consumed
on the source, but may re-read the records mirrored between that offset sync and its commit.
MirrorMaker emits a new sync whenever the translation would fall ``offset.lag.max`` (default 100)
records behind, so a group near the head of a partition re-reads at most about ``offset.lag.max``
records; a group far behind the head may re-read more, as MirrorMaker keeps sparser syncs for
older offsets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from dr.mirror.records import HEARTBEATS_TOPIC, Checkpoint, ReplicationPolicy, remote_topic


@dataclass(frozen=True, slots=True)
class TranslatedOffset:
    """Where a group resumes on one target partition, from its latest checkpoint.

    ``offset`` is the conservative downstream offset (see the module docstring);
    ``upstream_offset`` the source commit it translates.
    """

    topic: str  # the target-side name
    partition: int
    offset: int
    upstream_offset: int
    checkpoint_age_seconds: float


@dataclass(frozen=True, slots=True)
class TranslationResult:
    """A group's translated offsets, and the source partitions that have no checkpoint yet."""

    group: str
    partitions: tuple[TranslatedOffset, ...]  # sorted by (topic, partition)
    missing: tuple[tuple[str, int], ...]  # upstream (topic, partition), sorted


def translate_group(
    group: str,
    checkpoints: Iterable[tuple[Checkpoint, int]],
    *,
    source_alias: str,
    policy: ReplicationPolicy,
    now_ms: int,
    committed_upstream: Mapping[tuple[str, int], int] | None = None,
    target_alias: str | None = None,
    separator: str = ".",
) -> TranslationResult:
    """The offsets at which ``group`` can resume on the target, one per checkpointed partition.

    ``checkpoints`` are the records of ``<source_alias>.checkpoints.internal`` with their record
    timestamps (ms), in log order; other groups' checkpoints are ignored. The latest checkpoint of
    each partition wins, even when it is lower than an earlier one (the group was rewound on the
    source). Each offset is conservative: resuming there may re-read records, never skip one.
    ``checkpoint_age_seconds`` is now_ms minus the record timestamp, never negative (a timestamp
    ahead of now_ms, from clock skew, counts as age 0).

    ``missing`` lists the keys of ``committed_upstream`` (the group's commits on the source, by
    upstream topic and partition) whose target partition, named as MirrorMaker names it under
    ``policy``, has no checkpoint. Give ``target_alias`` when topics may come back from the target
    (active/active): MirrorMaker checkpoints ``<target>.orders`` as ``orders``, not
    ``<source>.<target>.orders``. Raises ValueError if separator is empty.
    """
    _require_separator(separator)
    latest: dict[tuple[str, int], tuple[Checkpoint, int]] = {}
    for checkpoint, timestamp_ms in checkpoints:
        if checkpoint.group == group:
            latest[(checkpoint.topic, checkpoint.partition)] = (checkpoint, timestamp_ms)
    partitions = tuple(
        TranslatedOffset(
            topic=c.topic,
            partition=c.partition,
            offset=c.downstream_offset,
            upstream_offset=c.upstream_offset,
            checkpoint_age_seconds=max(0, now_ms - timestamp_ms) / 1000.0,
        )
        for (c, timestamp_ms) in (latest[tp] for tp in sorted(latest))
    )
    missing = tuple(
        sorted(
            (topic, partition)
            for topic, partition in (committed_upstream or {})
            if (
                downstream_topic(
                    topic,
                    source_alias=source_alias,
                    policy=policy,
                    target_alias=target_alias,
                    separator=separator,
                ),
                partition,
            )
            not in latest
        )
    )
    return TranslationResult(group=group, partitions=partitions, missing=missing)


def downstream_topic(
    upstream_topic: str,
    *,
    source_alias: str,
    policy: ReplicationPolicy,
    target_alias: str | None = None,
    separator: str = ".",
) -> str:
    """The target-side topic name MirrorMaker's checkpoints give a source topic.

    Usually remote_topic(). The exception: under the default policy, a topic that came from the
    target itself (``<target_alias>.orders`` on the source) is checkpointed under its original
    name (``orders``), as MirrorMaker does not send a topic home with a second prefix.
    Raises ValueError if separator is empty.
    """
    _require_separator(separator)
    if target_alias is not None and _topic_source(upstream_topic, policy, separator) == (
        target_alias
    ):
        return _original_topic(upstream_topic, policy, separator)
    return remote_topic(source_alias, upstream_topic, policy, separator)


def _require_separator(separator: str) -> None:
    if not separator:
        raise ValueError("the replication policy separator must not be empty")


def _topic_source(topic: str, policy: ReplicationPolicy, separator: str) -> str | None:
    """The alias a remote topic's name says it came from, or None if it names none."""
    if policy == "identity" and not topic.endswith(HEARTBEATS_TOPIC):
        # Identity names say nothing; MirrorMaker answers with the flow's own source alias,
        # which is never the target alias, so "none" leads to the same renaming.
        return None
    # Java's String.split: trailing empty parts are dropped, a leading one is kept.
    parts = topic.split(separator)
    while parts and not parts[-1]:
        parts.pop()
    return parts[0] if len(parts) >= 2 else None


def _original_topic(topic: str, policy: ReplicationPolicy, separator: str) -> str:
    """The topic's name on the cluster it was first written to, across any number of hops."""
    while (source := _topic_source(topic, policy, separator)) is not None:
        topic = topic[len(source) + len(separator) :]
    return topic
