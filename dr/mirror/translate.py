"""Translating a consumer group's offsets to the target cluster: MirrorMaker 2's checkpoints
when they still describe the group, otherwise the group's commit through the offset-syncs.

Pure logic: the caller reads the checkpoints topic, the offset-syncs topic and the group's
committed offsets on the source (when the source answers) and hands the records here.

What a translated offset means. An *offset sync* is a pair of offsets known to hold the same
record on the source (upstream) and on the target (downstream). A commit C translates through the
newest sync (U, D) with U <= C: to D when C == U, otherwise to D + 1. It never goes further,
because records between U and C may be filtered or compacted away and overshooting would skip
data. The translation is therefore *conservative*: a consumer that starts from it never skips a
record it had not consumed on the source, but may re-read up to C - U - 1 records (the source
records between the sync and the commit). MirrorMaker's checkpoints are the same translation,
made by MirrorMaker every checkpoint interval from its own (sparser) copy of the syncs.

A checkpoint describes the commit it translated (its ``upstream_offset``), no other: once the
group has committed elsewhere on the source (moved on, or rewound), the checkpoint is stale. A
stale checkpoint of a rewound group points past records the group has not consumed: used as is,
it would skip them. So a checkpoint is used only when its upstream offset equals the group's
current commit; otherwise the commit is translated through the offset-syncs; when neither is
possible the partition is *missing*, with the reason. When the source cannot be read (a real
failover), the commits are unknown: the newest checkpoints are all there is, and the result says
so (``source_unreachable``) with their age.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from dr.mirror.records import (
    HEARTBEATS_TOPIC,
    Checkpoint,
    OffsetSync,
    ReplicationPolicy,
    remote_topic,
)

Basis = Literal["checkpoint", "offset-sync"]
# Why a partition cannot be translated; only "no-sync-yet" may change by waiting.
MissingKind = Literal[
    "not-replicated", "group-excluded", "behind-oldest-sync", "no-sync-yet", "syncs-unreadable"
]
TP = tuple[str, int]


@dataclass(frozen=True, slots=True)
class TranslatedOffset:
    """Where a group resumes on one target partition.

    ``offset`` is the conservative downstream offset (see the module docstring) and
    ``upstream_offset`` the source offset it translates. ``basis`` says where it came from: the
    newest checkpoint (``checkpoint_age_seconds`` old), or the offset-syncs (a checkpoint, if
    any, was stale: ``checkpoint_upstream_offset`` is what it translated). ``source_committed``
    is the group's commit on the source now, None when the source could not be read or holds no
    commit for the partition. ``max_redelivered`` bounds the records the group re-reads there
    (None when it was not measured: a checkpoint does not say which sync it used).
    """

    topic: str  # the target-side name
    partition: int
    offset: int
    upstream_offset: int
    basis: Basis = "checkpoint"
    checkpoint_age_seconds: float | None = None
    source_committed: int | None = None
    checkpoint_upstream_offset: int | None = None
    max_redelivered: int | None = None


@dataclass(frozen=True, slots=True)
class MissingOffset:
    """A source partition the group committed on that cannot be translated, and why."""

    topic: str  # the source-side name
    partition: int
    kind: MissingKind
    reason: str
    source_committed: int | None = None


@dataclass(frozen=True, slots=True)
class _Refusal:
    kind: MissingKind
    reason: str


@dataclass(frozen=True, slots=True)
class TranslationResult:
    """A group's translated offsets, and the partitions that cannot be translated."""

    group: str
    partitions: tuple[TranslatedOffset, ...]  # sorted by (topic, partition)
    missing: tuple[MissingOffset, ...]  # sorted by (topic, partition)
    source_unreachable: str | None = None  # why the group's commits could not be read

    @property
    def newest_checkpoint_age_seconds(self) -> float | None:
        ages = [p.checkpoint_age_seconds for p in self.partitions]
        known = [a for a in ages if a is not None]
        return min(known) if known else None


