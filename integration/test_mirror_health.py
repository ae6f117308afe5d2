"""MirrorMaker health on the lab (issue 8): a dead process, stale heartbeats, missing, paused and
failed connectors, a restart that failed, a Connect worker that does not answer.

The dedicated tests kill the lab's own MirrorMaker and start it again: they leave it running and
healthy. The Connect tests run a flow from an alias of their own (a second name for the lab's
primary cluster), so that their connectors, replica topics and heartbeats are theirs alone; they
delete their connectors and stop the Connect worker when done.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dr.lab.traffic import create_topic, produce_records, wait_for_records
from integration.conftest import (
    MIRROR_CONNECTORS,
    RunningLab,
    delete_connectors,
    run_cli,
    wait_until,
)

pytestmark = pytest.mark.timeout(900)
KILL_DEADLINE_S = 30.0  # issue 8: kill -9 to `mirror status` exit 1, default settings


def lab_config(lab: RunningLab) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(lab.config.read_text())
    config["backups"] = {}  # RPO of the flows only
    return config


def write(config: dict[str, Any], path: Path) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


def mirror_status(config: Path, *args: str) -> tuple[int, dict[str, Any]]:
    """`mirror status --json` with this config: exit code and the one flow's status."""
    proc = run_cli("--config", str(config), "mirror", "status", "--json", *args, timeout=120)
    assert proc.returncode in (0, 1), proc.stderr
    (flow,) = json.loads(proc.stdout)["flows"].values()
    return proc.returncode, flow


def running_and_fresh(config: Path) -> dict[str, Any] | None:
    _, flow = mirror_status(config)
    return flow if flow["state"] == "running" and flow["heartbeat"] == "fresh" else None


def first_exit_1(config: Path, since: float) -> tuple[float, dict[str, Any]]:
    """Poll `mirror status` until it exits 1; the seconds since `since`, and the flow then."""
    while time.monotonic() - since < 2 * KILL_DEADLINE_S:
        code, flow = mirror_status(config)
        if code == 1:
            return time.monotonic() - since, flow
    raise AssertionError(f"mirror status still exits 0 {2 * KILL_DEADLINE_S:.0f}s after the kill")


def mirror_running(lab: RunningLab) -> bool:
    return lab.lab.mirror_pid() is not None


@pytest.fixture
def mirrormaker_restored(lab: RunningLab) -> Iterator[None]:
    """Whatever the test does to the lab's MirrorMaker, it runs and heartbeats afterwards."""
    try:
        yield
    finally:
        if not mirror_running(lab):
            lab.lab_cli("mirror", "start")
        wait_until(
            lambda: running_and_fresh(lab.config),
            timeout_s=180,
            what="the lab's MirrorMaker to run and heartbeat again",
        )


# -- a dead dedicated MirrorMaker -------------------------------------------------------------


