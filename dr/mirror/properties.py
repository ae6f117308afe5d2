"""Rendering MirrorMaker 2's dedicated-mode properties (mm2.properties) from the config."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dr.config.schema import ClusterSettings, MirrorFlow, MirrorSettings
from dr.kafka.client import escape_property, java_properties

# MirrorMaker's own default topic exclusions, kept when the user adds exclusions of their own.
DEFAULT_TOPICS_EXCLUDE = (r".*[\-\.]internal", r".*\.replica", r"__.*")
DEFAULT_GROUPS_EXCLUDE = ("console-consumer-.*", "connect-.*", "__.*")
IDENTITY_POLICY = "org.apache.kafka.connect.mirror.IdentityReplicationPolicy"


def render_dedicated(
    clusters: Mapping[str, ClusterSettings],
    flows: Sequence[MirrorFlow],
    *,
    overrides: Mapping[str, str] | None = None,
) -> str:
    """The mm2.properties text that runs these flows in a dedicated MirrorMaker 2.

    Only the clusters the flows name are declared; every pair that is not a flow is disabled,
    heartbeats included, so MirrorMaker writes nothing where it was not asked to.
    """
    aliases = sorted({f.source for f in flows} | {f.target for f in flows})
    pairs: list[tuple[str, str]] = [("clusters", ", ".join(aliases))]
    for alias in aliases:
        cluster = clusters[alias]
        pairs.append((f"{alias}.bootstrap.servers", cluster.bootstrap_servers))
        pairs += [(f"{alias}.{k}", v) for k, v in sorted(java_properties(cluster).items())]
    flow_names = {(f.source, f.target) for f in flows}
    for flow in flows:
        pairs += _flow_pairs(flow)
    for src in aliases:
        for dst in aliases:
            if src != dst and (src, dst) not in flow_names:
                pairs += [
                    (f"{src}->{dst}.enabled", "false"),
                    (f"{src}->{dst}.emit.heartbeats.enabled", "false"),
                ]
    pairs += list((overrides or {}).items())
    lines = ["# Rendered by kafka-dr: edit the kafka-dr config, not this file."]
    lines += [f"{key} = {escape_property(value)}" for key, value in pairs]
    return "\n".join(lines) + "\n"


def _flow_pairs(flow: MirrorFlow) -> list[tuple[str, str]]:
    p = f"{flow.source}->{flow.target}"
    pairs = [
        (f"{p}.enabled", "true"),
        (f"{p}.topics", ", ".join(flow.topics)),
        (f"{p}.groups", ", ".join(flow.groups)),
        (f"{p}.emit.checkpoints.enabled", "true"),
        (f"{p}.emit.checkpoints.interval.seconds", str(flow.checkpoint_interval_s)),
        (f"{p}.sync.group.offsets.enabled", str(flow.sync_group_offsets).lower()),
        (f"{p}.emit.heartbeats.enabled", str(flow.heartbeats).lower()),
    ]
    if flow.replication_policy == "identity":
        pairs.append((f"{p}.replication.policy.class", IDENTITY_POLICY))
    if flow.topics_exclude:
        pairs.append(
            (f"{p}.topics.exclude", ", ".join((*DEFAULT_TOPICS_EXCLUDE, *flow.topics_exclude)))
        )
    if flow.groups_exclude:
        excluded = (*DEFAULT_GROUPS_EXCLUDE, *flow.groups_exclude)
        pairs.append((f"{p}.groups.exclude", ", ".join(excluded)))
    pairs += [(f"{p}.{k}", v) for k, v in sorted(flow.properties.items())]
    return pairs


def flow_property(
    mirror: MirrorSettings | None, flow: MirrorFlow, key: str, *, rendered: str | None = None
) -> str | None:
    """A MirrorMaker property as the flow's connectors will read it, None for MirrorMaker's
    default.

    Dedicated mode: mm2.properties holds ``SOURCE->TARGET.key`` (what kafka-dr renders from the
    flow's typed fields, ``rendered``, then the flow's own ``properties``, then a prefixed key of
    ``mirror.properties``, the last one written winning) before the bare ``key`` of
    ``mirror.properties``. Connect mode: the connector config holds the flow's properties over
    what kafka-dr renders.
    """
    dedicated = mirror is not None and mirror.deploy == "dedicated"
    prefixed = mirror.properties.get(f"{flow.name}.{key}") if dedicated and mirror else None
    for value in (prefixed, flow.properties.get(key), rendered):
        if value is not None:
            return value
    return mirror.properties.get(key) if dedicated and mirror else None
