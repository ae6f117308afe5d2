"""Backups with several worker processes (a job's ``workers``): exact, and safe to kill.

A backup with workers: 3 stores exactly what one process stores and restores byte for byte; a
worker killed mid-run fails the run in one line naming it, and so does a runner killed with its
workers; either way the next run completes with every record once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dr.config.schema import ClusterSettings
from dr.kafka.reader import read_range
from dr.lab.traffic import count_records, create_topic, produce_records
from integration.conftest import RunningLab, run_cli
from integration.test_backup_faults import job_config, manifests, run

pytestmark = pytest.mark.timeout(900)

PARTITIONS = 6


def backup_process(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dr", "--config", str(config), "backup", "run", "job"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the whole run can be killed at once
        # Started as from a terminal, whatever started the tests: a shell's background job
        # ignores SIGINT, and kafka-dr leaves a SIGINT it was started ignoring alone.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def worker_pids(runner: int) -> list[int]:
    """The backup worker processes the runner started (not multiprocessing's helpers)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == runner and b"spawn_main" in cmdline:
            pids.append(int(entry.name))
    return sorted(pids)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def any_alive_after(pids: list[int], seconds: float) -> bool:
    """Whether any of pids still runs once they had ``seconds`` to end."""
    deadline = time.monotonic() + seconds
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return any(alive(pid) for pid in pids)


def wait_until_copying(tmp: Path, proc: subprocess.Popen[str], workers: int) -> list[int]:
    """The worker pids, once they all run and this run stored a segment (a killed run's
    segments stay in the store: one more than before)."""
    data = tmp / "store" / "job" / "data"
    before = len(list(data.rglob("*.seg")))
    deadline = time.monotonic() + 120
    pids: list[int] = []
    while time.monotonic() < deadline and proc.poll() is None:
        pids = worker_pids(proc.pid)
        stored = len(list(data.rglob("*.seg"))) > before
        if len(pids) == workers and stored:
            return pids
        time.sleep(0.05)
    raise AssertionError(f"the run never had {workers} workers copying (pids {pids})")


def records_of(bootstrap: str, topic: str) -> list[list[tuple[object, ...]]]:
    cluster = ClusterSettings(bootstrap_servers=bootstrap)
    return [
        [
            (r.key, r.value, r.headers, r.timestamp_ms)
            for r in read_range(cluster, (topic, p), 0, 10**9, timeout_s=120)
        ]
        for p in range(PARTITIONS)
    ]


def restore(config: Path, source: str, target: str) -> None:
    proc = run(config, "restore", "latest", "--to", "dr", "--rename", f"{source}={target}", "--yes")
    assert proc.returncode == 0, proc.stderr


def segments_by_partition(manifest: Path) -> dict[tuple[str, int], list[tuple[object, ...]]]:
    raw = json.loads(manifest.read_text())
    return {
        (e["topic"], e["partition"]): [
            (s["start_offset"], s["end_offset"], s["records"], s["sha256"]) for s in e["segments"]
        ]
        for e in raw["partitions"]
    }


def test_three_workers_store_what_one_process_stores_and_restore_byte_for_byte(
    lab: RunningLab, tmp_path: Path
) -> None:
    primary, dr = lab.bootstrap("primary"), lab.bootstrap("dr")
    create_topic(primary, "workers.exact", partitions=PARTITIONS, replication=3)
    produce_records(primary, "workers.exact", 60_000, value_size=500)
    (tmp_path / "one").mkdir()
    (tmp_path / "three").mkdir()
    one = job_config(lab, tmp_path / "one", "workers\\.exact", segment_max_records=2000)
    three = job_config(
        lab, tmp_path / "three", "workers\\.exact", segment_max_records=2000, workers=3
    )

    by_one = run(one, "backup", "run", "job", "--json")
    assert by_one.returncode == 0, by_one.stderr
    by_three = run_cli(
        "--config", str(three), "--log-level", "info", "backup", "run", "job", "--json"
    )
    assert by_three.returncode == 0, by_three.stderr
    assert "backup_workers_started" in by_three.stderr  # it did copy with workers
    for key in ("records", "bytes", "partitions"):
        assert json.loads(by_three.stdout)[key] == json.loads(by_one.stdout)[key]
    assert json.loads(by_three.stdout)["records"] == 60_000

    # The same segments, byte for byte: same offsets, record counts and checksums.
    [m_one], [m_three] = manifests(tmp_path / "one"), manifests(tmp_path / "three")
    assert segments_by_partition(m_three) == segments_by_partition(m_one)
    assert len(segments_by_partition(m_three)) == PARTITIONS
    verify = run(three, "backup", "verify", "latest", "--deep", "--json")
    assert verify.returncode == 0, verify.stdout
    assert json.loads(verify.stdout)["records"] == 60_000

    restore(three, "workers.exact", "workers.exact.restored")
    assert records_of(dr, "workers.exact.restored") == records_of(primary, "workers.exact")


def test_a_killed_worker_fails_the_run_in_one_line_and_the_next_run_loses_nothing(
    lab: RunningLab, tmp_path: Path
) -> None:
    primary, dr = lab.bootstrap("primary"), lab.bootstrap("dr")
    create_topic(primary, "workers.kill", partitions=PARTITIONS, replication=3)
    produce_records(primary, "workers.kill", 250_000, value_size=1000)
    config = job_config(
        lab, tmp_path, "workers\\.kill", segment_max_records=2000, workers=3, lock_ttl_s=5
    )

    proc = backup_process(config)
    pids = wait_until_copying(tmp_path, proc, 3)
    os.kill(pids[1], signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    assert "was killed by SIGKILL while copying workers.kill-" in errors[0]
    assert errors[0].startswith("error: backup worker "), errors[0]
    assert "Traceback" not in err
    assert manifests(tmp_path) == []
    assert not any(alive(pid) for pid in pids), "a worker outlived its run"

    assert_next_run_is_exact(config, dr, "workers.kill", "workers.kill.restored")


def test_a_run_killed_or_interrupted_with_its_workers_loses_and_doubles_nothing(
    lab: RunningLab, tmp_path: Path
) -> None:
    primary, dr = lab.bootstrap("primary"), lab.bootstrap("dr")
    create_topic(primary, "workers.runkill", partitions=PARTITIONS, replication=3)
    produce_records(primary, "workers.runkill", 250_000, value_size=1000)
    config = job_config(
        lab, tmp_path, "workers\\.runkill", segment_max_records=2000, workers=3, lock_ttl_s=5
    )

    # The runner alone: its workers must not go on copying for a run that cannot commit.
    proc = backup_process(config)
    pids = wait_until_copying(tmp_path, proc, 3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not any_alive_after(pids, 10), "workers outlived their runner"
    assert manifests(tmp_path) == []

    # Ctrl-C (to the whole process group, as a terminal sends it): every worker stopped.
    proc = backup_process(config)
    pids = wait_until_copying(tmp_path, proc, 3)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert not any(alive(pid) for pid in pids), "a worker outlived an interrupted run"
    assert manifests(tmp_path) == []

    # The runner and its workers at once.
    proc = backup_process(config)
    pids = wait_until_copying(tmp_path, proc, 3)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert manifests(tmp_path) == []

    assert_next_run_is_exact(config, dr, "workers.runkill", "workers.runkill.restored")


def assert_next_run_is_exact(config: Path, dr: str, topic: str, restored: str) -> None:
    done = run(config, "backup", "run", "job", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["records"] == 250_000
    verify = run(config, "backup", "verify", "latest", "--deep", "--json")
    assert verify.returncode == 0, verify.stdout
    assert json.loads(verify.stdout)["records"] == 250_000
    restore(config, topic, restored)
    assert count_records(dr, restored) == 250_000
    cluster = ClusterSettings(bootstrap_servers=dr)
    keys = [
        r.key
        for p in range(PARTITIONS)
        for r in read_range(cluster, (restored, p), 0, 10**9, timeout_s=120)
    ]
    assert len(keys) == len(set(keys)) == 250_000  # none lost, none doubled