def test_a_killed_mirrormaker_makes_mirror_status_exit_1_within_30s_and_rpo_flags_it_stalled(
    lab: RunningLab, tmp_path: Path, mirrormaker_restored: None
) -> None:
    topic = f"mh.kill.{uuid.uuid4().hex[:8]}"
    primary = lab.bootstrap("primary")
    create_topic(primary, topic, partitions=1, replication=3)
    produce_records(primary, topic, 5)
    wait_for_records(lab.bootstrap("dr"), f"primary.{topic}", 5)
    # The lab's config asks the lab whether MirrorMaker runs (status_command); this one has
    # no process check at all, so only the heartbeats can tell.
    heartbeat_only = lab_config(lab)
    del heartbeat_only["mirror"]["status_command"]
    heartbeat_only["mirror"]["flows"][0]["topics"] = [topic.replace(".", "\\.")]
    heartbeat_only_path = write(heartbeat_only, tmp_path / "heartbeat-only.yaml")
    before = wait_until(
        lambda: running_and_fresh(lab.config), timeout_s=120, what="MirrorMaker to run"
    )
    assert before["process"]["running"] is True
    code, _ = mirror_status(heartbeat_only_path)
    assert code == 0

    pid = lab.lab.mirror_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    with_status_command, flow = first_exit_1(lab.config, killed_at)
    heartbeat_only_s, hb_flow = first_exit_1(heartbeat_only_path, killed_at)
    print(
        f"\nkill -9 -> mirror status exit 1: {with_status_command:.1f}s with the lab's "
        f"status_command, {heartbeat_only_s:.1f}s from heartbeats alone"
    )

    assert with_status_command < KILL_DEADLINE_S
    assert flow["state"] == "down"
    assert flow["process"]["running"] is False
    assert "MirrorMaker is not running: mirror.status_command exited 3" in flow["reasons"][0]
    assert heartbeat_only_s < KILL_DEADLINE_S
    assert hb_flow["state"] == "stalled"
    assert hb_flow["heartbeat"] == "stale"
    assert hb_flow["heartbeat_age_seconds"] > hb_flow["heartbeat_stale_after_seconds"] == 10.0
    assert hb_flow["reasons"][0].startswith("no heartbeat from primary on dr for ")
    not_running = run_cli("lab", "mirror", "status", "--dir", str(lab.lab.dir))
    assert (not_running.returncode, not_running.stdout.strip()) == (
        3,
        "MirrorMaker 2 is not running",
    )
    # Nothing was produced since: nothing is lost yet, and the RPO says so; the stalled
    # replication is flagged beside it, and is a problem.
    rpo = run_cli("--config", str(heartbeat_only_path), "rpo", "status", "--json")
    rpo_flow = json.loads(rpo.stdout)["flows"]["primary->dr"]
    assert rpo.returncode == 1
    assert (rpo_flow["rpo_seconds"], rpo_flow["lag_messages"]) == (0.0, 0)
    assert rpo_flow["replication"] == "stalled"
    assert rpo_flow["replication_reason"].startswith("no heartbeat from primary on dr for ")
    text = run_cli("--config", str(heartbeat_only_path), "rpo", "status")
    assert "replication STALLED: no heartbeat from primary on dr" in text.stdout

    lab.lab_cli("mirror", "start")
    after = wait_until(
        lambda: running_and_fresh(lab.config), timeout_s=180, what="MirrorMaker to run again"
    )
    assert after["process"]["running"] is True
    assert run_cli("lab", "mirror", "status", "--dir", str(lab.lab.dir)).returncode == 0
    if before["healthy"]:
        assert mirror_status(lab.config)[0] == 0
    rpo_again = run_cli("--config", str(heartbeat_only_path), "rpo", "status", "--json")
    assert rpo_again.returncode == 0, rpo_again.stdout
    assert json.loads(rpo_again.stdout)["flows"]["primary->dr"]["replication"] == "ok"


def test_a_pid_file_tells_a_live_mirrormaker_from_a_dead_process(
    lab: RunningLab, tmp_path: Path
) -> None:
    config = lab_config(lab)
    del config["mirror"]["status_command"]
    config["mirror"]["pid_file"] = str(tmp_path / "mm2.pid")
    path = write(config, tmp_path / "pid-file.yaml")
    pid = wait_until(lab.lab.mirror_pid, timeout_s=60, what="the lab's MirrorMaker")
    (tmp_path / "mm2.pid").write_text(f"{pid}\n")

    _, alive = mirror_status(path)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (tmp_path / "mm2.pid").write_text(f"{gone.pid}\n")
    code, dead = mirror_status(path)

    assert alive["process"] == {
        "running": True,
        "detail": f"process {pid} from mirror.pid_file {tmp_path / 'mm2.pid'} is running",
    }
    assert (code, dead["state"], dead["process"]["running"]) == (1, "down", False)
    assert dead["reasons"][0] == (
        f"MirrorMaker is not running: process {gone.pid} from mirror.pid_file "
        f"{tmp_path / 'mm2.pid'} is not running"
    )


# -- a restart that failed ------------------------------------------------------------------


