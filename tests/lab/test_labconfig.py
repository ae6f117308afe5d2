"""The kafka-dr config that 'lab up' writes for the lab it started: valid, and complete."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dr.config import Settings, parse_config
from dr.lab.labconfig import lab_config, write_lab_config
from dr.lab.state import ClusterRecord, LabState, NodeRecord


@pytest.fixture(autouse=True)
def _no_kafka_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_HOME", raising=False)


def lab_state(lab_dir: Path, libs: str = "/home/me/.cache/kafka-dr/kafka/4.3.1/libs") -> LabState:
    def node(cluster: str, node_id: int, port: int) -> NodeRecord:
        home = str(lab_dir / cluster / f"node-{node_id}")
        return NodeRecord(
            id=node_id, port=port, controller_port=port + 1, home=home, pid=100 + port
        )

    return LabState(
        kafka_version="4.3.1",
        libs=libs,
        clusters={
            "primary": ClusterRecord(
                cluster_id="MkU3OEVBNTcwNTJENDM2Qk",
                nodes=(
                    node("primary", 1, 19092),
                    node("primary", 2, 19094),
                    node("primary", 3, 19096),
                ),
            ),
            "dr": ClusterRecord(cluster_id="q8Gx2k7CTeC4bY1o5kqV0A", nodes=(node("dr", 1, 29092),)),
        },
    )


def written(tmp_path: Path, *, mirror: bool, state: LabState | None = None) -> Settings:
    lab_dir = tmp_path / "lab"
    lab_dir.mkdir(exist_ok=True)
    path = lab_dir / "kafka-dr.yaml"
    write_lab_config(path, state or lab_state(lab_dir), lab_dir, mirror=mirror)
    return parse_config(path.read_text(), source=str(path), base_dir=lab_dir)


def test_the_written_config_has_both_clusters_with_their_bootstrap_servers(tmp_path: Path) -> None:
    settings = written(tmp_path, mirror=True)

    assert sorted(settings.clusters) == ["dr", "primary"]
    assert settings.cluster("primary").bootstrap_servers == (
        "127.0.0.1:19092,127.0.0.1:19094,127.0.0.1:19096"
    )
    assert settings.cluster("dr").bootstrap_servers == "127.0.0.1:29092"


def test_each_cluster_lists_its_brokers_with_their_log_dirs(tmp_path: Path) -> None:
    settings = written(tmp_path, mirror=True)
    lab_dir = tmp_path / "lab"

    primary = settings.cluster("primary").brokers
    assert [(b.id, b.host) for b in primary] == [
        (1, "127.0.0.1"),
        (2, "127.0.0.1"),
        (3, "127.0.0.1"),
    ]
    assert primary[2].log_dirs == [str(lab_dir / "primary" / "node-3" / "data")]
    (dr_broker,) = settings.cluster("dr").brokers
    assert dr_broker.id == 1
    assert dr_broker.log_dirs == [str(lab_dir / "dr" / "node-1" / "data")]


def test_backups_go_to_a_local_store_inside_the_lab(tmp_path: Path) -> None:
    settings = written(tmp_path, mirror=False)

    assert list(settings.storage) == ["lab"]
    assert settings.storage["lab"].url == (tmp_path / "lab" / "store").as_uri()
    assert settings.storage["lab"].url.startswith("file:///")
    assert settings.state == tmp_path / "lab" / "kafka-dr.db"


def test_with_mirroring_the_config_has_the_primary_to_dr_flow(tmp_path: Path) -> None:
    settings = written(tmp_path, mirror=True)

    assert settings.mirror is not None
    assert settings.mirror.deploy == "dedicated"
    (flow,) = settings.mirror.flows
    assert flow.name == "primary->dr"
    assert flow.checkpoint_interval_s == 5


def test_without_mirroring_the_config_has_no_mirror_section(tmp_path: Path) -> None:
    assert written(tmp_path, mirror=False).mirror is None


def test_jars_fetched_with_maven_are_named_by_version(tmp_path: Path) -> None:
    settings = written(tmp_path, mirror=False)

    assert settings.tools.kafka_version == "4.3.1"
    assert settings.tools.kafka_home is None


def test_a_lab_run_from_kafka_home_points_its_config_at_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_HOME", "/opt/kafka")

    config = lab_config(lab_state(tmp_path, libs="/opt/kafka/libs"), tmp_path, mirror=False)

    assert config["tools"] == {"kafka_home": "/opt/kafka"}


def test_the_written_file_says_how_to_use_it_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    written(tmp_path, mirror=True)
    lab_dir = tmp_path / "lab"
    text = (lab_dir / "kafka-dr.yaml").read_text()

    assert text.startswith("# Written by 'kafka-dr lab up'")
    assert f"kafka-dr --config {lab_dir / 'kafka-dr.yaml'} status" in text
    assert isinstance(yaml.safe_load(text), dict)
    assert sorted(p.name for p in lab_dir.iterdir()) == ["kafka-dr.yaml"]


def test_the_lab_config_asks_the_lab_whether_its_mirrormaker_runs(tmp_path: Path) -> None:
    settings = written(tmp_path, mirror=True)

    assert settings.mirror is not None
    assert settings.mirror.status_command is not None
    assert settings.mirror.status_command[-5:] == [
        "lab",
        "mirror",
        "status",
        "--dir",
        str(tmp_path / "lab"),
    ]
