"""The mirror scenario's translation check: for a sample of the groups a flow checkpoints, does
the offset a group is translated to on the target hold the record it would read next on the
source? One check per group (``translation``), each compared partition its evidence.

The translation is kafka-dr's own (dr.mirror.offsets, the one a failover uses): MirrorMaker's
checkpoint when it describes the group's current commit, else the commit through the
offset-syncs. The records around both offsets are read and judged by dr.drill.translation_check.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from confluent_kafka import KafkaException

from dr.config.drills import MirrorScenario
from dr.config.schema import MirrorFlow, Settings
from dr.drill.context import DrillContext, now
from dr.drill.record_windows import read_windows
from dr.drill.translation_check import DEFAULT_WINDOW, MAX_WINDOW, compare, read_spans
from dr.drill.translation_verdicts import PartitionVerdict, Probe, judge_group
from dr.errors import DrError
from dr.kafka import admin as kadmin
from dr.kafka.client import admin_client
from dr.kafka.reader import RecordAt, offsets_for_times
from dr.mirror.offsets import Translation, load_translation, read_checkpoints
from dr.mirror.properties import flow_property
from dr.mirror.topics import group_excluded
from dr.mirror.translate import TranslatedOffset, TranslationResult, downstream_topic

SCENARIO = "mirror"
READ_TIMEOUT_S = 20.0  # each group's records, per cluster
MIRRORMAKER_OFFSET_LAG_MAX = 100  # MirrorMaker's default offset.lag.max

TP = tuple[str, int]
# What reading the clusters may raise: a check records it as an error, the drill goes on.
FAILURES = (DrError, KafkaException)


@dataclass(frozen=True)
class _Plan:
    """A group's sampled partitions, each with its source partition, or why it is left out."""

    result: TranslationResult
    sampled: tuple[tuple[TranslatedOffset, TP], ...]
    unchecked: tuple[str, ...]


def check_translation(
    ctx: DrillContext, flow: MirrorFlow, scenario: MirrorScenario, *, groups: Sequence[str] | None
) -> None:
    """Record one ``translation`` check per sampled group (or one for the flow when there is
    nothing to sample or the translation cannot be read). ``groups``: the groups the flow's
    checkpoints cover, when already read (mirror status reads them); None reads them here."""
    started = now()
    inputs = {
        "flow": flow.name,
        "sample_groups": scenario.sample_groups,
        "sample_partitions": scenario.sample_partitions,
    }
    try:
        loaded = _load(ctx.settings, flow, groups)
        chosen = sample_groups(loaded, scenario.sample_groups) if loaded else []
        if loaded is None or not chosen:
            ctx.recorder.check(
                SCENARIO, "translation", flow.name, "warning",
                f"flow {flow.name}: no group has checkpoints on '{flow.target}': no "
                "translation to check",
                started=started, inputs=inputs,
            )  # fmt: skip
            return
        plans = {g: _plan(loaded, g, scenario.sample_partitions) for g in chosen}
        spans = _spans(ctx.settings, flow, plans)
    except FAILURES as exc:
        ctx.recorder.check(
            SCENARIO, "translation", flow.name, "error",
            f"flow {flow.name}: the translation could not be read: {exc}",
            started=started, inputs=inputs,
        )  # fmt: skip
        return
    window = _window(ctx.settings, flow)
    for group, plan in plans.items():
        ctx.check_cancelled()
        _check_group(ctx, flow, group, plan, spans, window=window, inputs=inputs)


def _load(settings: Settings, flow: MirrorFlow, groups: Sequence[str] | None) -> Translation | None:
    """The flow's translation of the groups its checkpoints cover; None when there are none.
    Raises DrError when the source cannot be read (the commits are what is checked)."""
    if groups is None:
        found = read_checkpoints(settings, flow.source, flow.target)
        groups = sorted({checkpoint.group for checkpoint, _ in found})
    if not groups:
        return None
    loaded = load_translation(settings, flow.source, flow.target, wanted=groups)
    if loaded.source_unreachable is not None:
        raise DrError(loaded.source_unreachable)
    return loaded


def sample_groups(loaded: Translation, count: int) -> list[str]:
    """Up to ``count`` of the groups the flow checkpoints (that have checkpoints and pass its
    group filter): those with commits on the source first, each lot in name order (the same
    groups every drill, until they change)."""
    commits = loaded.commits or {}
    mirror = loaded.settings.mirror
    kept = [g for g in loaded.checkpoints if group_excluded(g, loaded.flow, mirror) is None]
    return sorted(kept, key=lambda g: (g not in commits, g))[:count]