def translate_group(
    group: str,
    checkpoints: Iterable[tuple[Checkpoint, int]],
    *,
    source_alias: str,
    policy: ReplicationPolicy,
    now_ms: int,
    committed_upstream: Mapping[TP, int] | None = None,
    source_unreachable: str | None = None,
    offset_syncs: Mapping[TP, Sequence[OffsetSync]] | None = None,
    syncs_unreadable: str | None = None,
    replicated: Callable[[str], bool] = lambda _topic: True,
    group_excluded: str | None = None,
    target_alias: str | None = None,
    separator: str = ".",
) -> TranslationResult:
    """The offsets at which ``group`` can resume on the target.

    ``checkpoints`` are the records of ``<source_alias>.checkpoints.internal`` with their record
    timestamps (ms), in log order; other groups' are ignored and the latest of each partition
    wins. ``committed_upstream`` holds the group's commits on the source by upstream topic and
    partition; None means the source could not be read (``source_unreachable`` says why): every
    partition with a checkpoint is then translated by its newest checkpoint, and the result
    carries the reason.
    ``offset_syncs`` are the offset-syncs topic's records as usable_syncs() keeps them (None
    when the topic could not be read, ``syncs_unreadable`` saying why). ``replicated`` tells
    whether the flow replicates an upstream topic; ``group_excluded`` is why MirrorMaker's group
    filter leaves the group out, if it does. Ages are now_ms minus the record timestamp, never
    negative.

    Give ``target_alias`` when topics may come back from the target (active/active): MirrorMaker
    checkpoints ``<target>.orders`` as ``orders``, not ``<source>.<target>.orders``.
    Raises ValueError if separator is empty.
    """
    _require_separator(separator)
    latest: dict[TP, tuple[Checkpoint, int]] = {}
    for checkpoint, timestamp_ms in checkpoints:
        if checkpoint.group == group:
            latest[(checkpoint.topic, checkpoint.partition)] = (checkpoint, timestamp_ms)

    def age(tp: TP) -> float:
        return max(0, now_ms - latest[tp][1]) / 1000.0

    def by_checkpoint(tp: TP, committed: int | None) -> TranslatedOffset:
        c = latest[tp][0]
        return TranslatedOffset(
            c.topic,
            c.partition,
            c.downstream_offset,
            c.upstream_offset,
            "checkpoint",
            age(tp),
            committed,
        )

    if committed_upstream is None:
        partitions = [by_checkpoint(tp, None) for tp in latest]
        unread = source_unreachable or "the group's commits on the source were not read"
        return TranslationResult(group, tuple(sorted(partitions, key=_tp)), (), unread)

    syncs = offset_syncs
    translated: list[TranslatedOffset] = []
    missing: list[MissingOffset] = []
    seen: set[TP] = set()
    for (topic, partition), committed in committed_upstream.items():
        down = (
            downstream_topic(
                topic,
                source_alias=source_alias,
                policy=policy,
                target_alias=target_alias,
                separator=separator,
            ),
            partition,
        )
        seen.add(down)
        why: _Refusal | None = None
        if not replicated(topic):
            why = _Refusal("not-replicated", f"the flow does not replicate topic '{topic}'")
        elif group_excluded is not None:
            why = _Refusal("group-excluded", group_excluded)
        newest = latest.get(down)
        checkpointed = None if newest is None else newest[0].upstream_offset
        if why is None and checkpointed == committed:
            translated.append(by_checkpoint(down, committed))
            continue
        if why is None:
            found = _through_syncs(
                None if syncs is None else syncs.get((topic, partition), []),
                committed,
                checkpointed,
                syncs_unreadable,
            )
            if not isinstance(found, _Refusal):
                offset, sync = found
                translated.append(
                    TranslatedOffset(
                        down[0],
                        partition,
                        offset,
                        committed,
                        "offset-sync",
                        None,
                        committed,
                        checkpointed,
                        max(0, committed - sync.upstream_offset - 1),
                    )
                )
                continue
            why = found
        missing.append(MissingOffset(topic, partition, why.kind, why.reason, committed))
    # Checkpoints of partitions the group no longer commits on the source (offsets expired or
    # deleted there): nothing contradicts them.
    translated += [by_checkpoint(tp, None) for tp in latest if tp not in seen]
    return TranslationResult(
        group,
        tuple(sorted(translated, key=_tp)),
        tuple(sorted(missing, key=lambda m: (m.topic, m.partition))),
    )


def usable_syncs(records: Iterable[OffsetSync]) -> dict[TP, list[OffsetSync]]:
    """The offset syncs of each upstream partition that still hold together, in log order.

    Syncs of one partition rise on both sides. One that goes back on either side starts a new
    history (the source topic was re-created, or MirrorMaker re-copied records after a restart):
    the earlier ones are dropped, as MirrorMaker's own sync store does.
    """
    out: dict[TP, list[OffsetSync]] = {}
    for sync in records:
        kept = out.setdefault((sync.topic, sync.partition), [])
        if kept and (
            sync.upstream_offset < kept[-1].upstream_offset
            or sync.downstream_offset < kept[-1].downstream_offset
        ):
            kept.clear()
        kept.append(sync)
    return out


def translate_commit(
    syncs: Sequence[OffsetSync], committed: int
) -> tuple[int, OffsetSync] | _Refusal:
    """The downstream offset of a source commit through one partition's syncs (rising, as
    usable_syncs keeps them) and the sync used; or why it cannot be translated."""
    if not syncs:
        return _Refusal(
            "no-sync-yet",
            "MirrorMaker has written no offset-sync for this partition (nothing replicated yet?)",
        )
    below = [s for s in syncs if s.upstream_offset <= committed]
    if not below:
        return _Refusal(
            "behind-oldest-sync",
            f"the commit {committed} is older than the oldest offset-sync MirrorMaker kept for "
            f"this partition (upstream {syncs[0].upstream_offset}): it can never be translated; "
            "reset the group on the target by time (kafka-consumer-groups --reset-offsets "
            "--to-datetime) or to the earliest offset",
        )
    sync = below[-1]
    offset = sync.downstream_offset + (0 if sync.upstream_offset == committed else 1)
    above = [s.downstream_offset for s in syncs if s.upstream_offset > committed]
    return (min([offset, *above]), sync)


def _through_syncs(
    syncs: Sequence[OffsetSync] | None,
    committed: int,
    checkpointed: int | None,
    unreadable: str | None,
) -> tuple[int, OffsetSync] | _Refusal:
    """translate_commit(), its refusal prefixed with what was wrong with the checkpoint."""
    why = (
        "no checkpoint for this partition"
        if checkpointed is None
        else f"the newest checkpoint translates {checkpointed}, not the group's commit {committed}"
    )
    if syncs is None:
        return _Refusal(
            "syncs-unreadable",
            f"{why}, and the offset-syncs cannot be read ({unreadable or 'unknown reason'})",
        )
    found = translate_commit(syncs, committed)
    if isinstance(found, _Refusal):
        return _Refusal(found.kind, f"{why}; {found.reason}")
    return found


def _tp(t: TranslatedOffset) -> TP:
    return (t.topic, t.partition)


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
