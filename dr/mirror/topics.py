"""Which source topics a flow replicates, as MirrorMaker 2 decides it."""

from __future__ import annotations

import re
from collections.abc import Iterable

from dr.config.schema import MirrorFlow

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
