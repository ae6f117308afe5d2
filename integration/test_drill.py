"""The backup-restore drill on the lab: it passes and leaves nothing behind, its signed report
verifies and any altered byte is caught, a damaged segment fails it by name, and a drill
killed mid-way leaves scratch topics that the next drill removes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka.admin import AdminClient

from dr.kafka import admin as kadmin
from dr.kafka import groups as kgroups
from dr.lab.traffic import create_topic, produce_records
from integration.conftest import RunningLab, run_cli
from integration.test_backup_faults import job_config

pytestmark = pytest.mark.timeout(600)
PREFIX = "__kafka-dr-drill-"


def drill_config(lab: RunningLab, tmp: Path, topic: str, *, key: Path | None = None) -> Path:
    """The lab's config with one job backing up `topic` into a local store, and a drill 'd'
    restoring it onto dr."""
    path = job_config(lab, tmp, topic, segment_max_records=2000)
    config = yaml.safe_load(path.read_text())
    drill: dict[str, Any] = {
        "scenarios": {
            "backup_restore": {"jobs": ["job"], "target_cluster": "dr", "sample_records": 8}
        },
        "report_dir": str(tmp / "reports"),
    }
    if key is not None:
        drill["signing_key"] = f"${{file:{key}}}"
    config["drills"] = {"d": drill}
    path.write_text(yaml.safe_dump(config))
    return path


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("--config", str(config), *args, timeout=500)


def scratch_topics(bootstrap: str) -> list[str]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    return sorted(t for t in kadmin.list_topic_partitions(admin, 10) if t.startswith(PREFIX))


def commit(bootstrap: str, group: str, offsets: dict[tuple[str, int], int]) -> None:
    kgroups.alter_group_offsets(AdminClient({"bootstrap.servers": bootstrap}), group, offsets, 10)


def drill_json(config: Path, *args: str) -> tuple[int, dict[str, Any]]:
    proc = cli(config, "drill", "run", *args, "--json")
    try:
        return proc.returncode, json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"exit {proc.returncode}: {proc.stdout}{proc.stderr}") from None


def flip_byte(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_backup_restore_drill_passes_leaves_no_scratch_and_its_signed_report_verifies(
    lab: RunningLab, tmp_path: Path
) -> None:
    primary, dr = lab.bootstrap("primary"), lab.bootstrap("dr")
    create_topic(primary, "drill.orders", partitions=3, replication=3)
    produce_records(primary, "drill.orders", 9000, value_size=200)
    commit(
        primary,
        "drill-app",
        {("drill.orders", 0): 100, ("drill.orders", 1): 0, ("drill.orders", 2): 3000},
    )
    key = tmp_path / "signing.pem"
    assert run_cli("drill", "keygen", "--out", str(key)).returncode == 0
    config = drill_config(lab, tmp_path, r"drill\.orders", key=key)
    assert cli(config, "backup", "run", "job").returncode == 0

    code, out = drill_json(config)

    assert code == 0, out
    assert out["outcome"] == "passed"
    names = {c["name"]: c["outcome"] for c in out["checks"]}
    for check in (
        "segments_verified",
        "restore",
        "records_match_backup",
        "records_match_source",
        "group_offsets_match",
        "scratch_removed",
    ):
        assert names.get(check) == "passed", (check, out["checks"])
    rto = [o for o in out["objectives"] if o["kind"] == "rto"]
    assert rto and rto[0]["measured_seconds"] > 0 and rto[0]["met"] is True
    assert scratch_topics(dr) == [] and scratch_topics(primary) == []
    report = Path(out["report"]["json"])
    html = Path(out["report"]["html"])
    assert out["report"]["signed"] is True
    assert (tmp_path / "store" / "drills" / report.name).is_file()

    verified = run_cli("drill", "verify-report", str(report), "--public-key", str(key) + ".pub")
    assert verified.returncode == 0, verified.stderr
    assert "signed" in verified.stdout

    for victim, at in (
        (report, len(report.read_bytes()) // 2),
        (html, len(html.read_bytes()) // 3),
    ):
        original = victim.read_bytes()
        flip_byte(victim, at)
        tampered = run_cli("drill", "verify-report", str(report))
        assert tampered.returncode == 1, (victim, tampered.stdout)
        victim.write_bytes(original)
    listed = json.loads(cli(config, "drill", "list", "--json").stdout)
    assert listed[0]["drill_id"] == out["drill_id"] and listed[0]["status"] == "passed"
    shown = json.loads(cli(config, "drill", "show", out["drill_id"], "--json").stdout)
    assert shown["backups"][0]["manifest_sha256"]


def test_a_drill_over_a_backup_with_a_damaged_segment_fails_naming_the_segment(
    lab: RunningLab, tmp_path: Path
) -> None:
    primary, dr = lab.bootstrap("primary"), lab.bootstrap("dr")
    create_topic(primary, "drill.damaged", partitions=2, replication=3)
    produce_records(primary, "drill.damaged", 6000, value_size=100)
    config = drill_config(lab, tmp_path, r"drill\.damaged")
    assert cli(config, "backup", "run", "job").returncode == 0
    segment = sorted((tmp_path / "store").rglob("*.seg*"))[1]
    flip_byte(segment, segment.stat().st_size // 2)

    code, out = drill_json(config)

    assert code == 1 and out["outcome"] == "failed"
    failed = [c for c in out["checks"] if c["outcome"] in ("failed", "error")]
    assert any(segment.name in c["summary"] for c in failed), failed
    assert scratch_topics(dr) == []


def test_a_drill_killed_mid_way_leaves_scratch_topics_that_the_next_drill_removes(
    lab: RunningLab, tmp_path: Path
) -> None:
    primary, dr = lab.bootstrap("primary"), lab.bootstrap("dr")
    create_topic(primary, "drill.killed", partitions=4, replication=3)
    produce_records(primary, "drill.killed", 120_000, value_size=500)
    config = drill_config(lab, tmp_path, r"drill\.killed")
    assert cli(config, "backup", "run", "job").returncode == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "dr", "--config", str(config), "drill", "run"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not scratch_topics(dr) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    left = scratch_topics(dr)
    assert left, "the drill was not caught with scratch topics"
    listed = json.loads(cli(config, "drill", "list", "--json").stdout)
    assert listed[0]["status"] == "killed"

    code, out = drill_json(config)

    assert code == 0, out
    report = json.loads(Path(out["report"]["json"]).read_text())["report"]
    cleaned = [c for c in report["checks"] if c["name"] == "leftovers_removed"]
    assert cleaned, report["checks"]
    assert set(left) <= set(cleaned[0]["evidence"]["removed"])
    assert scratch_topics(dr) == []
