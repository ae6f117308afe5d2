"""Rendering MirrorMaker 2's dedicated-mode properties (mm2.properties) from the config."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from dr.config.schema import ClusterSettings, MirrorFlow, MirrorSettings
from dr.kafka.client import escape_property, java_properties
from dr.log import is_secret_key

# MirrorMaker's own default topic exclusions, kept when the user adds exclusions of their own.
DEFAULT_TOPICS_EXCLUDE = (r".*[\-\.]internal", r".*\.replica", r"__.*")
DEFAULT_GROUPS_EXCLUDE = ("console-consumer-.*", "connect-.*", "__.*")
IDENTITY_POLICY = "org.apache.kafka.connect.mirror.IdentityReplicationPolicy"
FILE_PROVIDER = "org.apache.kafka.common.config.provider.FileConfigProvider"


def mirror_clusters(
    clusters: Mapping[str, ClusterSettings], mirror: MirrorSettings | None
) -> dict[str, ClusterSettings]:
    """The clusters as MirrorMaker connects to them: ``mirror.clients`` (its own principal)
    over each cluster's ``client`` settings (kafka-dr's)."""
    out = dict(clusters)
    for name, extra in (mirror.clients if mirror is not None else {}).items():
        if name in out:
            cluster = out[name]
            out[name] = cluster.model_copy(update={"client": {**cluster.client, **extra}})
    return out


def cluster_pairs(
    alias: str, prefix: str, cluster: ClusterSettings, secrets_file: Path | None
) -> list[tuple[str, str]]:
    """The cluster's Java client settings under ``prefix``; with a secrets file, each secret
    one (a JAAS line, a password) is a FileConfigProvider reference to ``ALIAS.KEY`` there."""
    pairs = []
    for key, value in sorted(java_properties(cluster).items()):
        if secrets_file is not None and is_secret_key(key):
            value = f"${{file:{secrets_file}:{alias}.{key}}}"
        pairs.append((f"{prefix}{key}", value))
    return pairs


def secrets_text(clusters: Mapping[str, ClusterSettings], aliases: Sequence[str]) -> str | None:
    """The secrets file the rendered references point at (``ALIAS.KEY = value`` for each
    secret Java client setting of the named clusters); None when they have no secret."""
    lines = [
        f"{alias}.{key} = {escape_property(value)}"
        for alias in sorted(set(aliases))
        for key, value in sorted(java_properties(clusters[alias]).items())
        if is_secret_key(key)
    ]
    if not lines:
        return None
    return "# Written by kafka-dr: MirrorMaker's secrets. Owner-only.\n" + "\n".join(lines) + "\n"


def render_dedicated(
    clusters: Mapping[str, ClusterSettings],
    flows: Sequence[MirrorFlow],
    *,
    overrides: Mapping[str, str] | None = None,
    secrets_file: Path | None = None,
) -> str:
    """The mm2.properties text that runs these flows in a dedicated MirrorMaker 2.

    Only the clusters the flows name are declared; every pair that is not a flow is disabled,
    heartbeats included, so MirrorMaker writes nothing where it was not asked to. With a
    secrets file, secret settings are references into it (see secrets_text).
    """
    aliases = sorted({f.source for f in flows} | {f.target for f in flows})
    pairs: list[tuple[str, str]] = [("clusters", ", ".join(aliases))]
    if secrets_file is not None and secrets_text(clusters, aliases) is not None:
        pairs += [("config.providers", "file"), ("config.providers.file.class", FILE_PROVIDER)]
    for alias in aliases:
        cluster = clusters[alias]
        pairs.append((f"{alias}.bootstrap.servers", cluster.bootstrap_servers))
        pairs += cluster_pairs(alias, f"{alias}.", cluster, secrets_file)
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
