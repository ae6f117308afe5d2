"""Errors that say what and where, fast: a cluster on a closed port or an unknown host, and an
S3 endpoint nobody listens on, fail the real commands within seconds, in one line naming the
cluster and its bootstrap address (the store and its endpoint); Ctrl-C ends a command that
waits on a silent cluster with 130 at once. No lab: only closed ports and a silent socket."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from integration.conftest import run_cli

UNKNOWN_HOST = "no-such-host.invalid:9092"
FAST_S = 10.0


def closed_port() -> int:
    """A port on 127.0.0.1 that nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_broker() -> Iterator[str]:
    """host:port of a socket that takes connections and never answers (a hung broker)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"127.0.0.1:{sock.getsockname()[1]}"


def write_config(tmp_path: Path, *, closed: str, silent: str | None = None) -> Path:
    clusters: dict[str, dict[str, object]] = {
        "primary": {"bootstrap_servers": closed},
        "dr": {"bootstrap_servers": UNKNOWN_HOST},
    }
    if silent is not None:
        clusters["hung"] = {"bootstrap_servers": silent, "timeout_s": 120}
    s3_port = closed_port()
    doc = {
        "clusters": clusters,
        "storage": {
            "offsite": {
                "url": "s3://backups/prod",
                "endpoint_url": f"http://127.0.0.1:{s3_port}",
                "region": "us-east-1",
                "access_key_id": "AKIAEXAMPLE",
                "secret_access_key": "not-a-real-secret",
            },
            "local": {"url": (tmp_path / "store").as_uri()},
        },
        "backups": {
            "orders": {"cluster": "primary", "topics": ["orders"], "storage": "local"},
            "orders-dr": {"cluster": "dr", "topics": ["orders"], "storage": "local"},
            "offsite": {"cluster": "primary", "topics": ["orders"], "storage": "offsite"},
            **(
                {"hung": {"cluster": "hung", "topics": ["orders"], "storage": "local"}}
                if silent
                else {}
            ),
        },
        "mirror": {"flows": [{"source": "primary", "target": "dr"}]},
    }
    path = tmp_path / "kafka-dr.yaml"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def timed(config: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    proc = run_cli("--config", str(config), *args, timeout=120)
    return proc, time.monotonic() - started


def test_backup_run_fails_fast_naming_a_cluster_on_a_closed_port(tmp_path: Path) -> None:
    closed = f"127.0.0.1:{closed_port()}"
    proc, seconds = timed(write_config(tmp_path, closed=closed), "backup", "run", "orders")

    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"error: cluster 'primary' ({closed}) is unreachable: Connect to ipv4#{closed} failed: "
        "Connection refused"
    ]
    assert seconds < FAST_S, f"took {seconds:.1f}s"


def test_backup_run_fails_fast_naming_a_cluster_whose_host_is_unknown(tmp_path: Path) -> None:
    config = write_config(tmp_path, closed=f"127.0.0.1:{closed_port()}")

    proc, seconds = timed(config, "backup", "run", "orders-dr")

    assert proc.returncode == 2
    [line] = proc.stderr.splitlines()
    assert line.startswith(f"error: cluster 'dr' ({UNKNOWN_HOST}) is unreachable: ")
    assert "resolve" in line.lower(), line
    assert seconds < FAST_S, f"took {seconds:.1f}s"


def test_status_reports_both_clusters_unreachable_fast_each_named(tmp_path: Path) -> None:
    closed = f"127.0.0.1:{closed_port()}"

    proc, seconds = timed(write_config(tmp_path, closed=closed), "status", "--json")

    assert proc.returncode == 2
    clusters = json.loads(proc.stdout)["clusters"]
    assert not clusters["primary"]["reachable"] and not clusters["dr"]["reachable"]
    assert clusters["primary"]["error"].startswith(f"cluster 'primary' ({closed}) is unreachable")
    assert clusters["dr"]["error"].startswith(f"cluster 'dr' ({UNKNOWN_HOST}) is unreachable")
    assert proc.stderr == ""
    assert seconds < FAST_S, f"took {seconds:.1f}s"


def test_rpo_status_names_each_unreachable_cluster_and_the_unreachable_store_fast(
    tmp_path: Path,
) -> None:
    closed = f"127.0.0.1:{closed_port()}"
    config = write_config(tmp_path, closed=closed)
    endpoint = json.loads(config.read_text())["storage"]["offsite"]["endpoint_url"]

    proc, seconds = timed(config, "rpo", "status", "--json")

    assert proc.returncode == 1, proc.stderr
    unmeasured = json.loads(proc.stdout)["errors"]
    assert unmeasured["primary->dr"].startswith(f"cluster 'primary' ({closed}) is unreachable")
    assert unmeasured["orders-dr"].startswith(f"cluster 'dr' ({UNKNOWN_HOST}) is unreachable")
    assert unmeasured["offsite"].startswith(
        f"store 'offsite' (s3://backups/prod at {endpoint}) is unreachable: Connection refused"
    )
    assert seconds < FAST_S, f"took {seconds:.1f}s"


def test_an_s3_endpoint_nobody_listens_on_fails_fast_naming_the_store(tmp_path: Path) -> None:
    config = write_config(tmp_path, closed=f"127.0.0.1:{closed_port()}")
    endpoint = json.loads(config.read_text())["storage"]["offsite"]["endpoint_url"]

    proc, seconds = timed(config, "backup", "list", "offsite")

    assert proc.returncode == 2
    [line] = proc.stderr.splitlines()
    assert line.startswith(
        f"error: store 'offsite' (s3://backups/prod at {endpoint}) is unreachable: "
        "Connection refused"
    ), line
    assert seconds < FAST_S, f"took {seconds:.1f}s"


@pytest.mark.parametrize("command", [("status", "--cluster", "hung"), ("backup", "run", "hung")])
def test_ctrl_c_while_a_silent_cluster_is_awaited_exits_130_at_once(
    tmp_path: Path, silent_broker: str, command: tuple[str, ...]
) -> None:
    config = write_config(tmp_path, closed=f"127.0.0.1:{closed_port()}", silent=silent_broker)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dr", "--config", str(config), *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C reaches the command as in a terminal, even when the tests run in the background.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        time.sleep(4)  # started, and waiting on the silent broker (its timeout_s is 120)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGINT)
        interrupted = time.monotonic()
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    seconds = time.monotonic() - interrupted

    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "error: interrupted"
    assert seconds < 2, f"exited {seconds:.1f}s after Ctrl-C"
