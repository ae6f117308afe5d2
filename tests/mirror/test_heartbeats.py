"""Heartbeat freshness: the interval MirrorMaker will use for a flow, and when its newest
heartbeat is stale."""

from __future__ import annotations

from typing import Any

import pytest

from dr.config.schema import MirrorFlow, MirrorSettings
from dr.mirror.heartbeats import HeartbeatCheck, heartbeat_interval_s


def flow(**fields: Any) -> MirrorFlow:
    return MirrorFlow(source="primary", target="dr", **fields)


def dedicated(**properties: str) -> MirrorSettings:
    return MirrorSettings(deploy="dedicated", properties=properties, flows=[flow()])


def connect() -> MirrorSettings:
    return MirrorSettings(deploy="connect", connect_url="http://c:8083", flows=[flow()])


def test_the_interval_is_mirrormakers_default_of_one_second() -> None:
    assert heartbeat_interval_s(dedicated(), flow()) == 1.0
    assert heartbeat_interval_s(connect(), flow()) == 1.0


def test_the_flows_own_interval_wins_over_the_mirrors() -> None:
    mirror = dedicated(**{"emit.heartbeats.interval.seconds": "7"})

    assert heartbeat_interval_s(mirror, flow()) == 7.0
    assert (
        heartbeat_interval_s(mirror, flow(properties={"emit.heartbeats.interval.seconds": "3"}))
        == 3.0
    )


def test_a_flow_prefixed_mirror_property_wins_as_it_comes_last_in_mm2_properties() -> None:
    mirror = dedicated(**{"primary->dr.emit.heartbeats.interval.seconds": "20"})

    assert (
        heartbeat_interval_s(mirror, flow(properties={"emit.heartbeats.interval.seconds": "3"}))
        == 20.0
    )


def test_a_connector_reads_only_the_flows_properties() -> None:
    assert (
        heartbeat_interval_s(connect(), flow(properties={"emit.heartbeats.interval.seconds": "4"}))
        == 4.0
    )


@pytest.mark.parametrize(
    ("mirror", "the_flow"),
    [
        (dedicated(), flow(heartbeats=False)),
        (dedicated(), flow(properties={"emit.heartbeats.enabled": "false"})),
        (dedicated(**{"primary->dr.emit.heartbeats.enabled": "false"}), flow()),
        (dedicated(), flow(properties={"emit.heartbeats.interval.seconds": "-1"})),
        (connect(), flow(heartbeats=False)),
    ],
)
def test_heartbeats_turned_off_in_any_way_mirrormaker_knows_have_no_interval(
    mirror: MirrorSettings, the_flow: MirrorFlow
) -> None:
    assert heartbeat_interval_s(mirror, the_flow) is None


def test_a_heartbeat_is_stale_after_five_intervals_and_never_before_ten_seconds() -> None:
    assert HeartbeatCheck("primary", "dr", 1.0, 9.9).stale_after_s == 10.0
    assert HeartbeatCheck("primary", "dr", 30.0, 9.9).stale_after_s == 150.0
    assert HeartbeatCheck("primary", "dr", 1.0, 9.9).verdict == "fresh"
    assert HeartbeatCheck("primary", "dr", 1.0, 10.1).verdict == "stale"


def test_a_stale_heartbeat_is_a_problem_naming_the_flow_its_age_and_the_threshold() -> None:
    check = HeartbeatCheck("primary", "dr", 1.0, 42.4)

    assert check.problem == "no heartbeat from primary on dr for 42s (stale after 10s)"


def test_no_heartbeat_at_all_is_a_problem_when_heartbeats_are_on() -> None:
    check = HeartbeatCheck("primary", "dr", 1.0, None)

    assert check.verdict == "missing"
    assert check.problem == "no heartbeat from primary on dr"


def test_with_heartbeats_off_freshness_is_unmeasured_and_no_problem() -> None:
    check = HeartbeatCheck("primary", "dr", None, 500.0)

    assert check.verdict == "unmeasured (heartbeats disabled)"
    assert check.stale_after_s is None
    assert check.problem is None
