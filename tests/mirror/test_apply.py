"""Applying rendered connector configs to Kafka Connect: create, update, or leave alone."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dr.config.schema import ClusterSettings, MirrorFlow
from dr.mirror.apply import ApplyPlan, apply, plan_apply
from dr.mirror.connectors import render_connectors

SOURCE = "primary->dr.MirrorSourceConnector"
CHECKPOINT = "primary->dr.MirrorCheckpointConnector"
HEARTBEAT = "primary->dr.MirrorHeartbeatConnector"


@dataclass
class InMemoryConnect:
    """Connector configs kept the way Connect keeps them: with the connector's name added."""

    configs: dict[str, dict[str, str]] = field(default_factory=dict)
    writes: list[str] = field(default_factory=list)

    def config(self, name: str) -> dict[str, str] | None:
        config = self.configs.get(name)
        return None if config is None else dict(config)

    def put_config(self, name: str, config: dict[str, str]) -> None:
        self.writes.append(name)
        self.configs[name] = {**config, "name": name}

    def delete(self, name: str) -> bool:
        return self.configs.pop(name, None) is not None


def clusters(password: str = "m1rr0r-pw") -> dict[str, ClusterSettings]:
    return {
        "primary": ClusterSettings(
            bootstrap_servers="kafka-1.prod:9092",
            client={
                "security.protocol": "SASL_SSL",
                "sasl.mechanism": "SCRAM-SHA-512",
                "sasl.username": "mirror",
                "sasl.password": password,
            },
        ),
        "dr": ClusterSettings(bootstrap_servers="kafka-1.dr:9092"),
    }


def desired(*, password: str = "m1rr0r-pw", **fields: Any) -> dict[str, dict[str, str]]:
    flow = MirrorFlow.model_validate({"source": "primary", "target": "dr", **fields})
    return render_connectors(clusters(password), flow)


def applied(connect: InMemoryConnect, configs: dict[str, dict[str, str]]) -> ApplyPlan:
    return apply(connect, plan_apply(connect, configs))


def test_the_first_apply_creates_the_three_connectors_of_the_flow() -> None:
    connect = InMemoryConnect()

    plan = applied(connect, desired())

    assert plan.changed
    assert sorted(plan.creates) == [CHECKPOINT, HEARTBEAT, SOURCE]
    assert plan.updates == ()
    assert sorted(connect.configs) == [CHECKPOINT, HEARTBEAT, SOURCE]
    assert connect.configs[SOURCE]["topics"] == ".*"


def test_a_second_apply_changes_nothing_and_says_so() -> None:
    connect = InMemoryConnect()
    applied(connect, desired())
    connect.writes.clear()

    plan = applied(connect, desired())

    assert not plan.changed
    assert plan.creates == ()
    assert plan.updates == ()
    assert sorted(plan.unchanged) == [CHECKPOINT, HEARTBEAT, SOURCE]
    assert connect.writes == []
    assert plan.describe().startswith("nothing to change")


def test_a_changed_topics_regex_is_an_update_of_that_key_only() -> None:
    connect = InMemoryConnect()
    applied(connect, desired(topics=["orders.*"]))
    connect.writes.clear()

    plan = applied(connect, desired(topics=[r"orders\..*"]))

    # The checkpoint connector filters by topic too, so both connectors change.
    assert sorted(u.name for u in plan.updates) == [CHECKPOINT, SOURCE]
    for update in plan.updates:
        assert update.keys == ("topics",)
        assert update.changes[0].old == "orders.*"
        assert update.changes[0].new == r"orders\..*"
    assert plan.unchanged == (HEARTBEAT,)
    assert sorted(connect.writes) == [CHECKPOINT, SOURCE]
    assert connect.configs[SOURCE]["topics"] == r"orders\..*"
    assert r"topics: 'orders.*' -> 'orders\..*'" in plan.describe()


def test_a_key_no_longer_rendered_is_shown_as_removed() -> None:
    connect = InMemoryConnect()
    applied(connect, desired(replication_policy="identity"))

    plan = plan_apply(connect, desired())

    assert len(plan.updates) == 3
    assert all(u.keys == ("replication.policy.class",) for u in plan.updates)
    assert all(u.changes[0].new is None for u in plan.updates)
    assert "- replication.policy.class" in plan.describe()


def test_a_changed_secret_is_shown_as_changed_without_its_values() -> None:
    connect = InMemoryConnect()
    applied(connect, desired(password="old-pa55word"))

    plan = plan_apply(connect, desired(password="new-pa55word"))

    assert {u.keys for u in plan.updates} == {("source.cluster.sasl.jaas.config",)}
    text = plan.describe()
    assert "source.cluster.sasl.jaas.config: (secret, value hidden)" in text
    for shown in (text, repr(plan)):
        assert "old-pa55word" not in shown
        assert "new-pa55word" not in shown


def test_applying_writes_the_new_secret_although_the_plan_hides_it() -> None:
    connect = InMemoryConnect()
    applied(connect, desired(password="old-pa55word"))

    applied(connect, desired(password="new-pa55word"))

    assert 'password="new-pa55word"' in connect.configs[SOURCE]["source.cluster.sasl.jaas.config"]


def test_a_connector_no_longer_wanted_is_deleted_and_then_the_plan_is_empty() -> None:
    connect = InMemoryConnect()
    applied(connect, desired())
    without_heartbeats = desired(heartbeats=False)
    heartbeat = "primary->dr.MirrorHeartbeatConnector"

    plan = plan_apply(connect, without_heartbeats, unwanted=tuple(connect.configs))
    assert plan.deletes == (heartbeat,) and plan.changed
    assert f"delete {heartbeat}" in plan.describe()
    apply(connect, plan)

    assert heartbeat not in connect.configs
    assert not plan_apply(connect, without_heartbeats, unwanted=tuple(connect.configs)).changed