def sample_partitions(result: TranslationResult, count: int) -> list[TranslatedOffset]:
    """Up to ``count`` translated partitions: those with a commit on the source first."""
    ranked = sorted(
        result.partitions, key=lambda t: (t.source_committed is None, t.topic, t.partition)
    )
    return ranked[:count]


def committed_of(translated: TranslatedOffset) -> int:
    """C: the group's commit on the source, or (expired there) what its checkpoint translated."""
    if translated.source_committed is not None:
        return translated.source_committed
    return translated.upstream_offset


def _plan(loaded: Translation, group: str, count: int) -> _Plan:
    flow = loaded.flow
    source_of = {
        downstream_topic(
            t,
            source_alias=flow.source,
            policy=flow.replication_policy,
            target_alias=flow.target,
        ): t
        for t in loaded.replicated
    }
    result = loaded.translate(group)
    sampled: list[tuple[TranslatedOffset, TP]] = []
    unchecked: list[str] = []
    for part in sample_partitions(result, count):
        topic = source_of.get(part.topic)
        if topic is None:
            unchecked.append(
                f"group {group}: {part.topic}-{part.partition} on '{flow.target}' is the replica "
                f"of no topic the flow replicates from '{flow.source}'"
            )
        else:
            sampled.append((part, (topic, part.partition)))
    return _Plan(result, tuple(sampled), tuple(unchecked))


@dataclass(frozen=True)
class _Spans:
    """Each sampled partition's [log start, end) on the source and on the target."""

    source: Mapping[TP, tuple[int, int]]
    target: Mapping[TP, tuple[int, int]]


def _spans(settings: Settings, flow: MirrorFlow, plans: Mapping[str, _Plan]) -> _Spans:
    """The log starts and ends of every sampled partition, asked once per cluster."""
    src_tps = sorted({tp for plan in plans.values() for _, tp in plan.sampled})
    dst_tps = sorted({(t.topic, t.partition) for plan in plans.values() for t, _ in plan.sampled})
    out: list[dict[TP, tuple[int, int]]] = []
    for cluster, tps in ((flow.source, src_tps), (flow.target, dst_tps)):
        admin = admin_client(settings.clusters[cluster])
        present = kadmin.list_topic_partitions(admin, admin.timeout_s)
        tps = [(t, p) for t, p in tps if t in present and p < present[t].partitions]
        low = kadmin.offsets(admin, tps, "earliest", admin.timeout_s, committed=False)
        high = kadmin.offsets(admin, tps, "latest", admin.timeout_s, committed=False)
        out.append({tp: (low[tp], high[tp]) for tp in tps})
    return _Spans(out[0], out[1])


def _window(settings: Settings, flow: MirrorFlow) -> int:
    """Records read on each side of C and T: twice MirrorMaker's sync spacing, at least."""
    lag_max = flow_property(settings.mirror, flow, "offset.lag.max")
    spacing = int(lag_max) if lag_max and lag_max.isdigit() else MIRRORMAKER_OFFSET_LAG_MAX
    return min(max(DEFAULT_WINDOW, 2 * (spacing + 1)), MAX_WINDOW)


def _check_group(
    ctx: DrillContext,
    flow: MirrorFlow,
    group: str,
    plan: _Plan,
    spans: _Spans,
    *,
    window: int,
    inputs: dict[str, object],
) -> None:
    started = now()
    try:
        verdicts, absent = _compare_group(ctx.settings, flow, group, plan, spans, window=window)
    except FAILURES as exc:
        ctx.recorder.check(
            SCENARIO, "translation", group, "error",
            f"group {group}: the records of flow {flow.name} could not be read: {exc}",
            started=started, inputs=inputs,
        )  # fmt: skip
        return
    unchecked = (*plan.unchecked, *absent)
    judged = judge_group(
        group, flow.target, verdicts, missing=plan.result.missing, unchecked=unchecked
    )
    ctx.recorder.check(
        SCENARIO,
        "translation",
        group,
        judged.outcome,
        judged.summary,
        started=started,
        inputs={**inputs, "window": window},
        evidence=_evidence(flow, verdicts, plan, unchecked),
    )


