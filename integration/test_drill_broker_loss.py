"""The broker-loss drill on the lab's 3-node primary: the highest node killed through the lab's
host access, brought back by `broker replace`, and the time from the kill to no partition
under-replicated measured; the cluster is whole afterwards and its records unchanged."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dr.config import load_config
from dr.drill.run import run_drill
from dr.lab import processes
from dr.lab.traffic import count_records, create_topic, produce_records
from integration.conftest import RunningLab, wait_until

pytestmark = pytest.mark.timeout(600)
DRILL = "broker-loss-drill"


@pytest.fixture
def primary_all_up(lab: RunningLab) -> Iterator[None]:
    """Whatever happens in the test, every primary node runs afterwards."""
    yield
    for node in lab.lab.state().cluster("primary").nodes:
        if not processes.find_java_by_marker(str(node.spec("primary").config_file)):
            lab.lab_cli("start-node", "primary", str(node.id))


def drill_config(lab: RunningLab, tmp_path: Path) -> Path:
    settings: dict[str, Any] = yaml.safe_load(lab.config.read_text())
    settings["state"] = str(tmp_path / "state.db")
    settings["drills"] = {
        DRILL: {
            "scenarios": {"broker_loss": {"cluster": "primary"}},
            "report_dir": str(tmp_path / "reports"),
        }
    }
    path = tmp_path / "drill.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


def test_a_broker_loss_drill_kills_the_highest_node_replaces_it_and_times_full_replication(
    lab: RunningLab, tmp_path: Path, primary_all_up: None
) -> None:
    bootstrap = lab.bootstrap("primary")
    topic = f"drill-loss.{uuid.uuid4().hex[:6]}"
    create_topic(bootstrap, topic, partitions=6, replication=3,
                 config={"min.insync.replicas": "2"})  # fmt: skip
    produce_records(bootstrap, topic, 3000, value_size=200)
    settings = load_config(drill_config(lab, tmp_path)).settings

    result = run_drill(settings, DRILL, scenarios=["broker-loss"], destructive=True)

    report = result.report
    checks = {c.name: c for c in report.checks}
    assert [c.outcome for c in report.checks] == ["passed"] * 3, [
        (c.name, c.summary) for c in report.checks
    ]
    assert list(checks) == ["broker_killed", "replace_completed", "fully_replicated"]
    killed = checks["broker_killed"].evidence
    assert (killed["node"], killed["how"], killed["access"]) == (3, "killed", "lab")
    assert checks["replace_completed"].evidence["status"] == "completed"
    samples = checks["fully_replicated"].evidence["under_replicated"]
    assert checks["fully_replicated"].evidence["final_under_replicated"] == 0
    assert max(count for _, count in samples) > 0  # it was under-replicated in between
    (rto,) = report.objectives
    assert rto.subject == "broker-loss primary node 3" and rto.met is True
    assert rto.measured_seconds is not None and rto.measured_seconds > 0
    assert checks["broker_killed"].inputs["deadline_s"] == 1200  # twice the lab's 600 s RTO
    assert report.outcome == "passed"
    bars = [s.name for s in report.steps]
    assert {"broker replace primary node 3", "broker-replace: start_node"} <= set(bars)

    def whole() -> dict[str, Any] | None:
        status = lab.cli("status", "--cluster", "primary", "--json")
        state: dict[str, Any] = json.loads(status.stdout)["clusters"]["primary"]
        return state if status.returncode == 0 and state["healthy"] else None

    state = wait_until(whole, timeout_s=60, what="primary to be healthy")
    assert state["brokers_online"] == [1, 2, 3] and state["under_replicated_partitions"] == 0
    assert count_records(bootstrap, topic) == 3000
    print(f"\nbroker-loss drill: RTO {rto.measured_seconds:.1f}s, URP samples {samples}")
