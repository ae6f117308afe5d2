"""`kafka-dr check` against the real lab: it passes there, listing every cluster, the store, the
jars and MirrorMaker; a config with a bogus S3 endpoint and a closed Kafka port fails in under
10 s naming both; a real S3-API store passes its probe and lock."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import yaml

from integration.conftest import RunningLab, run_cli
from integration.s3server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, S3Server

CLUSTER_CHECKS = ("reachable", "authenticated", "brokers online", "ACLs", "KRaft quorum")


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def lab_config(lab: RunningLab) -> dict[str, Any]:
    loaded = yaml.safe_load(lab.config.read_text())
    assert isinstance(loaded, dict)
    return loaded


def write(config: dict[str, Any], tmp_path: Path) -> Path:
    config["state"] = str(tmp_path / "state.db")
    # A port of the test's own: a daemon another test left running must not matter here.
    config["daemon"] = {"listen": f"127.0.0.1:{closed_port()}"}
    path = tmp_path / "kafka-dr.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def checks_of(stdout: str) -> dict[str, dict[str, Any]]:
    doc = json.loads(stdout)
    return {c["name"]: c for c in doc["checks"]}


def test_check_passes_on_the_lab_and_lists_every_part_of_it(lab: RunningLab) -> None:
    proc = lab.cli("check", "--json", timeout=120)

    checks = checks_of(proc.stdout)
    failed = {n: c["detail"] for n, c in checks.items() if c["status"] == "fail"}
    assert proc.returncode == 0, failed or proc.stderr
    for cluster in ("primary", "dr"):
        for what in CLUSTER_CHECKS:
            assert checks[f"cluster {cluster} {what}"]["status"] == "ok", (cluster, what)
    assert checks["cluster primary ACLs"]["detail"] == "no authorizer: every operation is allowed"
    assert checks["cluster primary KRaft quorum"]["detail"].startswith("leader ")
    assert checks["store lab read/write"]["status"] == "ok"
    assert checks["store lab lock"]["status"] == "ok"
    assert checks["Java"]["status"] == "ok"
    assert checks["Kafka jars"]["status"] == "ok"
    assert checks["MirrorMaker"]["status"] == "ok"
    assert "daemon listen address" in checks
    store = Path(lab_config(lab)["storage"]["lab"]["url"].removeprefix("file://"))
    assert not (store / ".kafka-dr-check").exists()  # the probes leave nothing behind


def test_the_text_form_on_the_lab_is_one_line_per_check_and_a_passing_summary(
    lab: RunningLab,
) -> None:
    proc = lab.cli("check", timeout=120)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("OK    cluster primary reachable: cluster id ")
    assert lines[-1].startswith("check passed: ")
    assert all(line.startswith(("OK    ", "WARN  ", "      hint: ")) for line in lines[:-1])


def test_a_bogus_s3_endpoint_and_a_closed_kafka_port_fail_in_under_10s_naming_both(
    lab: RunningLab, tmp_path: Path
) -> None:
    s3_port, kafka_port = closed_port(), closed_port()
    config = lab_config(lab)
    config["storage"]["lab"] = {
        "url": "s3://kafka-dr-backups/lab",
        "endpoint_url": f"http://127.0.0.1:{s3_port}",
        "region": REGION,
        "access_key_id": ACCESS_KEY_ID,
        "secret_access_key": SECRET_ACCESS_KEY,
    }
    config["clusters"]["dr"]["bootstrap_servers"] = f"127.0.0.1:{kafka_port}"
    path = write(config, tmp_path)

    started = time.monotonic()
    proc = run_cli("--config", str(path), "check", timeout=60)
    took = time.monotonic() - started

    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert took < 10.0, f"kafka-dr check took {took:.1f}s"
    lines = proc.stdout.splitlines()
    store = next(ln for ln in lines if ln.startswith("FAIL  store lab read/write: "))
    assert f"s3://kafka-dr-backups/lab at http://127.0.0.1:{s3_port}" in store
    cluster = next(ln for ln in lines if ln.startswith("FAIL  cluster dr reachable: "))
    assert f"no broker answered at 127.0.0.1:{kafka_port}" in cluster
    assert "Connection refused" in cluster
    assert "OK    cluster primary reachable: " in proc.stdout  # the rest is still checked
    assert lines[-1].startswith("check failed: ")
    print(f"bogus config: kafka-dr check failed in {took:.2f}s")


def test_a_real_s3_store_passes_its_probe_and_lock_and_a_shared_secret_file_warns(
    lab: RunningLab, tmp_path: Path, s3_server: S3Server, s3_prefix: str
) -> None:
    secret = tmp_path / "s3.secret"
    secret.write_text(SECRET_ACCESS_KEY + "\n")
    secret.chmod(0o644)
    config = lab_config(lab)
    config["storage"]["lab"] = {
        "url": f"s3://{s3_server.bucket}/{s3_prefix}",
        "endpoint_url": s3_server.endpoint_url,
        "region": REGION,
        "access_key_id": ACCESS_KEY_ID,
        "secret_access_key": "${file:" + str(secret) + "}",
    }
    path = write(config, tmp_path)

    proc = run_cli("--config", str(path), "check", "--json", timeout=120)

    checks = checks_of(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr  # a warning does not fail it
    assert checks["store lab read/write"]["status"] == "ok"
    assert checks["store lab lock"]["status"] == "ok"
    assert s3_server.endpoint_url in checks["store lab read/write"]["subject"]
    shared = checks[f"secret file {secret}"]
    assert shared["status"] == "warn"
    assert shared["hint"].startswith(f"chmod 600 {secret}")
    listing = s3_server.client.list_objects_v2(Bucket=s3_server.bucket, Prefix=s3_prefix)
    assert listing.get("KeyCount", 0) == 0  # probes and lease removed
