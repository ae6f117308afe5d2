"""The daemon on the real lab: jobs on short schedules, some failing, metrics (promtool-clean,
with the lab's cluster health), /healthz naming the failing jobs, SIGTERM mid-run."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from dr.lab.nodes import free_ports
from dr.lab.traffic import create_topic, produce_records
from integration.conftest import RunningLab, run_cli, wait_until


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def metric(text: str, name: str, job: str) -> float | None:
    return labelled(text, name, f'backup_job="{job}"')


def labelled(text: str, name: str, labels: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(f"{name}{{{labels}}}"):
            return float(line.split()[-1])
    return None


def head(url: str) -> int:
    request = urllib.request.Request(url, method="HEAD")
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.read() == b""
        return int(response.status)


def promtool_check_metrics(text: str) -> str:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is not installed: run `make tools` (Debian package prometheus)"
    proc = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def test_the_daemon_runs_jobs_keeps_going_past_failures_and_stops_cleanly(
    lab: RunningLab, tmp_path: Path
) -> None:
    primary = lab.bootstrap("primary")
    create_topic(primary, "daemon.small", partitions=2, replication=3)
    create_topic(primary, "daemon.big", partitions=4, replication=3)
    produce_records(primary, "daemon.small", 500)
    produce_records(primary, "daemon.big", 250_000, value_size=1000)
    (port,) = free_ports(1)
    config = yaml.safe_load(lab.config.read_text())
    config["storage"] = {
        "local": {"url": (tmp_path / "store").as_uri()},
        "nowhere": {
            "url": "s3://bucket/prefix",
            "endpoint_url": "http://127.0.0.1:9",
            "region": "us-east-1",
            "access_key_id": "x",
            "secret_access_key": "y",
            "retry_deadline_s": 1,
        },
    }
    config["backups"] = {
        "small": {
            "cluster": "primary",
            "topics": [r"daemon\.small"],
            "storage": "local",
            "schedule": "*/2 * * * * *",
        },
        "notopic": {
            "cluster": "primary",
            "topics": [r"daemon\.missing"],
            "storage": "local",
            "schedule": "*/2 * * * * *",
        },
        "nostore": {
            "cluster": "primary",
            "topics": [r"daemon\.small"],
            "storage": "nowhere",
            "schedule": "*/2 * * * * *",
        },
        "big": {
            "cluster": "primary",
            "topics": [r"daemon\.big"],
            "storage": "local",
            "schedule": "*/3 * * * * *",
            "segment_max_records": 5000,
        },
    }
    config["daemon"] = {"listen": f"127.0.0.1:{port}", "rpo_sample_interval_s": 2}
    config["state"] = str(tmp_path / "state.db")
    path = tmp_path / "kafka-dr.yaml"
    path.write_text(yaml.safe_dump(config))
    log = (tmp_path / "daemon.log").open("w")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "dr", "--config", str(path), "daemon"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def small_succeeded_twice() -> bool:
            _, text = get(f"{base}/metrics")
            failures = [
                metric(text, "kafka_dr_backup_failures_total", j) for j in ("notopic", "nostore")
            ]
            runs = len(list((tmp_path / "store" / "small" / "manifests").glob("*.json")))
            return runs >= 2 and all(f is not None and f >= 2 for f in failures)

        wait_until(small_succeeded_twice, timeout_s=90, what="small to succeed while others fail")
        status, text = get(f"{base}/metrics")
        assert status == 200
        assert metric(text, "kafka_dr_backup_last_success_timestamp_seconds", "small")
        assert (metric(text, "kafka_dr_backup_records_total", "small") or 0) >= 500

        def rpo_sampled() -> bool:
            _, text = get(f"{base}/metrics")
            return metric(text, "kafka_dr_backup_rpo_seconds", "small") is not None

        wait_until(rpo_sampled, timeout_s=30, what="the daemon to sample RPO")

        def clusters_checked() -> bool:
            _, text = get(f"{base}/metrics")
            return 'kafka_dr_sample_timestamp_seconds{sampler="cluster_health"}' in text

        wait_until(clusters_checked, timeout_s=120, what="the daemon to check the clusters")
        status, text = get(f"{base}/metrics")
        assert promtool_check_metrics(text).strip() == ""
        assert head(f"{base}/metrics") == 200
        primary_labels = 'cluster="primary"'
        assert labelled(text, "kafka_dr_cluster_reachable", primary_labels) == 1
        assert (labelled(text, "kafka_dr_cluster_brokers_online", primary_labels) or 0) >= 3
        assert labelled(text, "kafka_dr_cluster_offline_partitions", primary_labels) == 0
        assert metric(text, "kafka_dr_backup_last_success_timestamp_seconds", "notopic") == 0
        assert (metric(text, "kafka_dr_backup_last_failure_timestamp_seconds", "notopic") or 0) > 0
        history = run_cli("--config", str(path), "rpo", "history", "--since", "1h", "--json")
        series = {s["name"]: s for s in json.loads(history.stdout)["series"]}
        assert series["small"]["samples"] >= 1 and series["small"]["kind"] == "job"
        status, body = get(f"{base}/healthz")
        health: dict[str, Any] = json.loads(body)
        assert status == 503 and health["status"] == "failing"
        failing = {(p["check"], p["subject"]) for p in health["failing"]}
        assert {("backup_failed", "notopic"), ("backup_failed", "nostore")} <= failing
        assert not any(subject in ("small", "big") for _, subject in failing)
        assert health["preflight"]["finished_at"] is not None
        assert health["jobs"]["notopic"]["last_status"] in ("failed", "running")
        assert health["jobs"]["notopic"]["last_success_at"] is None
        assert health["jobs"]["small"]["last_success_at"]

        # New data makes the next run of 'big' last several seconds: long enough to catch it.
        produce_records(primary, "daemon.big", 300_000, value_size=1000)

        def big_running() -> bool:
            _, body = get(f"{base}/healthz")
            return bool(body) and json.loads(body)["jobs"]["big"]["running"]

        wait_until(big_running, timeout_s=90, what="the big job to be running", interval_s=0.2)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=60) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
        log.close()

    events = [
        json.loads(line)
        for line in (tmp_path / "daemon.log").read_text().splitlines()
        if line.startswith("{")
    ]
    assert any(e["event"] == "daemon_stopped" for e in events)
    assert [e["event"] for e in events].count("preflight_done") == 1
    assert any(e["event"] == "backup_failed" and e.get("job") == "nostore" for e in events)
    for job in ("small", "big"):
        listing = run_cli("--config", str(path), "backup", "list", job, "--json")
        for backup in json.loads(listing.stdout)["backups"]:
            proc = run_cli("--config", str(path), "backup", "verify", backup["backup_id"])
            assert proc.returncode == 0, proc.stdout + proc.stderr
    assert get(f"{base}/healthz")[0] == 0  # the endpoint is gone
