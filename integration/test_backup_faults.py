"""Backups under faults: killed runs, damaged objects, a broker lost mid-run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from dr.lab.traffic import count_records, create_topic, produce_records
from integration.conftest import RunningLab, run_cli

pytestmark = pytest.mark.timeout(900)


def job_config(lab: RunningLab, tmp: Path, topic: str, **job: object) -> Path:
    config = yaml.safe_load(lab.config.read_text())
    config["storage"] = {"local": {"url": (tmp / "store").as_uri()}}
    config["backups"] = {
        "job": {
            "cluster": "primary",
            "topics": [topic],
            "storage": "local",
            "segment_max_records": 5000,
        }
        | job
    }
    config["state"] = str(tmp / "state.db")
    path = tmp / "kafka-dr.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("--config", str(config), *args, timeout=600)


def manifests(tmp: Path) -> list[Path]:
    """The manifests of committed backups (those a sequence entry names), oldest first."""
    entries = sorted((tmp / "store" / "job" / "sequence").glob("[0-9]*.json"))
    ids = [json.loads(e.read_text())["backup_id"] for e in entries]
    return [tmp / "store" / "job" / "manifests" / f"{i}.json" for i in ids]


def test_a_run_killed_at_any_point_loses_and_doubles_nothing(
    lab: RunningLab, tmp_path: Path
) -> None:
    primary = lab.bootstrap("primary")
    create_topic(primary, "faults.kill", partitions=4, replication=3)
    produce_records(primary, "faults.kill", 250_000, value_size=1000)
    config = job_config(lab, tmp_path, "faults\\.kill", segment_max_records=2000)

    killed_mid_run = 0
    for delay in (0.8, 1.5, 2.2):
        before = manifests(tmp_path)
        proc = subprocess.Popen(
            [sys.executable, "-m", "dr", "--config", str(config), "backup", "run", "job"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        new = [m for m in manifests(tmp_path) if m not in before]
        if not new:
            killed_mid_run += 1
        else:
            # Killed after its commit (while exiting): a complete backup.
            backup_id = new[0].stem
            proc2 = run(config, "backup", "verify", backup_id, "--deep")
            assert proc2.returncode == 0, proc2.stdout + proc2.stderr
    assert killed_mid_run >= 2, "the runs finished before they could be killed: use more data"

    done = run(config, "backup", "run", "job", "--json")
    assert done.returncode == 0, done.stderr
    verify = run(config, "backup", "verify", "latest", "--deep", "--json")
    assert verify.returncode == 0, verify.stdout
    assert json.loads(verify.stdout)["records"] == 250_000

    # A restore killed half-way resumes where it stopped: every record once.
    dr = lab.bootstrap("dr")
    restore_args = [
        "restore",
        "latest",
        "--to",
        "dr",
        "--rename",
        "faults.kill=kill.restored",
        "--yes",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "dr", "--config", str(config), *restore_args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while count_records(dr, "kill.restored") == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = count_records(dr, "kill.restored")
    assert 0 < partial < 250_000, "the restore was not caught half-way"

    resumed = run(config, *restore_args, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["already_present"] > 0
    assert count_records(dr, "kill.restored") == 250_000
    assert distinct_keys(dr, "kill.restored") == 250_000


def distinct_keys(bootstrap: str, topic: str) -> int:
    from dr.config.schema import ClusterSettings
    from dr.kafka.reader import read_range

    cluster = ClusterSettings(bootstrap_servers=bootstrap)
    keys = {
        r.key for p in range(4) for r in read_range(cluster, (topic, p), 0, 10**9, timeout_s=120)
    }
    return len(keys)


def test_damaged_objects_fail_verify_by_name_and_restore_refuses(
    lab: RunningLab, tmp_path: Path
) -> None:
    primary = lab.bootstrap("primary")
    create_topic(primary, "faults.damage", partitions=1, replication=3)
    produce_records(primary, "faults.damage", 4000)
    config = job_config(lab, tmp_path, "faults\\.damage", segment_max_records=1000)
    assert run(config, "backup", "run", "job").returncode == 0
    segments = sorted((tmp_path / "store" / "job" / "data" / "faults.damage").glob("*/0/*.seg"))
    assert len(segments) == 4

    flipped, truncated, missing = segments[0], segments[1], segments[2]
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0x01
    flipped.write_bytes(bytes(data))
    truncated.write_bytes(truncated.read_bytes()[:-10])
    missing.unlink()

    verify = run(config, "backup", "verify", "latest")
    assert verify.returncode == 1
    report = verify.stdout + verify.stderr
    for damaged in (flipped, truncated, missing):
        assert damaged.name in report
    assert segments[3].name not in report
    assert "Traceback" not in report

    restored = run(
        config,
        "restore",
        "latest",
        "--to",
        "dr",
        "--rename",
        "faults.damage=damage.restored",
        "--yes",
    )
    assert restored.returncode == 2
    assert "verification" in restored.stderr


def test_a_broker_killed_during_a_backup_ends_in_a_complete_backup_or_a_clear_error(
    lab: RunningLab, tmp_path: Path
) -> None:
    primary = lab.bootstrap("primary")
    create_topic(primary, "faults.broker", partitions=6, replication=3)
    produce_records(primary, "faults.broker", 150_000, value_size=1000)
    config = job_config(lab, tmp_path, "faults\\.broker", segment_max_records=2000)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dr", "--config", str(config), "backup", "run", "job", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)
    lab.lab_cli("stop-node", "primary", "1", "--kill")
    try:
        out, err = proc.communicate(timeout=400)
    finally:
        lab.lab_cli("start-node", "primary", "1")
    if proc.returncode == 0:
        assert json.loads(out)["records"] == 150_000
        assert run(config, "backup", "verify", "latest").returncode == 0
    else:
        assert proc.returncode == 2 and err.startswith("error: ") and "Traceback" not in err
        assert manifests(tmp_path) == []
        assert run(config, "backup", "run", "job").returncode == 0


def test_the_job_fails_clearly_when_no_topic_matches(lab: RunningLab, tmp_path: Path) -> None:
    config = job_config(lab, tmp_path, "no\\.such\\.topic.*")
    proc = run(config, "backup", "run", "job")
    assert proc.returncode == 2
    assert "no topic" in proc.stderr and "no\\\\.such" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not os.path.exists(tmp_path / "store" / "job" / "manifests")


def test_records_deleted_before_backup_are_reported_as_a_gap(
    lab: RunningLab, tmp_path: Path
) -> None:
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import AdminClient

    primary = lab.bootstrap("primary")
    create_topic(primary, "faults.gap", partitions=1, replication=3)
    produce_records(primary, "faults.gap", 1000)
    config = job_config(lab, tmp_path, "faults\\.gap", segment_max_records=300)
    assert run(config, "backup", "run", "job").returncode == 0
    produce_records(primary, "faults.gap", 1000)
    # What retention does: the log start moves past records no backup has stored yet.
    admin = AdminClient({"bootstrap.servers": primary})
    admin.delete_records([TopicPartition("faults.gap", 0, 1500)])[
        TopicPartition("faults.gap", 0, 1500)
    ].result(30)

    second = run(config, "backup", "run", "job", "--json")
    assert second.returncode == 0, second.stderr
    result = json.loads(second.stdout)
    assert result["records"] == 500
    assert [(g["start_offset"], g["end_offset"]) for g in result["gaps"]] == [(1000, 1500)]
    assert "backup_gap" in second.stderr  # logged at error level, whatever the log level
    human = run(config, "backup", "show", "latest")
    assert "GAP 1000..1499" in human.stdout
    verify = run(config, "backup", "verify", "latest", "--json")
    assert verify.returncode == 0
    assert json.loads(verify.stdout)["gaps"]


def test_prune_keeps_the_newest_and_what_they_need(lab: RunningLab, tmp_path: Path) -> None:
    primary = lab.bootstrap("primary")
    create_topic(primary, "faults.prune", partitions=1, replication=3)
    config = job_config(
        lab,
        tmp_path,
        "faults\\.prune",
        segment_max_records=100,
        retention={"keep_last": 2, "min_keep": 1},
    )
    for _ in range(4):
        produce_records(primary, "faults.prune", 150)
        assert run(config, "backup", "run", "job").returncode == 0
    dry = run(config, "backup", "prune", "job", "--dry-run", "--json")
    assert len(json.loads(dry.stdout)["prune"]) == 2
    assert len(manifests(tmp_path)) == 4
    refused = run(config, "backup", "prune", "job")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert run(config, "backup", "prune", "job", "--yes").returncode == 0
    assert len(manifests(tmp_path)) == 2
    for backup in json.loads(run(config, "backup", "list", "--json").stdout)["backups"]:
        assert run(config, "backup", "verify", backup["backup_id"], "--deep").returncode == 0
