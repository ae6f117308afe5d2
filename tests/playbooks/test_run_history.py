"""What the recorded runs say: the flows a failover or cutover stopped, and whether a run was
undone already (a second rollback would copy the same records twice)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dr.config.load import parse_config
from dr.config.schema import Settings
from dr.playbooks.history import failed_over, undone_by
from dr.state import StateStore


def settings(tmp_path: Path) -> Settings:
    doc: dict[str, Any] = {
        "clusters": {
            "blue": {"bootstrap_servers": "kafka-1.blue:9092"},
            "green": {"bootstrap_servers": "kafka-1.green:9092"},
        },
        "mirror": {"flows": [{"source": "blue", "target": "green"}]},
        "state": str(tmp_path / "state.db"),
    }
    return parse_config(json.dumps(doc), source="kafka-dr.yaml", base_dir=tmp_path)


def record(
    config: Settings, run_id: str, playbook: str, pair: str, status: str, steps: list[str],
    **params: Any,
) -> None:  # fmt: skip
    assert config.state is not None
    state = StateStore(config.state)
    now = datetime.now(UTC)
    state.create_playbook_run(run_id, playbook=playbook, pair=pair, params=params,
                              started_at=now, incident_start=now)  # fmt: skip
    for step in steps:
        state.append_playbook_event(run_id, step, "step_started")
    state.set_playbook_status(run_id, status)  # type: ignore[arg-type]


def test_a_cutover_stops_its_flow_until_a_rollback_completes(tmp_path: Path) -> None:
    config = settings(tmp_path)
    record(config, "cutover-1", "cutover", "blue->green", "completed", ["preflight"])
    assert failed_over(config) == {"blue->green": "cutover-1"}
    record(config, "rollback-1", "rollback", "green->blue", "failed", ["assess"],
           cutover_run="cutover-1")  # fmt: skip
    assert failed_over(config) == {"blue->green": "cutover-1"}  # not brought back yet
    record(config, "rollback-2", "rollback", "green->blue", "completed", ["assess"],
           cutover_run="cutover-1")  # fmt: skip
    assert failed_over(config) == {}


def test_a_way_back_that_reached_its_copy_blocks_another_one(tmp_path: Path) -> None:
    config = settings(tmp_path)
    record(config, "cutover-1", "cutover", "blue->green", "completed", ["preflight"])
    record(config, "rollback-1", "rollback", "green->blue", "failed", ["assess"],
           cutover_run="cutover-1")  # fmt: skip
    assert undone_by(config, "rollback", "cutover-1", "rollback-9") is None  # changed nothing
    record(config, "rollback-2", "rollback", "green->blue", "interrupted",
           ["assess", "stop_producers", "wait_quiet", "plan_copy", "copy_back"],
           cutover_run="cutover-1")  # fmt: skip
    assert undone_by(config, "rollback", "cutover-1", "rollback-9") == ("rollback-2", "interrupted")
    assert undone_by(config, "rollback", "cutover-1", "rollback-2") is None  # its own resume
    assert undone_by(config, "rollback", "cutover-7", "rollback-9") is None
