"""kafka-dr status against real KRaft clusters: healthy, a killed broker, a replaced disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from dr.lab.traffic import create_topic, produce_records
from integration.conftest import RunningLab, wait_until

TOPIC_PARTITIONS = 6


@pytest.fixture(scope="module")
def rf3_topic(lab: RunningLab) -> str:
    create_topic(lab.bootstrap("primary"), "health.rf3", partitions=TOPIC_PARTITIONS, replication=3)
    produce_records(lab.bootstrap("primary"), "health.rf3", 3000)
    return "health.rf3"


def status_of(lab: RunningLab, cluster: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    code, payload = lab.cli_json("status", "--cluster", cluster, "--verbose")
    return code, payload["clusters"][cluster]


def wait_healthy(lab: RunningLab, cluster: str, timeout_s: float = 120) -> dict:  # type: ignore[type-arg]
    def healthy() -> dict | None:  # type: ignore[type-arg]
        code, state = status_of(lab, cluster)
        return state if code == 0 and state["healthy"] else None

    return wait_until(healthy, timeout_s=timeout_s, what=f"{cluster} to be healthy")


def test_both_lab_clusters_are_healthy(lab: RunningLab) -> None:
    code, payload = lab.cli_json("status")

    assert code == 0, payload
    primary, dr = payload["clusters"]["primary"], payload["clusters"]["dr"]
    assert primary["healthy"] and dr["healthy"]
    assert primary["brokers_online"] == [1, 2, 3] == primary["brokers_expected"]
    assert dr["brokers_online"] == [1]
    assert primary["cluster_id"] == lab.state.clusters["primary"].cluster_id
    assert primary["quorum"]["leader_id"] in (1, 2, 3)
    assert sorted(v["id"] for v in primary["quorum"]["voters"]) == [1, 2, 3]
    assert primary["under_replicated_partitions"] == 0
    assert primary["offline_partitions"] == 0


def test_a_killed_broker_degrades_status_until_it_is_restarted(
    lab: RunningLab, rf3_topic: str
) -> None:
    lab.lab_cli("stop-node", "primary", "2", "--kill")

    def degraded() -> tuple[int, dict] | None:  # type: ignore[type-arg]
        code, state = status_of(lab, "primary")
        return (code, state) if state["brokers_missing"] == [2] else None

    code, state = wait_until(degraded, timeout_s=60, what="broker 2 to be reported missing")
    assert code == 1
    assert not state["healthy"]
    assert 2 not in state["brokers_online"]
    topic_urps = [p for p in state["partitions"]["under_replicated"] if p["topic"] == rf3_topic]
    assert len(topic_urps) == TOPIC_PARTITIONS
    assert state["under_replicated_partitions"] >= TOPIC_PARTITIONS
    human = lab.cli("status", "--cluster", "primary")
    assert human.returncode == 1
    assert "missing: 2" in human.stdout

    lab.lab_cli("start-node", "primary", "2")
    state = wait_healthy(lab, "primary")
    assert state["brokers_online"] == [1, 2, 3]
    assert state["under_replicated_partitions"] == 0


def test_a_node_on_a_wiped_disk_rejoins_with_the_same_cluster_id(
    lab: RunningLab, rf3_topic: str
) -> None:
    node_dir = Path(lab.lab.state().cluster("primary").node(3).home)  # type: ignore[union-attr]
    lab.lab_cli("stop-node", "primary", "3")
    lab.lab_cli("start-node", "primary", "3", "--wipe")

    meta = (node_dir / "data" / "meta.properties").read_text()
    assert f"cluster.id={lab.state.clusters['primary'].cluster_id}" in meta
    state = wait_healthy(lab, "primary", timeout_s=180)
    assert state["under_replicated_partitions"] == 0
    assert state["cluster_id"] == lab.state.clusters["primary"].cluster_id
    # The replicas were rebuilt from the other brokers onto the new disk.
    replicas = [d for d in (node_dir / "data").iterdir() if d.name.startswith(f"{rf3_topic}-")]
    assert len(replicas) == TOPIC_PARTITIONS
    assert sum(f.stat().st_size for d in replicas for f in d.glob("*.log")) > 0


def test_status_exits_2_when_a_cluster_is_unreachable(tmp_path: Path) -> None:
    from integration.conftest import run_cli

    config = tmp_path / "kafka-dr.yaml"
    config.write_text("clusters:\n  gone:\n    bootstrap_servers: 127.0.0.1:1\n")
    proc = run_cli("--config", str(config), "status", timeout=60)

    assert proc.returncode == 2
    assert "gone" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
