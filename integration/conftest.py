"""Integration fixtures: ONE real lab per test session (KRaft clusters and MirrorMaker 2).

The lab is started with the same code as `kafka-dr lab up`. Set KAFKA_DR_TEST_KAFKA_VERSION to
run the suite against another Kafka version (for example 3.9.1).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dr.lab import processes
from dr.lab.lab import Lab, LabOptions
from dr.lab.state import LabState

LAB_VERSION = os.environ.get("KAFKA_DR_TEST_KAFKA_VERSION") or None
MIRROR_CONNECTORS = (
    "MirrorSourceConnector",
    "MirrorCheckpointConnector",
    "MirrorHeartbeatConnector",
)


@dataclass
class RunningLab:
    """The session's lab and handy accessors."""

    lab: Lab
    state: LabState

    @property
    def config(self) -> Path:
        return self.lab.config_path

    def load_settings(self) -> tuple[Any, Any]:
        """The primary and dr ClusterSettings from the lab's config."""
        from dr.config import load_config

        settings = load_config(self.config).settings
        return settings.clusters["primary"], settings.clusters["dr"]

    def client(self, user: str = "admin") -> dict[str, str]:
        """librdkafka settings that connect as ``user`` ({} on a plaintext lab)."""
        from dr.lab.security import user_client_conf

        return user_client_conf(self.lab.dir, user)

    def bootstrap(self, cluster: str) -> str:
        return self.lab.state().cluster(cluster).bootstrap_servers

    def cli(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """Run the real kafka-dr command (a separate process) against the lab's config."""
        return run_cli("--config", str(self.config), *args, timeout=timeout)

    def cli_json(self, *args: str) -> tuple[int, dict[str, Any]]:
        proc = self.cli(*args, "--json")
        try:
            return proc.returncode, json.loads(proc.stdout)
        except json.JSONDecodeError:
            raise AssertionError(
                f"not JSON (exit {proc.returncode}): {proc.stdout}{proc.stderr}"
            ) from None

    def lab_cli(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        proc = run_cli("lab", *args, "--dir", str(self.lab.dir), timeout=timeout)
        assert proc.returncode == 0, proc.stderr
        return proc


def run_cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dr", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def delete_connectors(url: str, flow: str) -> None:
    """Delete the flow's Mirror connectors from a Connect worker (those it has).

    A worker keeps its connectors in its config topic across restarts: a test that leaves
    some behind finds them again in the next run on the same lab.
    """
    for connector in MIRROR_CONNECTORS:
        name = urllib.parse.quote(f"{flow}.{connector}", safe="")
        request = urllib.request.Request(f"{url}/connectors/{name}", method="DELETE")
        try:
            urllib.request.urlopen(request, timeout=30).close()
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise


def wait_until(
    predicate: Callable[[], Any], *, timeout_s: float, what: str, interval_s: float = 1.0
) -> Any:
    """Poll predicate until it returns something truthy; fails the test after timeout_s."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what} (last: {last!r})")


def wait_for_heartbeats(lab: RunningLab, *, timeout_s: float = 120) -> None:
    """Until MirrorMaker's newest heartbeat on dr is under 5 s old (it replicates again)."""

    def beating() -> bool:
        proc = lab.cli("rpo", "status", "--json")
        age = json.loads(proc.stdout)["flows"]["primary->dr"]["heartbeat_age_seconds"]
        return age is not None and age < 5

    wait_until(beating, timeout_s=timeout_s, what="MirrorMaker's heartbeats again")


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    shared = os.environ.get("KAFKA_DR_TEST_LAB_DIR")
    if shared:  # development only: reuse a lab started with `kafka-dr lab up --dir DIR`
        running = Lab(Path(shared))
        assert running.is_up(), f"KAFKA_DR_TEST_LAB_DIR={shared}: no lab is up there"
        yield RunningLab(lab=running, state=running.state())
        return
    the_lab = Lab(tmp_path_factory.mktemp("lab"))
    state = the_lab.up(
        LabOptions(kafka_version=LAB_VERSION, primary_brokers=3, dr_brokers=1, mirror=True)
    )
    try:
        yield RunningLab(lab=the_lab, state=state)
    finally:
        the_lab.down()
        left = processes.find_java_by_marker(str(the_lab.dir) + "/")
        assert not left, f"lab down left JVMs running: {left}"


@pytest.fixture(scope="session")
def secure_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    """A second lab, secured (`lab up --security sasl_ssl`: TLS, SCRAM users, ACLs), one
    broker per cluster. Its tests are marked lab_teardown: it starts once the session lab is
    down, so that only one lab runs at a time."""
    shared = os.environ.get("KAFKA_DR_TEST_SECURE_LAB_DIR")
    if shared:  # development only: reuse `kafka-dr lab up --security sasl_ssl --dir DIR`
        running = Lab(Path(shared))
        assert running.is_up(), f"KAFKA_DR_TEST_SECURE_LAB_DIR={shared}: no lab is up there"
        assert running.state().secure, f"the lab in {shared} is not a secure one"
        yield RunningLab(lab=running, state=running.state())
        return
    the_lab = Lab(tmp_path_factory.mktemp("secure-lab"))
    options = LabOptions(
        kafka_version=LAB_VERSION, primary_brokers=1, dr_brokers=1, security="sasl_ssl"
    )
    state = the_lab.up(options)
    try:
        yield RunningLab(lab=the_lab, state=state)
    finally:
        the_lab.down()
        left = processes.find_java_by_marker(str(the_lab.dir) + "/")
        assert not left, f"lab down left JVMs running: {left}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that tear the lab down run last."""
    items.sort(key=lambda item: item.get_closest_marker("lab_teardown") is not None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "lab_teardown: stops the session lab; runs last")


# The S3-API server (moto in server mode) and its fault-injecting proxy, for every test here.
from integration.s3server import (  # noqa: E402, F401
    _session_proxy,
    fault_proxy,
    s3_prefix,
    s3_server,
    s3_settings,
)
