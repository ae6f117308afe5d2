"""Restores with several worker processes (``kafka-dr restore --workers N``): exact, and safe
to kill.

A restore with --workers 3 writes exactly the source's records (keys, values, headers,
timestamps, order in each partition); a worker killed mid-write fails it in one line naming the
complete and incomplete partitions, and so does the restore's process killed under its workers
(none outlives it); each time the same command again resumes to exact data.
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
import yaml
from confluent_kafka import Producer

from dr.lab.traffic import count_records, create_topic
from integration.conftest import RunningLab, run_cli
from integration.test_backup_faults import job_config, run
from integration.test_backup_workers import (
    PARTITIONS,
    alive,
    any_alive_after,
    records_of,
    worker_pids,
)

pytestmark = pytest.mark.timeout(900)

RECORDS = 300_000
BASE_TS = 1_700_000_000_000
# A restore slow enough to be caught half-way: small batches, one request in flight.
THROTTLED = {"batch.size": 16384, "max.in.flight.requests.per.connection": 1}


def produce_varied(bootstrap: str, topic: str, count: int) -> None:
    """Small records of every shape a restore must keep: null keys and values, headers (one
    with a null value), each with a timestamp of its own."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True})
    for i in range(count):
        headers = [("h", bytes([i % 256, 0, 255])), ("n", None)] if i % 5 == 0 else None
        while True:
            try:
                producer.produce(
                    topic,
                    None if i % 13 == 0 else f"value-{i}-".encode() + bytes(i % 97),
                    None if i % 11 == 0 else f"key-{i}".encode(),
                    partition=i % PARTITIONS,
                    timestamp=BASE_TS + i,
                    headers=headers,  # type: ignore[arg-type]
                )
                break
            except BufferError:  # the local queue is full: wait for deliveries
                producer.poll(0.1)
        producer.poll(0)
    assert producer.flush(120) == 0


def backed_up(lab: RunningLab, tmp: Path, topic: str, **producer: object) -> Path:
    """A config whose job backed up ``topic`` (RECORDS records) once; ``producer``: the job's
    producer overrides, which its restores use."""
    primary = lab.bootstrap("primary")
    # Unlimited retention: the records are stamped in 2023, which the broker's retention
    # check would delete between the produce and the backup.
    create_topic(
        primary, topic, partitions=PARTITIONS, replication=3, config={"retention.ms": "-1"}
    )
    produce_varied(primary, topic, RECORDS)
    config = job_config(lab, tmp, topic.replace(".", "\\."), segment_max_records=5000)
    if producer:
        raw = yaml.safe_load(config.read_text())
        raw["backups"]["job"]["client_overrides"] = {"producer": producer}
        config.write_text(yaml.safe_dump(raw))
    done = run(config, "backup", "run", "job")
    assert done.returncode == 0, done.stderr
    return config


def restore_args(source: str, target: str) -> list[str]:
    return ["restore", "latest", "--to", "dr", "--rename", f"{source}={target}", "--yes"]


def restore_process(config: Path, source: str, target: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dr",
            "--config",
            str(config),
            *restore_args(source, target),
            "--workers",
            "3",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the whole restore can be killed at once
    )


def wait_until_writing(dr: str, target: str, proc: subprocess.Popen[str]) -> list[int]:
    """The worker pids, once all three run and the target holds some of the records."""
    deadline = time.monotonic() + 180
    pids: list[int] = []
    while time.monotonic() < deadline and proc.poll() is None:
        pids = worker_pids(proc.pid)
        if len(pids) == 3 and count_records(dr, target, timeout_s=5) > 0:
            return pids
        time.sleep(0.02)
    raise AssertionError(f"the restore never had 3 workers writing (pids {pids})")


