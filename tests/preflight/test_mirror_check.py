"""The MirrorMaker check: a dedicated process asked with its status command, or the
connectors of a Kafka Connect cluster (a small fake of its REST API)."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dr.config.load import parse_config
from dr.config.schema import Settings
from dr.mirror.connect import ConnectError, ConnectorStatus, TaskStatus
from dr.preflight.mirror import connect_check, mirror_task

CLUSTERS = {"prod": {"bootstrap_servers": "prod:9092"}, "dr": {"bootstrap_servers": "dr:9092"}}
FLOW = {"source": "prod", "target": "dr"}
CONNECTORS = [
    "prod->dr.MirrorSourceConnector",
    "prod->dr.MirrorCheckpointConnector",
    "prod->dr.MirrorHeartbeatConnector",
]


def settings(tmp_path: Path, **mirror: Any) -> Settings:
    doc = {"clusters": CLUSTERS, "mirror": {"flows": [FLOW], **mirror}}
    return parse_config(json.dumps(doc), source="kafka-dr.yaml", base_dir=tmp_path)


def exits(code: int, line: str) -> list[str]:
    return [sys.executable, "-c", f"print({line!r}); raise SystemExit({code})"]


def test_no_mirror_section_means_no_mirror_check(tmp_path: Path) -> None:
    doc = {"clusters": CLUSTERS}
    plain = parse_config(json.dumps(doc), source="kafka-dr.yaml", base_dir=tmp_path)

    assert mirror_task(plain) is None


def test_a_dedicated_mirrormaker_its_status_command_says_runs_passes(tmp_path: Path) -> None:
    task = mirror_task(settings(tmp_path, status_command=exits(0, "active")))
    assert task is not None

    (check,) = task.run().checks

    assert (check.name, check.status) == ("MirrorMaker", "ok")
    assert check.detail == "running (active)"


def test_a_dedicated_mirrormaker_that_is_down_fails_with_the_commands_words(
    tmp_path: Path,
) -> None:
    task = mirror_task(settings(tmp_path, status_command=exits(3, "inactive")))
    assert task is not None

    (check,) = task.run().checks

    assert check.status == "fail"
    assert check.detail == "not running: mirror.status_command exited 3: inactive"
    assert check.hint and "kafka-dr mirror restart" in check.hint


def test_a_dedicated_mirrormaker_nothing_can_ask_about_is_a_warning(tmp_path: Path) -> None:
    task = mirror_task(settings(tmp_path))
    assert task is not None

    (check,) = task.run().checks

    assert check.status == "warn"
    assert check.hint and "mirror.status_command" in check.hint


def test_a_restart_left_pending_by_a_failed_apply_is_a_warning(tmp_path: Path) -> None:
    properties = tmp_path / "mm2.properties"
    properties.write_text("clusters = prod, dr\n")
    (tmp_path / "mm2.properties.restart-pending").touch()
    task = mirror_task(
        settings(tmp_path, status_command=exits(0, "active"), properties_file=str(properties))
    )
    assert task is not None

    (check,) = task.run().checks

    assert check.status == "warn"
    assert "older config" in check.detail


@dataclass
class FakeConnect:
    """A Connect cluster's answers: its connectors and their states."""

    states: dict[str, str] = field(default_factory=dict)
    failed_task: str | None = None
    down: bool = False

    def connectors(self) -> list[str]:
        if self.down:
            raise ConnectError("Kafka Connect at http://connect:8083 did not answer: refused")
        return sorted(self.states)

    def status(self, name: str) -> ConnectorStatus:
        tasks = (TaskStatus(0, "FAILED", "w1", "java.lang.Boom: at X\n\tat Y"),)
        return ConnectorStatus(
            name=name,
            state=self.states[name],
            worker_id="w1",
            tasks=tasks if name == self.failed_task else (),
            type="source",
        )


def connect_settings(tmp_path: Path) -> Settings:
    return settings(tmp_path, deploy="connect", connect_url="http://connect:8083")


def test_every_connector_running_on_connect_passes(tmp_path: Path) -> None:
    fake = FakeConnect({n: "RUNNING" for n in CONNECTORS})

    check = connect_check(connect_settings(tmp_path), subject="mirror", client=fake)

    assert check.status == "ok"
    assert check.detail == "all 3 connectors of 1 flows running"


def test_a_missing_connector_fails_and_names_it(tmp_path: Path) -> None:
    fake = FakeConnect({n: "RUNNING" for n in CONNECTORS[:2]})

    check = connect_check(connect_settings(tmp_path), subject="mirror", client=fake)

    assert check.status == "fail"
    assert check.detail == f"1 of 3 connectors missing: {CONNECTORS[2]}"
    assert check.hint == "kafka-dr mirror apply creates them"


def test_a_failed_task_fails_with_the_first_line_of_its_trace(tmp_path: Path) -> None:
    fake = FakeConnect({n: "RUNNING" for n in CONNECTORS}, failed_task=CONNECTORS[0])

    check = connect_check(connect_settings(tmp_path), subject="mirror", client=fake)

    assert check.status == "fail"
    assert check.detail == f"tasks 0 of {CONNECTORS[0]} FAILED: java.lang.Boom: at X"


def test_a_paused_connector_is_a_warning(tmp_path: Path) -> None:
    fake = FakeConnect({**{n: "RUNNING" for n in CONNECTORS}, CONNECTORS[1]: "PAUSED"})

    check = connect_check(connect_settings(tmp_path), subject="mirror", client=fake)

    assert check.status == "warn"
    assert check.detail == f"{CONNECTORS[1]} is PAUSED"


def test_connect_not_answering_fails_with_its_url(tmp_path: Path) -> None:
    check = connect_check(
        connect_settings(tmp_path), subject="mirror", client=FakeConnect(down=True)
    )

    assert check.status == "fail"
    assert "http://connect:8083" in check.detail
