"""Backups into a real S3-API server over HTTP (moto), through a fault-injecting proxy."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from dr.lab.traffic import count_records, create_topic, produce_records
from integration.conftest import RunningLab, run_cli
from integration.s3server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, S3Server
from integration.storage.faults import FaultProxy

SECRET_ENV = "KAFKA_DR_TEST_S3_SECRET"


def s3_config(
    lab: RunningLab, tmp: Path, server: S3Server, endpoint: str, prefix: str, topic: str
) -> Path:
    config = yaml.safe_load(lab.config.read_text())
    config["storage"] = {
        "s3": {
            "url": f"s3://{server.bucket}/{prefix}",
            "endpoint_url": endpoint,
            "region": REGION,
            "access_key_id": ACCESS_KEY_ID,
            "secret_access_key": "${env:" + SECRET_ENV + "}",
            "sse": "AES256",
            "retry_deadline_s": 3,
        }
    }
    config["backups"] = {
        "s3job": {
            "cluster": "primary",
            "topics": [topic],
            "storage": "s3",
            "segment_max_records": 1000,
        }
    }
    config["state"] = str(tmp / "state.db")
    path = tmp / "kafka-dr.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env_args = ("--config", str(config), "--log-level", "info")
    os.environ[SECRET_ENV] = SECRET_ACCESS_KEY
    return run_cli(*env_args, *args, timeout=600)


def manifests(server: S3Server, prefix: str) -> list[str]:
    listing = server.client.list_objects_v2(
        Bucket=server.bucket, Prefix=f"{prefix}/s3job/manifests/"
    )
    return [o["Key"] for o in listing.get("Contents", [])]


@pytest.fixture
def topic(lab: RunningLab) -> str:
    create_topic(lab.bootstrap("primary"), "s3.orders", partitions=2, replication=3)
    return "s3.orders"


def test_incremental_backups_to_s3_verify_and_restore(
    lab: RunningLab, tmp_path: Path, s3_server: S3Server, s3_prefix: str, topic: str
) -> None:
    config = s3_config(lab, tmp_path, s3_server, s3_server.endpoint_url, s3_prefix, r"s3\.orders")
    produce_records(lab.bootstrap("primary"), topic, 3000)
    first = cli(config, "backup", "run", "s3job", "--json")
    assert first.returncode == 0, first.stderr
    produce_records(lab.bootstrap("primary"), topic, 500)
    second = cli(config, "backup", "run", "s3job", "--json")
    assert json.loads(second.stdout)["records"] == 500

    key = next(k for k in _keys(s3_server, s3_prefix) if k.endswith(".seg"))
    assert (
        s3_server.client.head_object(Bucket=s3_server.bucket, Key=key)["ServerSideEncryption"]
        == "AES256"
    )
    assert cli(config, "backup", "verify", "latest", "--deep").returncode == 0
    restored = cli(
        config, "restore", "latest", "--to", "dr", "--rename", f"{topic}=s3.restored", "--yes"
    )
    assert restored.returncode == 0, restored.stderr
    assert count_records(lab.bootstrap("dr"), "s3.restored") == 3500
    for proc in (first, second, restored):
        assert SECRET_ACCESS_KEY not in proc.stdout + proc.stderr


def test_s3_throttling_and_dropped_connections_are_retried(
    lab: RunningLab,
    tmp_path: Path,
    s3_server: S3Server,
    s3_prefix: str,
    topic: str,
    fault_proxy: FaultProxy,
) -> None:
    config = s3_config(lab, tmp_path, s3_server, fault_proxy.url, s3_prefix, r"s3\.orders")
    produce_records(lab.bootstrap("primary"), topic, 2000)
    fault_proxy.fail_next(2, "503")
    fault_proxy.fail_next(1, "drop", after=3)
    proc = cli(config, "backup", "run", "s3job", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "s3_retry" in proc.stderr
    assert cli(config, "backup", "verify", "latest").returncode == 0


def test_a_persistent_s3_failure_fails_clearly_and_records_nothing(
    lab: RunningLab,
    tmp_path: Path,
    s3_server: S3Server,
    s3_prefix: str,
    topic: str,
    fault_proxy: FaultProxy,
) -> None:
    config = s3_config(lab, tmp_path, s3_server, fault_proxy.url, s3_prefix, r"s3\.orders")
    produce_records(lab.bootstrap("primary"), topic, 1000)
    fault_proxy.fail_next(10_000, "500", after=2)
    failed = cli(config, "backup", "run", "s3job")
    fault_proxy.clear()
    assert failed.returncode == 2
    last = failed.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "Traceback" not in failed.stderr
    assert manifests(s3_server, s3_prefix) == []

    again = cli(config, "backup", "run", "s3job", "--json")
    assert again.returncode == 0, again.stderr
    assert len(manifests(s3_server, s3_prefix)) == 1
    assert cli(config, "backup", "verify", "latest", "--deep").returncode == 0


def _keys(server: S3Server, prefix: str) -> list[str]:
    listing = server.client.list_objects_v2(Bucket=server.bucket, Prefix=f"{prefix}/")
    return [o["Key"] for o in listing.get("Contents", [])]