def assert_exact(lab: RunningLab, source: str, target: str) -> None:
    """Every partition of target holds the source's records: none lost, none twice, same
    keys, values, headers, timestamps, in the same order."""
    want = records_of(lab.bootstrap("primary"), source)
    got = records_of(lab.bootstrap("dr"), target)
    assert [len(p) for p in got] == [len(p) for p in want]
    assert sum(len(p) for p in got) == RECORDS
    for partition, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g == w, f"{target}-{partition} differs from {source}-{partition}"


def resume(config: Path, source: str, target: str) -> subprocess.CompletedProcess[str]:
    again = run_cli(
        "--config", str(config), *restore_args(source, target), "--workers", "3", timeout=600
    )
    assert again.returncode == 0, again.stderr
    return again


def test_three_workers_restore_exactly_the_source_records(lab: RunningLab, tmp_path: Path) -> None:
    config = backed_up(lab, tmp_path, "rw.exact")
    restored = run_cli(
        "--config",
        str(config),
        "--log-level",
        "info",
        *restore_args("rw.exact", "rw.exact.restored"),
        "--workers",
        "3",
        "--json",
        timeout=600,
    )
    assert restored.returncode == 0, restored.stderr
    assert "restore_workers_started" in restored.stderr  # it did write with workers
    result = json.loads(restored.stdout)
    assert result["records"] == RECORDS and result["already_present"] == 0
    assert result["topics_restored"] == {"rw.exact.restored": RECORDS}
    assert len(result["complete_partitions"]) == PARTITIONS
    assert_exact(lab, "rw.exact", "rw.exact.restored")


def test_a_killed_worker_fails_the_restore_in_one_line_and_the_same_command_resumes_exactly(
    lab: RunningLab, tmp_path: Path
) -> None:
    config = backed_up(lab, tmp_path, "rw.kill", **THROTTLED)
    dr = lab.bootstrap("dr")
    proc = restore_process(config, "rw.kill", "rw.kill.restored")
    pids = wait_until_writing(dr, "rw.kill.restored", proc)
    os.kill(pids[1], signal.SIGKILL)
    _, err = proc.communicate(timeout=300)

    assert proc.returncode != 0, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    assert errors[0].startswith("error: restore stopped: restore worker "), errors[0]
    assert "was killed by SIGKILL while writing rw.kill.restored-" in errors[0]
    assert "; incomplete: rw.kill.restored-" in errors[0]
    assert "run the same command again: it resumes" in errors[0]
    assert not any(alive(pid) for pid in pids), "a worker outlived its restore"
    partial = count_records(dr, "rw.kill.restored")
    assert 0 < partial < RECORDS, "the restore was not caught half-way"

    again = resume(config, "rw.kill", "rw.kill.restored")
    assert "were already there" in again.stdout
    assert_exact(lab, "rw.kill", "rw.kill.restored")


def test_a_restore_killed_with_its_workers_leaves_none_running_and_resumes_exactly(
    lab: RunningLab, tmp_path: Path
) -> None:
    config = backed_up(lab, tmp_path, "rw.runkill", **THROTTLED)
    dr = lab.bootstrap("dr")

    # The restore's process alone: its workers must not go on writing without it.
    proc = restore_process(config, "rw.runkill", "rw.runkill.restored")
    pids = wait_until_writing(dr, "rw.runkill.restored", proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not any_alive_after(pids, 10), "workers outlived their restore"
    first = count_records(dr, "rw.runkill.restored")
    assert 0 < first < RECORDS, "the restore was not caught half-way"

    # The same command again, killed with its workers at once (the whole process group).
    proc = restore_process(config, "rw.runkill", "rw.runkill.restored")
    pids = wait_until_writing(dr, "rw.runkill.restored", proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)
    assert not any(alive(pid) for pid in pids), "a worker outlived its process group"
    assert count_records(dr, "rw.runkill.restored") < RECORDS

    resume(config, "rw.runkill", "rw.runkill.restored")
    assert_exact(lab, "rw.runkill", "rw.runkill.restored")
