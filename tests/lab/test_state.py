"""The lab's record of what it started (lab.json), kept across invocations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dr.errors import LabError
from dr.lab.state import (
    STATE_FILE,
    ClusterRecord,
    LabState,
    MirrorRecord,
    NodeRecord,
    load_state,
    save_state,
)


def sample_state(lab_dir: Path) -> LabState:
    return LabState(
        kafka_version="4.3.1",
        libs="/home/me/.cache/kafka-dr/kafka/4.3.1/libs",
        clusters={
            "primary": ClusterRecord(
                cluster_id="MkU3OEVBNTcwNTJENDM2Qk",
                nodes=(
                    NodeRecord(1, 19092, 19093, str(lab_dir / "primary/node-1"), pid=4242),
                    NodeRecord(2, 19094, 19095, str(lab_dir / "primary/node-2"), pid=None),
                ),
            ),
            "dr": ClusterRecord(
                cluster_id="q8Gx2k7CTeC4bY1o5kqV0A",
                nodes=(NodeRecord(1, 29092, 29093, str(lab_dir / "dr/node-1"), pid=4343),),
            ),
        },
        mirror=MirrorRecord(config=str(lab_dir / "mm2.properties"), home=str(lab_dir), pid=4444),
    )


def test_a_saved_lab_loads_back_equal(tmp_path: Path) -> None:
    state = sample_state(tmp_path)

    save_state(tmp_path / "lab", state)

    assert load_state(tmp_path / "lab") == state


def test_a_lab_without_mirror_loads_back_without_mirror(tmp_path: Path) -> None:
    state = LabState(kafka_version="3.9.1", libs="/opt/kafka/libs")

    save_state(tmp_path, state)

    loaded = load_state(tmp_path)
    assert loaded == state
    assert loaded is not None
    assert loaded.mirror is None


def test_saving_leaves_only_lab_json_behind(tmp_path: Path) -> None:
    save_state(tmp_path, sample_state(tmp_path))
    save_state(tmp_path, sample_state(tmp_path))

    assert [p.name for p in tmp_path.iterdir()] == [STATE_FILE]


def test_a_directory_without_a_lab_has_no_state(tmp_path: Path) -> None:
    assert load_state(tmp_path) is None


@pytest.mark.parametrize(
    "text",
    ['{"kafka_version": "4.3.1", "libs"', '{"kafka_version": "4.3.1"}', "[]", ""],
    ids=["truncated", "a missing key", "not an object", "empty"],
)
def test_an_unreadable_lab_json_is_a_lab_error_that_says_what_to_do(
    tmp_path: Path, text: str
) -> None:
    (tmp_path / STATE_FILE).write_text(text)

    with pytest.raises(LabError, match="remove the directory and start again") as caught:
        load_state(tmp_path)

    assert str(tmp_path / STATE_FILE) in str(caught.value)


def test_a_node_record_with_an_unknown_field_is_a_lab_error(tmp_path: Path) -> None:
    raw = {
        "kafka_version": "4.3.1",
        "libs": "/opt/kafka/libs",
        "clusters": {"dr": {"cluster_id": "x", "nodes": [{"id": 1, "colour": "red"}]}},
        "mirror": None,
    }
    (tmp_path / STATE_FILE).write_text(json.dumps(raw))

    with pytest.raises(LabError):
        load_state(tmp_path)


def test_a_cluster_is_looked_up_by_name_and_an_unknown_one_is_named() -> None:
    state = sample_state(Path("/lab"))

    assert state.cluster("dr").bootstrap_servers == "127.0.0.1:29092"
    assert state.cluster("primary").bootstrap_servers == "127.0.0.1:19092,127.0.0.1:19094"
    with pytest.raises(LabError, match=r"no cluster 'analytics' \(it has: primary, dr\)"):
        state.cluster("analytics")
