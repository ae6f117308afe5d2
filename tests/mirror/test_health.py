"""A flow's state and reasons, from the process, heartbeat, connector and topic checks."""

from __future__ import annotations

from dr.mirror.connect import ConnectorStatus, TaskStatus
from dr.mirror.health import assess_flow
from dr.mirror.heartbeats import HeartbeatCheck
from dr.mirror.process import ProcessCheck
from dr.mirror.status import Drift, FlowStatus

FRESH = HeartbeatCheck("primary", "dr", 1.0, 0.5)
STALE = HeartbeatCheck("primary", "dr", 1.0, 25.0)
OFF = HeartbeatCheck("primary", "dr", None, None)
RUNNING = ProcessCheck(True, "active")
DEAD = ProcessCheck(False, "mirror.status_command exited 3: inactive")
UNMEASURED = ProcessCheck(None, "unmeasured (no mirror.status_command or mirror.pid_file)")
SOURCE, CHECKPOINT = "primary->dr.MirrorSourceConnector", "primary->dr.MirrorCheckpointConnector"


def topics(
    *,
    missing: tuple[str, ...] = (),
    drift: tuple[Drift, ...] = (),
    heartbeat: HeartbeatCheck = FRESH,
) -> FlowStatus:
    return FlowStatus("primary->dr", 3, missing, drift, ("billing",), heartbeat)


def connector(name: str, state: str = "RUNNING", *tasks: TaskStatus) -> ConnectorStatus:
    return ConnectorStatus(name, state, "w:8083", tasks or (task(0),), "source")


def task(id: int, state: str = "RUNNING", trace: str | None = None) -> TaskStatus:
    return TaskStatus(id, state, "w:8083", trace)


def test_a_running_process_with_fresh_heartbeats_is_running_and_healthy() -> None:
    health = assess_flow(topics(), process=RUNNING)

    assert (health.state, health.healthy, health.reasons) == ("running", True, ())


def test_a_dead_process_is_down_whatever_the_heartbeat_says() -> None:
    health = assess_flow(topics(), process=DEAD)

    assert health.state == "down"
    assert health.reasons == (
        "MirrorMaker is not running: mirror.status_command exited 3: inactive",
    )


def test_a_stale_heartbeat_stalls_a_flow_whose_process_is_not_watched() -> None:
    health = assess_flow(topics(heartbeat=STALE), process=UNMEASURED)

    assert health.state == "stalled"
    assert health.reasons == ("no heartbeat from primary on dr for 25s (stale after 10s)",)


def test_a_dead_process_and_a_stale_heartbeat_give_both_reasons_and_the_worse_state() -> None:
    health = assess_flow(topics(heartbeat=STALE), process=DEAD)

    assert health.state == "down"
    assert len(health.reasons) == 2


def test_without_heartbeats_or_a_process_check_nothing_can_tell_and_the_flow_is_unknown() -> None:
    health = assess_flow(topics(heartbeat=OFF), process=UNMEASURED)

    assert health.state == "unknown"
    assert "heartbeats are disabled" in health.reasons[0]


def test_without_heartbeats_a_running_process_is_enough() -> None:
    assert assess_flow(topics(heartbeat=OFF), process=RUNNING).healthy


def test_a_status_command_that_fails_leaves_the_flow_unhealthy_and_says_why() -> None:
    broken = ProcessCheck(None, "x", "mirror.status_command could not run: No such file")

    health = assess_flow(topics(), process=broken)

    assert health.state == "unknown"
    assert health.reasons == (
        "cannot tell whether MirrorMaker runs: mirror.status_command could not run: No such file",
    )


def test_a_pending_restart_degrades_a_running_flow() -> None:
    health = assess_flow(topics(), process=RUNNING, restart_pending=True)

    assert health.state == "degraded"
    assert health.reasons[0].startswith(
        "restart pending: config on disk differs from the running one"
    )


def test_missing_topics_and_drift_make_a_running_flow_unhealthy_without_changing_its_state() -> (
    None
):
    drift = Drift("orders", "primary.orders", "partitions", "6", "4")

    health = assess_flow(topics(missing=("payments",), drift=(drift,)), process=RUNNING)

    assert (health.state, health.healthy) == ("running", False)
    assert len(health.reasons) == 2


def test_connect_mode_without_any_connector_deployed_is_down() -> None:
    health = assess_flow(topics(), connectors={SOURCE: None, CHECKPOINT: None})

    assert health.state == "down"
    assert health.reasons == (
        f"connector {SOURCE} is not deployed (run 'kafka-dr mirror apply')",
        f"connector {CHECKPOINT} is not deployed (run 'kafka-dr mirror apply')",
    )


def test_connect_mode_with_one_connector_missing_is_degraded() -> None:
    health = assess_flow(topics(), connectors={SOURCE: connector(SOURCE), CHECKPOINT: None})

    assert health.state == "degraded"
    assert health.reasons == (
        f"connector {CHECKPOINT} is not deployed (run 'kafka-dr mirror apply')",
    )


def test_a_paused_or_stopped_connector_makes_the_flow_paused_not_healthy() -> None:
    for state in ("PAUSED", "STOPPED"):
        found = {
            SOURCE: connector(SOURCE, state, task(0, "PAUSED")),
            CHECKPOINT: connector(CHECKPOINT),
        }

        health = assess_flow(topics(), connectors=found)

        assert health.state == "paused"
        assert health.reasons == (f"connector {SOURCE} is {state}",)


def test_a_failed_task_fails_the_flow_with_the_first_line_of_its_trace() -> None:
    trace = "org.apache.kafka.common.KafkaException: boom\n\tat Foo.bar(Foo.java:1)"
    found = {
        SOURCE: connector(SOURCE, "RUNNING", task(0), task(1, "FAILED", trace)),
        CHECKPOINT: connector(CHECKPOINT, "PAUSED"),
    }

    health = assess_flow(topics(heartbeat=STALE), connectors=found)

    assert health.state == "failed"
    assert (
        f"task 1 of {SOURCE} FAILED: org.apache.kafka.common.KafkaException: boom" in health.reasons
    )


def test_an_unassigned_task_degrades_the_flow() -> None:
    found = {SOURCE: connector(SOURCE, "RUNNING", task(0, "UNASSIGNED"))}

    health = assess_flow(topics(), connectors=found)

    assert health.state == "degraded"
    assert health.reasons == (f"task 0 of {SOURCE} is UNASSIGNED",)
