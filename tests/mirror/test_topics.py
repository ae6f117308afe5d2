"""Which source topics a flow replicates."""

from __future__ import annotations

from dr.config.schema import MirrorFlow
from dr.mirror.topics import flow_topics

SOURCE = [
    "orders",
    "payments",
    "dr.orders",
    "primary.audit",
    "heartbeats",
    "__consumer_offsets",
    "mm2-offset-syncs.dr.internal",
    "orders.replica",
    "scratch-1",
]


def test_a_flow_takes_what_its_patterns_match_in_full() -> None:
    flow = MirrorFlow(source="primary", target="dr", topics=["orders|payments"])

    assert flow_topics(SOURCE, flow) == ["orders", "payments"]


def test_mirrormaker_exclusions_and_the_users_apply() -> None:
    flow = MirrorFlow(source="primary", target="dr", topics_exclude=["scratch-.*"])

    assert flow_topics(SOURCE, flow) == ["orders", "payments", "primary.audit"]


def test_a_topic_that_came_from_the_target_is_never_sent_back() -> None:
    flow = MirrorFlow(source="primary", target="dr")

    assert "dr.orders" not in flow_topics(SOURCE, flow)


def test_identity_names_say_nothing_of_their_origin() -> None:
    flow = MirrorFlow(source="primary", target="dr", replication_policy="identity")

    assert "dr.orders" in flow_topics(SOURCE, flow)
