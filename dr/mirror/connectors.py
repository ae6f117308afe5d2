"""Rendering a flow's MirrorMaker 2 connectors for a Kafka Connect cluster (deploy: connect).

In a Connect cluster the three Mirror connectors are configured one by one through the REST API,
with the keys that a dedicated MirrorMaker derives from mm2.properties written out in full:
``source.cluster.*`` and ``target.cluster.*`` for the two connections, the flow's filters and
intervals without the ``SOURCE->TARGET.`` prefix.

The records the connectors produce (replicated data, checkpoints, heartbeats) go to the Kafka
cluster of the Connect workers themselves, so that cluster must be the flow's target.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from dr.config.schema import ClusterSettings, MirrorFlow
from dr.errors import ConfigError
from dr.mirror.properties import (
    DEFAULT_GROUPS_EXCLUDE,
    DEFAULT_TOPICS_EXCLUDE,
    IDENTITY_POLICY,
    cluster_pairs,
)

MIRROR_PACKAGE = "org.apache.kafka.connect.mirror"
SOURCE_CONNECTOR = "MirrorSourceConnector"
CHECKPOINT_CONNECTOR = "MirrorCheckpointConnector"
HEARTBEAT_CONNECTOR = "MirrorHeartbeatConnector"
BYTE_ARRAY_CONVERTER = "org.apache.kafka.connect.converters.ByteArrayConverter"
# MirrorMaker's own default group exclusions (DefaultGroupFilter), kept when the user adds some.


def connector_name(flow: MirrorFlow, connector: str) -> str:
    """The Connect name of a flow's connector: ``SOURCE->TARGET.MirrorSourceConnector``."""
    return f"{flow.name}.{connector}"


def render_connectors(
    clusters: Mapping[str, ClusterSettings],
    flow: MirrorFlow,
    *,
    overrides: Mapping[str, str] | None = None,
    secrets_file: Path | None = None,
) -> dict[str, dict[str, str]]:
    """The Connect configs of the flow's connectors, by connector name; every value a string.

        The source and checkpoint connectors are always rendered, the heartbeat connector when the
        flow asks for heartbeats. The flow's ``properties`` and then ``overrides`` are applied to
        every connector, last, so that they win. The configs hold the clusters' secrets, or with a
    secrets file (which the Connect workers read through their FileConfigProvider, named
    ``file``) references to them.

        Raises ConfigError when the flow names a cluster that is not declared.
    """
    common = _common(clusters, flow, secrets_file)
    filters = _topic_filter(flow)
    configs = {
        SOURCE_CONNECTOR: {**common, **filters, **_source(flow)},
        CHECKPOINT_CONNECTOR: {**common, **filters, **_checkpoint(flow)},
    }
    if flow.heartbeats:
        configs[HEARTBEAT_CONNECTOR] = {
            **common,
            "connector.class": f"{MIRROR_PACKAGE}.{HEARTBEAT_CONNECTOR}",
            "emit.heartbeats.enabled": "true",
        }
    return {
        connector_name(flow, connector): {**config, **flow.properties, **(overrides or {})}
        for connector, config in configs.items()
    }


def _common(
    clusters: Mapping[str, ClusterSettings], flow: MirrorFlow, secrets_file: Path | None
) -> dict[str, str]:
    missing = [alias for alias in (flow.source, flow.target) if alias not in clusters]
    if missing:
        raise ConfigError(f"mirror flow {flow.name}", [f"cluster '{missing[0]}' is not declared"])
    source, target = clusters[flow.source], clusters[flow.target]
    config = {
        "source.cluster.alias": flow.source,
        "target.cluster.alias": flow.target,
        "source.cluster.bootstrap.servers": source.bootstrap_servers,
        "target.cluster.bootstrap.servers": target.bootstrap_servers,
        # Bytes in, bytes out, as a dedicated MirrorMaker's workers do.
        "key.converter": BYTE_ARRAY_CONVERTER,
        "value.converter": BYTE_ARRAY_CONVERTER,
        "header.converter": BYTE_ARRAY_CONVERTER,
    }
    config |= dict(cluster_pairs(flow.source, "source.cluster.", source, secrets_file))
    config |= dict(cluster_pairs(flow.target, "target.cluster.", target, secrets_file))
    if flow.replication_policy == "identity":
        config["replication.policy.class"] = IDENTITY_POLICY
    return config


def _topic_filter(flow: MirrorFlow) -> dict[str, str]:
    # The checkpoint connector filters checkpoints with the same topic filter as the source.
    config = {"topics": ", ".join(flow.topics)}
    if flow.topics_exclude:
        config["topics.exclude"] = ", ".join((*DEFAULT_TOPICS_EXCLUDE, *flow.topics_exclude))
    return config


def _source(flow: MirrorFlow) -> dict[str, str]:
    config = {"connector.class": f"{MIRROR_PACKAGE}.{SOURCE_CONNECTOR}"}
    if flow.exactly_once:
        config["exactly.once.support"] = "required"
        # MirrorSourceConnector refuses 'required' unless its source consumer skips records of
        # aborted transactions.
        config["source.consumer.isolation.level"] = "read_committed"
    return config


def _checkpoint(flow: MirrorFlow) -> dict[str, str]:
    config = {
        "connector.class": f"{MIRROR_PACKAGE}.{CHECKPOINT_CONNECTOR}",
        "groups": ", ".join(flow.groups),
        "emit.checkpoints.enabled": "true",
        "emit.checkpoints.interval.seconds": str(flow.checkpoint_interval_s),
        "sync.group.offsets.enabled": str(flow.sync_group_offsets).lower(),
    }
    if flow.groups_exclude:
        config["groups.exclude"] = ", ".join((*DEFAULT_GROUPS_EXCLUDE, *flow.groups_exclude))
    return config