def test_a_failed_restart_is_pending_until_the_next_apply_restarts_again(
    lab: RunningLab, tmp_path: Path
) -> None:
    restarts = tmp_path / "restarts"
    properties = tmp_path / "mm2.properties"
    marker = tmp_path / "mm2.properties.restart-pending"
    config = lab_config(lab)
    config["mirror"]["properties_file"] = str(properties)
    config["mirror"]["restart_command"] = ["false"]
    failing = write(config, tmp_path / "failing.yaml")
    config["mirror"]["restart_command"] = [
        sys.executable,
        "-c",
        f"open({str(restarts)!r}, 'a').write('x')",
    ]
    fixed = write(config, tmp_path / "fixed.yaml")

    def cli(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli("--config", str(path), "mirror", *args, timeout=120)

    failed = cli(failing, "apply", "--yes")
    assert failed.returncode == 2
    assert failed.stderr.count("\n") == 1 and failed.stderr.startswith("error: ")
    assert "mirror.restart_command exited 1" in failed.stderr
    assert "restart stays pending" in failed.stderr
    assert properties.exists() and marker.exists()

    code, pending = mirror_status(fixed)
    assert (code, pending["healthy"], pending["restart_pending"]) == (1, False, True)
    assert pending["state"] == "degraded"
    assert (
        "restart pending: config on disk differs from the running one "
        "(run 'kafka-dr mirror apply' to restart MirrorMaker)" in pending["reasons"]
    )
    text = cli(fixed, "status")
    assert "restart pending: config on disk differs from the running one" in text.stdout

    dry = cli(fixed, "apply", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert (
        dry.stdout.strip() == f"DRY RUN: {properties}: restart pending (would restart MirrorMaker)"
    )
    assert marker.exists() and not restarts.exists()

    retried = cli(fixed, "apply", "--yes", "--json")
    assert retried.returncode == 0, retried.stderr
    assert json.loads(retried.stdout) == {
        "deploy": "dedicated",
        "path": str(properties),
        "changed": False,
        "restart_pending": True,
        "restarted": True,
        "dry_run": False,
    }
    assert restarts.read_text() == "x" and not marker.exists()

    again = cli(fixed, "apply")
    assert again.stdout.strip() == f"{properties}: nothing to change"
    assert restarts.read_text() == "x"
    assert mirror_status(fixed)[1]["restart_pending"] is False


# -- Connect mode ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def connect_url(lab: RunningLab) -> Iterator[str]:
    url = lab.lab_cli("connect", "start").stdout.strip()
    try:
        yield url
    finally:
        lab.lab_cli("connect", "stop")


def connect_config(lab: RunningLab, url: str, tmp_path: Path, **flow: Any) -> tuple[Path, str]:
    """A Connect-mode config with one flow from a fresh alias of primary; the flow's name."""
    alias = f"mh{uuid.uuid4().hex[:6]}"
    config = lab_config(lab)
    config["clusters"][alias] = config["clusters"]["primary"]
    config["mirror"] = {
        "deploy": "connect",
        "connect_url": url,
        "flows": [
            {
                "source": alias,
                "target": "dr",
                "topics": [f"{alias}\\..*"],
                "checkpoint_interval_s": 5,
                **flow,
                "properties": {
                    "replication.factor": "1",
                    "checkpoints.topic.replication.factor": "1",
                    "heartbeats.topic.replication.factor": "1",
                    "refresh.topics.interval.seconds": "5",
                    **flow.get("properties", {}),
                },
            }
        ],
    }
    return write(config, tmp_path / f"{alias}.yaml"), f"{alias}->dr"


def apply(config: Path) -> None:
    proc = run_cli("--config", str(config), "mirror", "apply", "--yes", timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_connect_flows_missing_deleted_and_paused_connectors_are_unhealthy(
    lab: RunningLab, connect_url: str, tmp_path: Path
) -> None:
    config, flow = connect_config(lab, connect_url, tmp_path)
    names = [f"{flow}.{c}" for c in MIRROR_CONNECTORS]
    try:
        code, nothing = mirror_status(config)
        assert (code, nothing["state"], nothing["healthy"]) == (1, "down", False)
        assert sorted(nothing["missing_connectors"]) == sorted(names)
        assert all(f"connector {n} is not deployed" in " ".join(nothing["reasons"]) for n in names)
        text = run_cli("--config", str(config), "mirror", "status")
        assert text.returncode == 1
        assert all(f"connector {n} is not deployed" in text.stdout for n in names)

        apply(config)
        running = wait_until(
            lambda: running_and_fresh(config), timeout_s=120, what="the flow's connectors to run"
        )
        assert running["missing_connectors"] == [] and running["healthy"] is True
        assert mirror_status(config)[0] == 0

        delete_connectors(connect_url, flow)  # out of band, behind kafka-dr's back
        deleted = wait_until(
            lambda: len((f := mirror_status(config)[1])["missing_connectors"]) == 3 and f,
            timeout_s=30,
            what="the deleted connectors to be missed",
        )
        assert (deleted["state"], deleted["healthy"]) == ("down", False)
        assert sorted(deleted["missing_connectors"]) == sorted(names)
        assert mirror_status(config)[0] == 1

        apply(config)
        wait_until(lambda: running_and_fresh(config), timeout_s=120, what="the connectors again")
        assert run_cli("--config", str(config), "mirror", "pause").returncode == 0
        code, paused = mirror_status(config)
        assert (code, paused["state"], paused["healthy"]) == (1, "paused", False)
        assert f"connector {names[0]} is PAUSED" in paused["reasons"]
        # A paused heartbeat connector emits nothing: its heartbeats go stale too.
        stale = wait_until(
            lambda: (f := mirror_status(config)[1])["heartbeat"] == "stale" and f,
            timeout_s=60,
            what="the paused flow's heartbeat to go stale",
        )
        assert stale["state"] == "paused"
        alias = flow.split("->")[0]
        assert any(r.startswith(f"no heartbeat from {alias} on dr for ") for r in stale["reasons"])

        assert run_cli("--config", str(config), "mirror", "resume").returncode == 0
        wait_until(lambda: running_and_fresh(config), timeout_s=120, what="the flow to resume")
    finally:
        delete_connectors(connect_url, flow)


def test_a_failed_connector_fails_the_flow_and_verbose_shows_its_trace(
    lab: RunningLab, connect_url: str, tmp_path: Path
) -> None:
    unresolvable = {"target.cluster.bootstrap.servers": "nowhere.invalid:9092"}
    config, flow = connect_config(
        lab, connect_url, tmp_path, heartbeats=False, properties=unresolvable
    )
    try:
        apply(config)
        failed = wait_until(
            lambda: (f := mirror_status(config, "--verbose")[1])["state"] == "failed" and f,
            timeout_s=120,
            what="the connectors to fail",
        )
        source = next(c for c in failed["connectors"] if c["name"].endswith("SourceConnector"))
        assert source["state"] == "FAILED"
        assert source["trace"] == source["full_trace"].splitlines()[0]
        assert "No resolvable bootstrap urls" in source["full_trace"]
        assert f"connector {source['name']} FAILED: {source['trace']}" in failed["reasons"]
        assert failed["heartbeat"] == "unmeasured (heartbeats disabled)"

        text = run_cli("--config", str(config), "mirror", "status", "--verbose")
        assert text.returncode == 1
        assert "Caused by: org.apache.kafka.common.config.ConfigException: No resolvable" in (
            text.stdout
        )
        plain = run_cli("--config", str(config), "mirror", "status", "--json")
        assert "full_trace" not in plain.stdout
    finally:
        delete_connectors(connect_url, flow)


# -- Connect REST failures and config mistakes: one line ------------------------------------


def test_an_unreachable_connect_worker_is_one_error_line_naming_the_url(
    lab: RunningLab, tmp_path: Path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    config, _ = connect_config(lab, url, tmp_path)

    started = time.monotonic()
    proc = run_cli("--config", str(config), "mirror", "status", timeout=120)
    elapsed = time.monotonic() - started

    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("error: Kafka Connect GET /connectors/")
    assert f"at {url} failed after" in proc.stderr
    assert "Connection refused" in proc.stderr
    assert elapsed < 30 + 15  # the client's retry deadline, and the command's own start


@pytest.mark.parametrize(
    ("mirror", "key", "hint"),
    [
        (
            {"deploy": "connect", "connect_url": "http://c:8083", "restart_command": ["true"]},
            "mirror.restart_command",
            "mirror.restart_command is for deploy: dedicated",
        ),
        (
            {"deploy": "connect", "connect_url": "ftp://c:8083"},
            "mirror.connect_url",
            "'ftp://c:8083' is not an http(s)://HOST[:PORT] URL",
        ),
        (
            {"deploy": "dedicated", "connect_url": "http://c:8083"},
            "mirror.connect_url",
            "mirror.connect_url is for deploy: connect",
        ),
    ],
)
def test_a_mirror_config_mistake_is_one_error_line_naming_the_key(
    lab: RunningLab, tmp_path: Path, mirror: dict[str, Any], key: str, hint: str
) -> None:
    config = lab_config(lab)
    config["mirror"] = {**mirror, "flows": [{"source": "primary", "target": "dr"}]}
    path = write(config, tmp_path / "mistake.yaml")

    proc = run_cli("--config", str(path), "mirror", "status")

    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(f"error: config {path}: at '{key}': ")
    assert hint in proc.stderr
