"""Deciding what a backup run copies: pure logic, from the last manifest and the cluster's state.

Every decision that could lose or mix data is made here, where it can be tested without Kafka:

- a partition continues after the last stored offset of the SAME topic (same Kafka topic id);
  a topic deleted and created again under its name starts a new lineage from its log start;
- records deleted by Kafka's retention before a run reached them become a recorded Gap;
- a partition without a leader, or whose offsets could not be read, is never written as a data
  range: it is reported missing (the run fails, or completes as a partial backup);
- backup retention (keep_days) never drops a segment whose records are still in Kafka.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from dr.backup.catalog import Gap, Manifest, MissingPartition, PartitionEntry, RetiredTopic
from dr.backup.copy import BackupError, PartitionPlan

TP = tuple[str, int]


@dataclass(frozen=True)
class PartitionState:
    """What the cluster says of one partition now; ``problem`` when it cannot be copied."""

    topic: str
    partition: int
    topic_id: str | None
    earliest: int = -1
    latest: int = -1
    problem: str | None = None


@dataclass
class BackupPlan:
    """What one run copies, what it carries unchanged, what it could not reach."""

    partitions: list[PartitionPlan] = field(default_factory=list)
    missing: list[MissingPartition] = field(default_factory=list)
    unchanged: list[PartitionEntry] = field(default_factory=list)  # missing now, kept as is
    retired: list[RetiredTopic] = field(default_factory=list)

    @property
    def gaps(self) -> list[Gap]:
        return [p.gap for p in self.partitions if p.gap is not None]


def plan_backup(
    previous: Manifest | None,
    states: list[PartitionState],
    *,
    existing_topics: set[str],
    backup_id: str,
    now: datetime,
) -> BackupPlan:
    """Where each partition's copy starts and ends, and what the previous backup held that
    this one will not (retired topics). Raises BackupError when a topic kept its id but its
    log now ends before offsets already backed up (truncated by an unclean election)."""
    plan = BackupPlan()
    retired: dict[str, RetiredTopic] = {}
    for state in states:
        carried = previous.partition(state.topic, state.partition) if previous else None
        if carried is not None and _other_lineage(carried, state):
            assert previous is not None
            retired.setdefault(
                state.topic,
                RetiredTopic(
                    state.topic,
                    carried.topic_id,
                    f"re-created: the topic now has id {state.topic_id}",
                    previous.backup_id,
                ),
            )
            carried = None
        if state.problem is not None:
            plan.missing.append(MissingPartition(state.topic, state.partition, state.problem))
            if carried is not None:
                plan.unchanged.append(carried)
            continue
        plan.partitions.append(_partition_plan(state, carried, backup_id, now))
    plan.retired = sorted(retired.values(), key=lambda r: r.topic) + _vanished(
        previous, states, existing_topics
    )
    return plan


def _other_lineage(carried: PartitionEntry, state: PartitionState) -> bool:
    if carried.topic_id is not None and state.topic_id is not None:
        return carried.topic_id != state.topic_id
    # A backup written before topic ids were recorded: the same topic unless its log now ends
    # before what was stored (the topic was deleted and created again, shorter).
    return state.problem is None and carried.end_offset > state.latest


def _partition_plan(
    state: PartitionState, carried: PartitionEntry | None, backup_id: str, now: datetime
) -> PartitionPlan:
    low, high = state.earliest, state.latest
    start = carried.end_offset if carried else low
    if start > high:
        raise BackupError(
            f"{state.topic}-{state.partition}: the log (topic id {state.topic_id}) ends at "
            f"offset {high} but offsets up to {start} are already backed up: records were lost "
            "from Kafka (unclean leader election?); back it up under a new job to keep both"
        )
    gap = None
    if start < low:
        gap = Gap(start, low, "deleted by retention before backup", now.isoformat(), backup_id)
        start = low
    return PartitionPlan(
        state.topic, state.partition, start, high, carried, gap, topic_id=state.topic_id
    )


def _vanished(
    previous: Manifest | None, states: list[PartitionState], existing: set[str]
) -> list[RetiredTopic]:
    """Topics the previous backup held that this run does not back up: not carried forward
    (a later backup does not pretend a deleted topic still exists); the backups that hold them
    still restore them, with their configs."""
    if previous is None:
        return []
    current = {s.topic for s in states}
    out: list[RetiredTopic] = []
    for topic in sorted({e.topic for e in previous.partitions} - current):
        entry = next(e for e in previous.partitions if e.topic == topic)
        reason = (
            "no longer matched by the job's topics"
            if topic in existing
            else "deleted from the cluster"
        )
        out.append(RetiredTopic(topic, entry.topic_id, reason, previous.backup_id))
    return out


def partition_entry(plan: PartitionPlan) -> PartitionEntry:
    """The manifest entry of a copied partition: what was carried, plus this run's segments."""
    carried = plan.carried
    segments = (carried.segments if carried else ()) + tuple(plan.segments)
    gaps = (carried.gaps if carried else ()) + ((plan.gap,) if plan.gap else ())
    start = carried.start_offset if carried else plan.start
    if not carried and plan.gap is not None:
        start = plan.gap.start_offset
    return PartitionEntry(
        plan.topic, plan.partition, start, plan.end, segments, gaps, topic_id=plan.topic_id
    )


def apply_data_horizon(
    manifest: Manifest, keep_days: float | None, now: datetime, log_start: dict[TP, int]
) -> Manifest:
    """Drop leading segments that are older than keep_days AND no longer in Kafka.

    Retention of backups never decides which records still in Kafka are backed up: a segment
    is dropped only when every record of it is older than the horizon and its offsets are all
    below the partition's current log start (``log_start``; a partition missing from it keeps
    everything). Dropped segments stay in the store until no kept manifest references them.
    """
    if keep_days is None:
        return manifest
    cutoff_ms = int((now.timestamp() - keep_days * 86400) * 1000)
    entries = []
    for entry in manifest.partitions:
        first_live = log_start.get((entry.topic, entry.partition))
        segments = list(entry.segments)
        while (
            segments
            and first_live is not None
            and segments[0].end_offset <= first_live
            and (segments[0].last_timestamp or 0) < cutoff_ms
        ):
            segments.pop(0)
        start = segments[0].start_offset if segments else entry.start_offset
        if len(segments) < len(entry.segments) and not segments:
            start = entry.end_offset
        gaps = tuple(g for g in entry.gaps if g.end_offset > start)
        entries.append(replace(entry, segments=tuple(segments), start_offset=start, gaps=gaps))
    return replace(manifest, partitions=tuple(entries))
