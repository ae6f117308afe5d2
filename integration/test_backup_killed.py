"""A backup run killed with SIGKILL, then run again at once, on the real lab: the new run
cleans what the killed one left (however recent), and its backup holds every record once."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from dr.lab.traffic import create_topic, produce_records
from dr.storage.local import TEMP_PREFIX
from integration.conftest import RunningLab
from integration.test_backup_integrity import backup_ok, cli, config_for

pytestmark = pytest.mark.timeout(900)

TOPIC = f"killed{uuid.uuid4().hex[:6]}"
RECORDS = 60_000


def kill_once_copying(config: Path, data: Path) -> None:
    """Start `backup run` and SIGKILL it once it has stored a segment (before its commit)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "dr", "--config", str(config), "backup", "run", "job"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not any(data.rglob("*.seg")) and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.kill()
    proc.wait()


def test_a_run_right_after_a_killed_one_cleans_its_temporaries_and_backs_up_every_record_once(
    lab: RunningLab, tmp_path: Path
) -> None:
    primary = lab.bootstrap("primary")
    create_topic(primary, TOPIC, partitions=2, replication=3)
    produce_records(primary, TOPIC, RECORDS, value_size=1000)
    config = config_for(lab, tmp_path, [TOPIC], segment_max_records=2000)
    data = tmp_path / "store" / "job" / "data"

    kill_once_copying(config, data)
    _, listing = cli(config, "backup", "list", "--json")
    assert listing["backups"] == []  # killed before its commit: nothing recorded
    fresh = data / TOPIC / f"{TEMP_PREFIX}killed-mid-write"  # as the kill leaves one
    fresh.write_bytes(b"half a segment")

    done = backup_ok(config)

    assert done["records"] == RECORDS
    assert list((tmp_path / "store").rglob(f"{TEMP_PREFIX}*")) == []
    code, out = cli(config, "backup", "verify", "latest", "--deep", "--json")
    assert code == 0 and out["records"] == RECORDS, out
    code, plan = cli(config, "backup", "prune", "job", "--yes", "--json")
    assert code == 0, plan
    kept = json.loads(
        (tmp_path / "store" / "job" / "manifests" / f"{done['backup_id']}.json").read_text()
    )
    referenced = {s["key"] for p in kept["partitions"] for s in p["segments"]}
    stored = {str(p.relative_to(tmp_path / "store")) for p in data.rglob("*.seg")}
    assert stored == referenced  # the killed run's segments went with the prune
