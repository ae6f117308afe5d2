"""The documented ``kafka-dr mirror status`` forms: JSON keys, state and reasons, traces."""

from __future__ import annotations

import pytest

from dr.cli.mirror import print_state, state_json
from dr.log import register_secrets
from dr.mirror.connect import ConnectorStatus, TaskStatus
from dr.mirror.deploy import MirrorState
from dr.mirror.health import assess_flow
from dr.mirror.heartbeats import HeartbeatCheck
from dr.mirror.process import ProcessCheck
from dr.mirror.status import FlowStatus

SECRET = "tr4ce-s3cret-pw"
SOURCE = "primary->dr.MirrorSourceConnector"
TRACE = "\n".join(
    [f"org.apache.kafka.connect.errors.ConnectException: login failed for {SECRET}"]
    + [f"\tat org.apache.kafka.Frame{i}.run(Frame{i}.java:{i})" for i in range(1, 10)]
    + ["Caused by: org.apache.kafka.common.config.ConfigException: No resolvable bootstrap urls"]
    + ["\tat org.apache.kafka.Frame10.run(Frame10.java:10)"]
)
DOCUMENTED_KEYS = {
    "healthy",
    "state",
    "reasons",
    "heartbeat",
    "heartbeat_age_seconds",
    "heartbeat_stale_after_seconds",
    "process",
    "restart_pending",
    "missing_connectors",
    "topics",
    "missing_topics",
    "drift",
    "groups",
    "connectors",
}


def flow(heartbeat: HeartbeatCheck) -> FlowStatus:
    return FlowStatus("primary->dr", 2, (), (), ("billing",), heartbeat)


def dedicated(process: ProcessCheck, heartbeat: HeartbeatCheck) -> MirrorState:
    topics = flow(heartbeat)
    health = assess_flow(topics, process=process)
    return MirrorState(topics, health, None, process=process)


def failed_connect() -> MirrorState:
    register_secrets([SECRET])
    topics = flow(HeartbeatCheck("primary", "dr", 1.0, 0.4))
    source = ConnectorStatus(
        SOURCE,
        "RUNNING",
        "w:8083",
        (TaskStatus(0, "RUNNING", "w:8083"), TaskStatus(1, "FAILED", "w:8083", TRACE)),
        "source",
    )
    found = {SOURCE: source, "primary->dr.MirrorCheckpointConnector": None}
    health = assess_flow(topics, connectors=found)
    return MirrorState(
        topics, health, (source,), missing_connectors=("primary->dr.MirrorCheckpointConnector",)
    )


def test_a_dead_dedicated_mirrormaker_is_down_with_its_reasons_in_json() -> None:
    state = dedicated(
        ProcessCheck(False, "mirror.status_command exited 3: inactive"),
        HeartbeatCheck("primary", "dr", 1.0, 31.2),
    )

    doc = state_json(state)

    assert doc.keys() == DOCUMENTED_KEYS
    assert (doc["healthy"], doc["state"]) == (False, "down")
    assert doc["reasons"] == [
        "MirrorMaker is not running: mirror.status_command exited 3: inactive",
        "no heartbeat from primary on dr for 31s (stale after 10s)",
    ]
    assert doc["heartbeat"] == "stale"
    assert (doc["heartbeat_age_seconds"], doc["heartbeat_stale_after_seconds"]) == (31.2, 10.0)
    assert doc["process"] == {
        "running": False,
        "detail": "mirror.status_command exited 3: inactive",
    }
    assert doc["connectors"] is None


def test_heartbeats_disabled_are_shown_as_unmeasured_with_no_age_threshold() -> None:
    doc = state_json(
        dedicated(ProcessCheck(True, "active"), HeartbeatCheck("primary", "dr", None, None))
    )

    assert doc["heartbeat"] == "unmeasured (heartbeats disabled)"
    assert doc["heartbeat_stale_after_seconds"] is None
    assert (doc["healthy"], doc["state"]) == (True, "running")


def test_connect_json_lists_missing_connectors_and_a_failed_tasks_first_trace_line() -> None:
    doc = state_json(failed_connect())

    assert doc["missing_connectors"] == ["primary->dr.MirrorCheckpointConnector"]
    assert doc["state"] == "failed"
    task = doc["connectors"][0]["tasks"][1]
    assert task["trace"] == "org.apache.kafka.connect.errors.ConnectException: login failed for ***"
    assert "full_trace" not in task
    assert SECRET not in str(doc)


def test_verbose_json_adds_the_full_trace_redacted() -> None:
    doc = state_json(failed_connect(), verbose=True)

    task = doc["connectors"][0]["tasks"][1]
    assert task["full_trace"] == TRACE.replace(SECRET, "***")
    assert doc["connectors"][0]["full_trace"] is None


def test_verbose_text_shows_the_first_five_lines_of_a_failed_tasks_trace_and_its_causes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    print_state(failed_connect(), verbose=True)

    out = capsys.readouterr().out
    assert "Frame4.run" in out
    assert "Frame5.run" not in out
    assert "Caused by: org.apache.kafka.common.config.ConfigException: No resolvable" in out
    assert "6 more lines" in out
    assert SECRET not in out


def test_text_without_verbose_shows_only_the_first_trace_line_and_the_reasons(
    capsys: pytest.CaptureFixture[str],
) -> None:
    print_state(failed_connect())

    out = capsys.readouterr().out
    assert "flow primary->dr: ATTENTION (failed)" in out
    assert "Frame1" not in out
    assert "! connector primary->dr.MirrorCheckpointConnector is not deployed" in out
    assert f"! task 1 of {SOURCE} FAILED: " in out
