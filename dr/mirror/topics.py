"""Which source topics a flow replicates, as MirrorMaker 2 decides it."""

from __future__ import annotations

import re
from collections.abc import Iterable

from dr.config.schema import MirrorFlow, MirrorSettings
from dr.mirror.properties import DEFAULT_GROUPS_EXCLUDE, flow_property
from dr.mirror.records import remote_topic

# MirrorMaker's default exclusions, plus the heartbeat topics (monitoring, not data).
EXCLUDED = (r".*[\-\.]internal", r".*\.replica", r"__.*", r"heartbeats", r".*\.heartbeats")


def flow_topics(names: Iterable[str], flow: MirrorFlow) -> list[str]:
    """The topics of `names` the flow replicates: matched in full by `topics`, not by
    `topics_exclude` or MirrorMaker's exclusions, and not a topic that came from the flow's own
    target (MirrorMaker never sends `dr.orders` back to dr: that would be a cycle)."""
    include = [re.compile(p) for p in flow.topics]
    exclude = [re.compile(p) for p in (*EXCLUDED, *flow.topics_exclude)]
    return sorted(
        name
        for name in names
        if any(r.fullmatch(name) for r in include)
        and not any(r.fullmatch(name) for r in exclude)
        and not _is_cycle(name, flow)
    )


def _is_cycle(topic: str, flow: MirrorFlow) -> bool:
    if flow.replication_policy != "default":
        return False  # identity names do not say where a topic came from
    source, sep, rest = topic.partition(".")
    return bool(sep and rest) and source == flow.target


def group_excluded(group: str, flow: MirrorFlow, mirror: MirrorSettings | None) -> str | None:
    """Why MirrorMaker never checkpoints ``group`` on this flow, or None when it does.

    MirrorMaker's group filter: ``groups`` (the flow's patterns) minus ``groups.exclude``, which
    defaults to MirrorMaker's own exclusions (console consumers, Connect, internal groups).
    Patterns match the whole name.
    """
    include = _patterns(flow_property(mirror, flow, "groups", rendered=", ".join(flow.groups)))
    exclude = _patterns(
        flow_property(
            mirror,
            flow,
            "groups.exclude",
            rendered=", ".join(DEFAULT_GROUPS_EXCLUDE + tuple(flow.groups_exclude)),
        )
    )
    hit = next((p for p in exclude if re.fullmatch(p, group)), None)
    if hit is not None:
        default = " (a MirrorMaker default)" if hit in DEFAULT_GROUPS_EXCLUDE else ""
        return (
            f"MirrorMaker never checkpoints group '{group}' on flow {flow.name}: it matches "
            f"groups.exclude '{hit}'{default}"
        )
    if not any(re.fullmatch(p, group) for p in include):
        return (
            f"MirrorMaker never checkpoints group '{group}' on flow {flow.name}: it matches none "
            f"of the flow's groups ({', '.join(include)})"
        )
    return None


def _patterns(value: str | None) -> list[str]:
    return [p.strip() for p in (value or "").split(",") if p.strip()]


def topic_map(
    flow: MirrorFlow, *, source_topics: Iterable[str] | None, target_topics: Iterable[str]
) -> dict[str, str]:
    """Source topic -> its replica's name on the target, for the topics the flow replicates.

    From the source's topic list when it can be read. When it cannot (the source is lost), from
    the target's: under the default policy the replicas are the ``<source>.`` topics whose rest
    the flow matches; under the identity policy names say nothing, so every target topic the
    flow's patterns match is taken as a replica of itself.
    """
    if source_topics is not None:
        return {
            t: remote_topic(flow.source, t, flow.replication_policy)
            for t in flow_topics(source_topics, flow)
        }
    names = list(target_topics)
    if flow.replication_policy == "identity":
        return {t: t for t in flow_topics(names, flow)}
    prefix = f"{flow.source}."
    originals = {t[len(prefix) :]: t for t in names if t.startswith(prefix)}
    return {o: originals[o] for o in flow_topics(originals, flow)}
