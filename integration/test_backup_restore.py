"""Backup and restore on the real lab: byte-exact, incremental, transactions, groups, --until."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from integration.backup_dataset import BASE_TS, PARTITIONS, Dataset, make_dataset, produce_plain
from integration.backup_dataset import read_partition as read
from integration.conftest import RunningLab, run_cli

TOPIC = "bk.orders"
GROUP = "bk-group"


def write_config(
    lab: RunningLab,
    tmp: Path,
    *,
    store_url: str,
    extra_storage: dict | None = None,  # type: ignore[type-arg]
    job: dict | None = None,
) -> Path:  # type: ignore[type-arg]
    config = yaml.safe_load(lab.config.read_text())
    config["storage"] = {"local": {"url": store_url}} | (extra_storage or {})
    config["backups"] = {
        "orders": {
            "cluster": "primary",
            "topics": [r"bk\.orders"],
            "storage": "local",
            "segment_max_records": 200,
        }
        | (job or {})
    }
    config["state"] = str(tmp / "state.db")
    path = tmp / "kafka-dr.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def cli(config: Path, *args: str) -> tuple[int, dict | str]:  # type: ignore[type-arg]
    proc = run_cli("--config", str(config), *args, timeout=600)
    try:
        return proc.returncode, json.loads(proc.stdout)
    except json.JSONDecodeError:
        return proc.returncode, proc.stdout + proc.stderr


@dataclass
class Scenario:
    ds: Dataset
    config: Path
    first: dict  # type: ignore[type-arg]
    second: dict  # type: ignore[type-arg]
    restore: dict  # type: ignore[type-arg]
    committed: dict[int, int]  # partition -> the group's committed offset on primary
    until_ts: int


@pytest.fixture(scope="module")
def scenario(lab: RunningLab, tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    tmp = tmp_path_factory.mktemp("backup")
    primary = lab.bootstrap("primary")
    ds = make_dataset(primary, TOPIC)
    committed = {}
    for p in range(PARTITIONS):
        offsets = [o for o, _ in read(primary, TOPIC, p)]
        committed[p] = offsets[60]
    admin = AdminClient({"bootstrap.servers": primary})
    request = [
        ConsumerGroupTopicPartitions(
            GROUP, [TopicPartition(TOPIC, p, o) for p, o in committed.items()]
        )
    ]
    admin.alter_consumer_group_offsets(request)[GROUP].result(30)

    config = write_config(lab, tmp, store_url=(tmp / "store").as_uri())
    code, first = cli(config, "backup", "run", "orders", "--json")
    assert code == 0, first
    produce_plain(primary, ds, 90)
    code, second = cli(config, "backup", "run", "orders", "--json")
    assert code == 0, second
    code, restored = cli(
        config,
        "restore",
        "latest",
        "--to",
        "dr",
        "--rename",
        f"{TOPIC}=restored.orders",
        "--groups",
        "--yes",
        "--json",
    )
    assert code == 0, restored
    until_ts = BASE_TS + 400 * 1000
    return Scenario(ds, config, first, second, restored, committed, until_ts)  # type: ignore[arg-type]


def test_the_first_run_stores_every_committed_record(scenario: Scenario) -> None:
    assert scenario.first["records"] == len(scenario.ds.all_committed()) - 90
    assert scenario.first["partitions"] == PARTITIONS and scenario.first["topics"] == 1


def test_the_second_run_stores_only_the_new_records(scenario: Scenario) -> None:
    assert scenario.second["records"] == 90


def test_every_committed_record_is_restored_once_in_order(
    lab: RunningLab, scenario: Scenario
) -> None:
    for p in range(PARTITIONS):
        restored = [rec for _, rec in read(lab.bootstrap("dr"), "restored.orders", p)]
        assert restored == scenario.ds.committed[p], f"partition {p} differs"


def test_no_aborted_record_is_restored(lab: RunningLab, scenario: Scenario) -> None:
    values = {
        rec.value
        for p in range(PARTITIONS)
        for _, rec in read(lab.bootstrap("dr"), "restored.orders", p)
    }
    assert scenario.ds.aborted
    assert not any(a.value in values for a in scenario.ds.aborted)


def test_group_offsets_resume_at_the_same_record(lab: RunningLab, scenario: Scenario) -> None:
    admin = AdminClient({"bootstrap.servers": lab.bootstrap("dr")})
    result = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(GROUP)])[GROUP].result(
        30
    )
    on_dr = {
        tp.partition: tp.offset for tp in result.topic_partitions if tp.topic == "restored.orders"
    }
    assert set(on_dr) == set(range(PARTITIONS))
    for p, original in scenario.committed.items():
        next_on_primary = read(lab.bootstrap("primary"), TOPIC, p, start=original, limit=1)[0][1]
        next_on_dr = read(lab.bootstrap("dr"), "restored.orders", p, start=on_dr[p], limit=1)[0][1]
        assert next_on_dr == next_on_primary


def test_the_until_boundary_is_exact(lab: RunningLab, scenario: Scenario) -> None:
    until = scenario.until_ts
    iso = __import__("datetime").datetime.fromtimestamp(until / 1000, __import__("datetime").UTC)
    code, out = cli(
        scenario.config,
        "restore",
        "latest",
        "--to",
        "dr",
        "--rename",
        f"{TOPIC}=until.orders",
        "--until",
        iso.isoformat(),
        "--yes",
        "--json",
    )
    assert code == 0, out
    for p in range(PARTITIONS):
        restored = [rec for _, rec in read(lab.bootstrap("dr"), "until.orders", p)]
        assert restored == [r for r in scenario.ds.committed[p] if r.timestamp <= until]
    assert any(r.timestamp == until for r in scenario.ds.all_committed())


def test_restore_refuses_a_non_empty_target(scenario: Scenario) -> None:
    code, out = cli(
        scenario.config,
        "restore",
        "latest",
        "--to",
        "dr",
        "--rename",
        f"{TOPIC}=restored.orders",
        "--yes",
    )
    assert code == 2
    assert "restored.orders" in str(out) and "--force" in str(out)
    assert "Traceback" not in str(out)


def test_a_dry_run_writes_nothing(lab: RunningLab, scenario: Scenario) -> None:
    code, out = cli(
        scenario.config,
        "restore",
        "latest",
        "--to",
        "dr",
        "--rename",
        f"{TOPIC}=dry.orders",
        "--dry-run",
        "--json",
    )
    assert code == 0, out
    assert out["topics"][0]["target"] == "dry.orders"  # type: ignore[index]
    admin = AdminClient({"bootstrap.servers": lab.bootstrap("dr")})
    assert "dry.orders" not in admin.list_topics(timeout=10).topics


def test_the_backup_verifies_deep(scenario: Scenario) -> None:
    code, out = cli(scenario.config, "backup", "verify", "latest", "--deep", "--json")
    assert code == 0, out
    assert out["ok"] and out["records"] == len(scenario.ds.all_committed())  # type: ignore[index]
