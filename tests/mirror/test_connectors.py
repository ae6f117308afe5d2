"""The Kafka Connect configs of a flow's Mirror connectors, rendered from the kafka-dr config."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from dr.config.schema import ClusterSettings, MirrorFlow
from dr.errors import ConfigError
from dr.mirror.connectors import render_connectors

MM2_DEFAULT_TOPICS_EXCLUDE = [r".*[\-\.]internal", r".*\.replica", r"__.*"]
MM2_DEFAULT_GROUPS_EXCLUDE = ["console-consumer-.*", "connect-.*", "__.*"]
BYTES = "org.apache.kafka.connect.converters.ByteArrayConverter"
SOURCE = "primary->dr.MirrorSourceConnector"
CHECKPOINT = "primary->dr.MirrorCheckpointConnector"
HEARTBEAT = "primary->dr.MirrorHeartbeatConnector"

CLUSTERS = {
    "primary": ClusterSettings(
        bootstrap_servers="kafka-1.prod:9092,kafka-2.prod:9092",
        client={
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": "mirror",
            "sasl.password": "m1rr0r-pw",
            "ssl.ca.location": "/etc/kafka/ca.pem",
        },
    ),
    "dr": ClusterSettings(bootstrap_servers="kafka-1.dr:9092"),
}


def flow(**fields: Any) -> MirrorFlow:
    return MirrorFlow.model_validate({"source": "primary", "target": "dr", **fields})


def render(**fields: Any) -> dict[str, dict[str, str]]:
    return render_connectors(CLUSTERS, flow(**fields))


def test_a_flow_runs_a_source_a_checkpoint_and_a_heartbeat_connector_named_after_it() -> None:
    configs = render()

    assert sorted(configs) == [CHECKPOINT, HEARTBEAT, SOURCE]
    assert configs[SOURCE]["connector.class"] == (
        "org.apache.kafka.connect.mirror.MirrorSourceConnector"
    )
    assert configs[CHECKPOINT]["connector.class"] == (
        "org.apache.kafka.connect.mirror.MirrorCheckpointConnector"
    )
    assert configs[HEARTBEAT]["connector.class"] == (
        "org.apache.kafka.connect.mirror.MirrorHeartbeatConnector"
    )


def test_every_connector_knows_both_clusters_and_copies_bytes_unchanged() -> None:
    for config in render().values():
        assert config["source.cluster.alias"] == "primary"
        assert config["target.cluster.alias"] == "dr"
        assert config["source.cluster.bootstrap.servers"] == "kafka-1.prod:9092,kafka-2.prod:9092"
        assert config["target.cluster.bootstrap.servers"] == "kafka-1.dr:9092"
        assert config["key.converter"] == BYTES
        assert config["value.converter"] == BYTES
        assert config["header.converter"] == BYTES


def test_every_value_is_a_string() -> None:
    configs = render(checkpoint_interval_s=30, properties={"tasks.max": 4, "x": True})

    for config in configs.values():
        assert all(isinstance(v, str) for v in config.values()), config


def test_the_source_connector_gets_the_topics_and_the_checkpoint_connector_the_groups() -> None:
    configs = render(topics=["orders.*", "payments"], groups=["billing-.*"])

    assert configs[SOURCE]["topics"] == "orders.*, payments"
    assert "groups" not in configs[SOURCE]
    assert configs[CHECKPOINT]["groups"] == "billing-.*"
    # Checkpoints are filtered by topic too, with the same filter as the data.
    assert configs[CHECKPOINT]["topics"] == "orders.*, payments"


def test_the_checkpoint_connector_gets_its_interval_and_offset_sync_setting() -> None:
    config = render(checkpoint_interval_s=15, sync_group_offsets=True)[CHECKPOINT]

    assert config["emit.checkpoints.enabled"] == "true"
    assert config["emit.checkpoints.interval.seconds"] == "15"
    assert config["sync.group.offsets.enabled"] == "true"


def test_a_fractional_checkpoint_interval_is_refused_as_mirrormaker_takes_whole_seconds() -> None:
    with pytest.raises(ValidationError, match="checkpoint_interval_s"):
        render(checkpoint_interval_s=2.5)


def test_security_properties_are_prefixed_by_the_side_of_the_cluster_that_needs_them() -> None:
    config = render()[SOURCE]

    assert config["source.cluster.security.protocol"] == "SASL_SSL"
    assert config["source.cluster.sasl.mechanism"] == "SCRAM-SHA-512"
    assert config["source.cluster.sasl.jaas.config"] == (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        'username="mirror" password="m1rr0r-pw";'
    )
    assert config["source.cluster.ssl.truststore.location"] == "/etc/kafka/ca.pem"
    assert not any(k.startswith("target.cluster.s") for k in config)
    assert not any(k.startswith(("security.", "sasl.", "ssl.")) for k in config)


def test_the_identity_policy_is_set_on_every_connector_of_the_flow() -> None:
    policy = "org.apache.kafka.connect.mirror.IdentityReplicationPolicy"

    for config in render(replication_policy="identity").values():
        assert config["replication.policy.class"] == policy
    for config in render().values():
        assert "replication.policy.class" not in config


def test_exactly_once_is_required_of_the_source_connector_with_a_read_committed_consumer() -> None:
    configs = render(exactly_once=True)

    assert configs[SOURCE]["exactly.once.support"] == "required"
    assert configs[SOURCE]["source.consumer.isolation.level"] == "read_committed"
    assert "exactly.once.support" not in configs[CHECKPOINT]
    assert "exactly.once.support" not in render()[SOURCE]


def test_without_heartbeats_there_is_no_heartbeat_connector() -> None:
    assert sorted(render(heartbeats=False)) == [CHECKPOINT, SOURCE]


def test_without_user_exclusions_mirrormaker_keeps_its_own_defaults() -> None:
    configs = render()

    assert "topics.exclude" not in configs[SOURCE]
    assert "groups.exclude" not in configs[CHECKPOINT]


def test_user_exclusions_are_added_to_mirrormakers_defaults() -> None:
    configs = render(topics_exclude=["scratch-.*"], groups_exclude=["tmp-.*"])

    assert configs[SOURCE]["topics.exclude"].split(", ") == [
        *MM2_DEFAULT_TOPICS_EXCLUDE,
        "scratch-.*",
    ]
    assert configs[CHECKPOINT]["groups.exclude"].split(", ") == [
        *MM2_DEFAULT_GROUPS_EXCLUDE,
        "tmp-.*",
    ]


def test_flow_properties_and_then_overrides_win_over_rendered_keys() -> None:
    configs = render_connectors(
        CLUSTERS,
        flow(properties={"tasks.max": 4, "topics": "from-properties"}),
        overrides={"topics": "from-overrides"},
    )

    for config in configs.values():
        assert config["tasks.max"] == "4"
        assert config["topics"] == "from-overrides"


def test_a_flow_naming_an_undeclared_cluster_is_refused() -> None:
    with pytest.raises(ConfigError, match="cluster 'analytics' is not declared"):
        render_connectors(CLUSTERS, flow(target="analytics"))
