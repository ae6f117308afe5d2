"""The lab's Kafka Connect worker: distributed mode on the dr cluster, where MirrorMaker 2's
connectors can be deployed through the REST API (``mirror.deploy: connect``)."""

from __future__ import annotations

import json
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

from dr.config.schema import ClusterSettings
from dr.errors import LabError
from dr.kafka.client import escape_property, java_properties
from dr.kafka.jars import KafkaJars
from dr.kafka.java import java_command, logging_options
from dr.lab import processes
from dr.lab.nodes import free_ports, log_tail
from dr.lab.security import MIRRORMAKER, lab_secrets, write_private
from dr.lab.state import ConnectRecord, LabState, save_state
from dr.mirror.properties import FILE_PROVIDER

CONNECT_MAIN = "org.apache.kafka.connect.cli.ConnectDistributed"
CONNECT_HEAP_MB = 384
READY_TIMEOUT_S = 180.0


def worker_properties(
    bootstrap: str,
    port: int,
    replication: int,
    home: Path,
    client: dict[str, str] | None = None,
) -> str:
    """connect-distributed.properties for a one-worker lab cluster; ``client``: the worker's
    own Java client settings on a secure lab (for itself, its producers and consumers)."""
    rf = str(replication)
    props = {
        "bootstrap.servers": bootstrap,
        "group.id": "kafka-dr-lab-connect",
        "listeners": f"http://127.0.0.1:{port}",
        "rest.advertised.host.name": "127.0.0.1",
        "key.converter": "org.apache.kafka.connect.converters.ByteArrayConverter",
        "value.converter": "org.apache.kafka.connect.converters.ByteArrayConverter",
        "config.storage.topic": "kafka-dr-lab-connect-configs",
        "offset.storage.topic": "kafka-dr-lab-connect-offsets",
        "status.storage.topic": "kafka-dr-lab-connect-status",
        "config.storage.replication.factor": rf,
        "offset.storage.replication.factor": rf,
        "status.storage.replication.factor": rf,
        "offset.flush.interval.ms": "2000",
        "scheduled.rebalance.max.delay.ms": "1000",
        "plugin.discovery": "only_scan",
        # Connector configs may refer to secrets in files (mirror.secrets_file).
        "config.providers": "file",
        "config.providers.file.class": FILE_PROVIDER,
    }
    for key, value in (client or {}).items():
        for prefix in ("", "producer.", "consumer.", "admin."):
            props[prefix + key] = value
    lines = ["# kafka-dr lab: Kafka Connect worker"]
    lines += [f"{k}={escape_property(v)}" for k, v in props.items()]
    return "\n".join(lines) + "\n"


def start_connect(
    lab_dir: Path, logging_dir: Path, state: LabState, jars: KafkaJars, *, target: str = "dr"
) -> LabState:
    """Start the worker (if it is not running) and wait until its REST API answers."""
    if state.connect and processes.is_running(state.connect.pid, state.connect.config):
        return state
    home = lab_dir / "connect"
    (home / "logs").mkdir(parents=True, exist_ok=True)
    port = state.connect.port if state.connect else free_ports(1)[0]
    cluster = state.cluster(target)
    config = home / "connect-distributed.properties"
    client = None
    if state.secure:  # the worker runs as MirrorMaker's user
        own = lab_secrets(lab_dir).client_properties(MIRRORMAKER)
        settings = ClusterSettings.model_validate(
            {"bootstrap_servers": cluster.bootstrap_servers, "client": own}
        )
        client = java_properties(settings)
    rf = min(3, len(cluster.nodes))
    text = worker_properties(cluster.bootstrap_servers, port, rf, home, client)
    write_private(config, text)
    cmd = java_command(
        jars,
        CONNECT_MAIN,
        [str(config)],
        heap_mb=CONNECT_HEAP_MB,
        jvm_options=logging_options(
            logging_dir / "log4j2.properties", logging_dir / "log4j.properties", home / "logs"
        ),
    )
    pid = processes.start_detached(cmd, cwd=home, log_file=home / "logs" / "stdout.log")
    record = ConnectRecord(config=str(config), home=str(home), port=port, pid=pid)
    state = replace(state, connect=record)
    save_state(lab_dir, state)
    _wait_ready(record)
    return state


def stop_connect(state: LabState) -> bool:
    """Stop the worker; False when it was not running."""
    if state.connect is None:
        return False
    running = processes.is_running(state.connect.pid, state.connect.config)
    processes.stop(state.connect.pid, state.connect.config, grace_s=20)
    return running


def _wait_ready(record: ConnectRecord) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if processes.has_exited(record.pid, record.config):
            raise LabError(
                f"Kafka Connect exited during start-up: {log_tail(Path(record.home) / 'logs')}"
            )
        try:
            with urllib.request.urlopen(f"{record.url}/connectors", timeout=5) as response:
                json.loads(response.read())
                return
        except (OSError, ValueError):
            time.sleep(1)
    raise LabError(f"Kafka Connect did not answer on {record.url} within {READY_TIMEOUT_S:.0f}s")
