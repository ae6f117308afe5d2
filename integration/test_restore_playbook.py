"""Restore as a playbook on the lab: a restore SIGKILLed half-way through its records is carried
on by `kafka-dr playbook resume RUN_ID`, to exact data."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dr.lab.traffic import count_records, create_topic, produce_records
from integration.conftest import RunningLab
from integration.test_backup_faults import distinct_keys, job_config, run

pytestmark = pytest.mark.timeout(900)
RECORDS = 150_000


def test_a_restore_killed_mid_write_resumes_with_playbook_resume_to_exact_data(
    lab: RunningLab, tmp_path: Path
) -> None:
    primary, dr = lab.bootstrap("primary"), lab.bootstrap("dr")
    create_topic(primary, "pb.restore", partitions=4, replication=3)
    produce_records(primary, "pb.restore", RECORDS, value_size=1000)
    config = job_config(lab, tmp_path, "pb\\.restore", segment_max_records=2000)
    assert run(config, "backup", "run", "job").returncode == 0

    args = ["restore", "latest", "--to", "dr", "--rename", "pb.restore=pb.restored", "--yes"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "dr", "--config", str(config), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while count_records(dr, "pb.restored") == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = count_records(dr, "pb.restored")
    assert 0 < partial < RECORDS, "the restore was not caught half-way"

    listed = json.loads(run(config, "playbook", "list", "--json").stdout)["runs"]
    killed = [r for r in listed if r["playbook"] == "restore"]
    assert len(killed) == 1 and killed[0]["status"] == "interrupted", listed
    assert killed[0]["pair"] == "backup:job->dr"
    run_id = killed[0]["run_id"]

    resumed = run(config, "playbook", "resume", run_id, "--yes", "--json")

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    out = json.loads(resumed.stdout)
    assert out["run_id"] == run_id and out["status"] == "completed"
    steps = {s["name"]: s for s in out["steps"]}
    assert list(steps) == ["verify", "create_topics", "write_records"]
    written = steps["write_records"]["detail"]
    assert written["resumed"] is True
    assert written["already_present"] >= partial
    assert written["records"] + written["already_present"] == RECORDS
    assert count_records(dr, "pb.restored") == RECORDS
    assert distinct_keys(dr, "pb.restored") == RECORDS

    # Done is done: the run is not resumed twice, and running the restore again is refused
    # (the target holds records) rather than writing them a second time.
    again = run(config, "playbook", "resume", run_id, "--yes")
    assert again.returncode == 2 and "completed already" in again.stderr
    refused = run(config, *args)
    assert refused.returncode == 2 and "already holds" in refused.stderr
    assert count_records(dr, "pb.restored") == RECORDS
