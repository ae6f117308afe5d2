"""The mm2.properties that a dedicated MirrorMaker 2 runs, rendered from the kafka-dr config."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from dr.config.schema import ClusterSettings, MirrorFlow, MirrorSettings
from dr.mirror.properties import IDENTITY_POLICY, mirror_clusters, render_dedicated, secrets_text

MM2_DEFAULT_TOPICS_EXCLUDE = [r".*[\-\.]internal", r".*\.replica", r"__.*"]

CLUSTERS = {
    "primary": ClusterSettings(
        bootstrap_servers="kafka-1.prod:9092,kafka-2.prod:9092",
        client={
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": "mirror",
            "sasl.password": "m1rr0r-pw",
        },
    ),
    "dr": ClusterSettings(bootstrap_servers="kafka-1.dr:9092"),
    "analytics": ClusterSettings(bootstrap_servers="kafka-1.analytics:9092"),
}


def flow(**fields: Any) -> MirrorFlow:
    return MirrorFlow.model_validate({"source": "primary", "target": "dr", **fields})


def render(flows: Sequence[MirrorFlow], overrides: Mapping[str, str] | None = None) -> str:
    return render_dedicated(CLUSTERS, flows, overrides=overrides)


def entries(text: str) -> list[tuple[str, str]]:
    """The key = value lines, in order, as written (comments and blanks skipped)."""
    out = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not a key = value line: {line!r}"
        out.append((key.strip(), value.strip()))
    return out


def properties(text: str) -> dict[str, str]:
    items = entries(text)
    keys = [k for k, _ in items]
    assert len(keys) == len(set(keys)), f"a key is written twice: {keys}"
    return dict(items)


def java_load(value: str) -> str:
    """A value as java.util.Properties.load reads it: a backslash escapes the next character."""
    out, chars = [], iter(value)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, "")
            out.append({"t": "\t", "n": "\n", "r": "\r", "f": "\f"}.get(nxt, nxt))
        else:
            out.append(ch)
    return "".join(out)


def test_only_the_clusters_of_the_flows_are_declared_with_their_bootstrap_servers() -> None:
    props = properties(render([flow()]))

    assert props["clusters"] == "dr, primary"
    assert props["primary.bootstrap.servers"] == "kafka-1.prod:9092,kafka-2.prod:9092"
    assert props["dr.bootstrap.servers"] == "kafka-1.dr:9092"
    assert not any(key.startswith("analytics") for key in props)


def test_the_flow_is_enabled_with_its_topics_groups_and_checkpoint_interval() -> None:
    props = properties(
        render(
            [
                flow(
                    topics=["orders.*", "payments"],
                    groups=["billing-.*"],
                    checkpoint_interval_s=5,
                    sync_group_offsets=True,
                )
            ]
        )
    )

    assert props["primary->dr.enabled"] == "true"
    assert props["primary->dr.topics"] == "orders.*, payments"
    assert props["primary->dr.groups"] == "billing-.*"
    assert props["primary->dr.emit.checkpoints.enabled"] == "true"
    assert props["primary->dr.emit.checkpoints.interval.seconds"] == "5"
    assert props["primary->dr.sync.group.offsets.enabled"] == "true"
    assert props["primary->dr.emit.heartbeats.enabled"] == "true"


def test_a_fractional_checkpoint_interval_is_refused_by_the_config() -> None:
    # MirrorMaker reads emit.checkpoints.interval.seconds as a whole number.
    with pytest.raises(ValidationError, match="checkpoint_interval_s"):
        flow(checkpoint_interval_s=2.5)


def test_the_reverse_pair_is_disabled_heartbeats_included() -> None:
    props = properties(render([flow()]))

    assert props["dr->primary.enabled"] == "false"
    assert props["dr->primary.emit.heartbeats.enabled"] == "false"


def test_two_opposite_flows_leave_no_pair_disabled() -> None:
    props = properties(render([flow(), flow(source="dr", target="primary")]))

    for pair in ("primary->dr", "dr->primary"):
        assert props[f"{pair}.enabled"] == "true"
        assert props[f"{pair}.emit.heartbeats.enabled"] == "true"


def test_the_identity_policy_is_set_only_on_the_flow_that_asks_for_it() -> None:
    props = properties(
        render([flow(replication_policy="identity"), flow(source="dr", target="primary")])
    )

    assert props["primary->dr.replication.policy.class"] == IDENTITY_POLICY
    assert "dr->primary.replication.policy.class" not in props


def test_without_user_exclusions_mirrormaker_keeps_its_own_defaults() -> None:
    props = properties(render([flow()]))

    assert "primary->dr.topics.exclude" not in props
    assert "primary->dr.groups.exclude" not in props


def test_user_topic_exclusions_are_added_to_mirrormakers_defaults() -> None:
    props = properties(render([flow(topics_exclude=["scratch-.*"], groups_exclude=["tmp-.*"])]))

    assert java_load(props["primary->dr.topics.exclude"]).split(", ") == [
        *MM2_DEFAULT_TOPICS_EXCLUDE,
        "scratch-.*",
    ]
    assert java_load(props["primary->dr.groups.exclude"]).split(", ") == [
        "console-consumer-.*",
        "connect-.*",
        "__.*",
        "tmp-.*",
    ]


def test_flow_properties_are_written_under_the_flow_prefix() -> None:
    props = properties(render([flow(properties={"replication.factor": 3, "offset-syncs": True})]))

    assert props["primary->dr.replication.factor"] == "3"
    assert props["primary->dr.offset-syncs"] == "true"


def test_overrides_come_last_so_that_they_win() -> None:
    items = entries(render([flow()], overrides={"primary->dr.enabled": "false", "tasks.max": "4"}))

    assert items[-2:] == [("primary->dr.enabled", "false"), ("tasks.max", "4")]
    earlier = [k for k, _ in items[:-2]]
    assert "primary->dr.enabled" in earlier


def test_a_sasl_clusters_security_properties_are_prefixed_by_its_alias() -> None:
    props = properties(render([flow()]))

    assert props["primary.security.protocol"] == "SASL_SSL"
    assert props["primary.sasl.mechanism"] == "SCRAM-SHA-512"
    assert props["primary.sasl.jaas.config"] == (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        'username="mirror" password="m1rr0r-pw";'
    )
    assert not any(key.startswith("dr.s") for key in props)


def test_mirrormaker_reads_the_topic_regexes_as_written_in_the_config() -> None:
    props = properties(render([flow(topics=[r"logs-\d+", r"orders\.v1"], topics_exclude=["x"])]))

    assert java_load(props["primary->dr.topics"]) == r"logs-\d+, orders\.v1"
    assert java_load(props["primary->dr.topics.exclude"]).split(", ")[:3] == (
        MM2_DEFAULT_TOPICS_EXCLUDE
    )


def test_mirrormaker_connects_with_its_own_principal_from_mirror_clients() -> None:
    mirror = MirrorSettings.model_validate(
        {
            "flows": [{"source": "primary", "target": "dr"}],
            "clients": {"primary": {"sasl.username": "mm2", "sasl.password": "mm2-pw-xyz"}},
        }
    )

    clusters = mirror_clusters(CLUSTERS, mirror)
    props = dict(entries(render_dedicated(clusters, mirror.flows)))

    jaas = props["primary.sasl.jaas.config"]
    assert 'username="mm2"' in jaas and 'password="mm2-pw-xyz"' in jaas
    assert props["primary.security.protocol"] == "SASL_SSL"  # the cluster's own, kept
    assert CLUSTERS["primary"].client_properties()["sasl.username"] == "mirror"  # unchanged


def test_with_a_secrets_file_secrets_are_references_and_the_file_holds_them(
    tmp_path: Path,
) -> None:
    secrets = tmp_path / "mm2.secrets"
    props = dict(entries(render_dedicated(CLUSTERS, [flow()], secrets_file=secrets)))
    text = secrets_text(CLUSTERS, ["primary", "dr"])

    assert props["config.providers"] == "file"
    assert props["primary.sasl.jaas.config"] == f"${{file:{secrets}:primary.sasl.jaas.config}}"
    assert "m1rr0r-pw" not in render_dedicated(CLUSTERS, [flow()], secrets_file=secrets)
    assert text is not None and "primary.sasl.jaas.config = " in text and "m1rr0r-pw" in text
    assert secrets_text(CLUSTERS, ["dr"]) is None  # no secret: no file, no provider
    assert "config.providers" not in dict(
        entries(
            render_dedicated(
                CLUSTERS, [flow(source="dr", target="analytics")], secrets_file=secrets
            )
        )
    )