def _evidence(
    flow: MirrorFlow, verdicts: Sequence[PartitionVerdict], plan: _Plan, unchecked: Sequence[str]
) -> dict[str, Any]:
    """Each compared partition, each partition that cannot be translated, each left out."""
    tally: dict[str, int] = {}
    for v in verdicts:
        tally[v.verdict] = tally.get(v.verdict, 0) + 1
    return {
        "flow": flow.name,
        "partitions": [v.evidence() for v in verdicts],
        "missing": [
            {
                "topic": m.topic,
                "partition": m.partition,
                "committed": m.source_committed,
                "kind": m.kind,
                "reason": m.reason,
            }
            for m in plan.result.missing
        ],
        "unchecked": list(unchecked),
        "verdicts": tally,
    }


def _compare_group(
    settings: Settings, flow: MirrorFlow, group: str, plan: _Plan, spans: _Spans, *, window: int
) -> tuple[list[PartitionVerdict], list[str]]:
    """Read the records around C and T of each sampled partition and judge them; the
    partitions that are gone from either cluster are named instead."""
    wanted: list[tuple[TranslatedOffset, TP, TP]] = []
    absent: list[str] = []
    src_reads: dict[TP, tuple[int, int]] = {}
    dst_reads: dict[TP, tuple[int, int]] = {}
    for part, src_tp in plan.sampled:
        dst_tp = (part.topic, part.partition)
        if src_tp not in spans.source or dst_tp not in spans.target:
            cluster, (t, p) = (
                (flow.source, src_tp) if src_tp not in spans.source else (flow.target, dst_tp)
            )
            absent.append(f"group {group}: {t}-{p} does not exist on '{cluster}'")
            continue
        src_reads[src_tp], dst_reads[dst_tp] = read_spans(
            committed_of(part),
            part.offset,
            part.max_redelivered,
            source=spans.source[src_tp],
            target=spans.target[dst_tp],
            window=window,
        )
        wanted.append((part, src_tp, dst_tp))
    source = read_windows(settings.clusters[flow.source], src_reads, timeout_s=READ_TIMEOUT_S)
    target = read_windows(settings.clusters[flow.target], dst_reads, timeout_s=READ_TIMEOUT_S)
    verdicts = [
        compare(
            Probe(
                group=group,
                topic=src_tp[0],
                target_topic=part.topic,
                partition=part.partition,
                committed=committed_of(part),
                translated=part.offset,
                basis=part.basis,
                bound=part.max_redelivered,
                source=source[src_tp],
                target=target[dst_tp],
                source_end=spans.source[src_tp][1],
                target_end=spans.target[dst_tp][1],
                target_cluster=flow.target,
            )
        )
        for part, src_tp, dst_tp in wanted
    ]
    return _look_further(settings, flow, verdicts, spans, window=window), absent


def _look_further(
    settings: Settings,
    flow: MirrorFlow,
    verdicts: list[PartitionVerdict],
    spans: _Spans,
    *,
    window: int,
) -> list[PartitionVerdict]:
    """Judge again the partitions whose source record S was not within the records read
    around T, after looking for its copy on the target by its timestamp (a skip or a re-read
    longer than the window): MirrorMaker keeps the timestamps, so S's copy is at or after the
    first target offset stamped at or after S's time, if the topic's timestamps rise."""
    lost: dict[TP, tuple[PartitionVerdict, RecordAt]] = {}
    for v in verdicts:
        p = v.probe
        s = next((r for r in p.source.records if r.offset == v.source_offset), None)
        if v.verdict == "unverified" and s is not None and s.timestamp_ms >= 0:
            lost[(p.target_topic, p.partition)] = (v, s)
    if not lost:
        return verdicts
    target = settings.clusters[flow.target]
    times = {tp: s.timestamp_ms for tp, (_, s) in lost.items()}
    starts = offsets_for_times(target, times)
    reads = read_windows(
        target,
        {
            tp: (at, min(at + window, spans.target[tp][1]))
            for tp, at in starts.items()
            if at >= 0 and tp in spans.target
        },
        timeout_s=READ_TIMEOUT_S,
    )
    again: dict[TP, PartitionVerdict] = {}
    for tp, (v, s) in lost.items():
        digest = s.digest()
        found = (
            next((r for r in reads[tp].records if r.digest() == digest), None)
            if tp in reads
            else None
        )
        if found is not None:
            again[tp] = compare(replace(v.probe, elsewhere=found))
    return [again.get((v.probe.target_topic, v.probe.partition), v) for v in verdicts]
