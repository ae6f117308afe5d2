"""The lab's dedicated MirrorMaker 2 (primary->dr): its properties and its JVM."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from confluent_kafka import KafkaException

from dr.config import load_config
from dr.config.schema import ClusterSettings
from dr.errors import LabError
from dr.kafka.client import admin_client
from dr.kafka.jars import KafkaJars
from dr.kafka.java import java_command, logging_options
from dr.lab import processes
from dr.lab.labconfig import lab_flow, lab_mirror_overrides
from dr.lab.nodes import log_tail
from dr.lab.security import admin_settings, write_private
from dr.lab.state import LabState, MirrorRecord, save_state
from dr.mirror import deploy
from dr.mirror.properties import render_dedicated

MIRROR_HEAP_MB = 256
MIRROR_MAIN = "org.apache.kafka.connect.mirror.MirrorMaker"
READY_TIMEOUT_S = 180.0


def start_mirror(
    lab_dir: Path, logging_dir: Path, state: LabState, jars: KafkaJars, *, wait: bool = True
) -> LabState:
    """Start MirrorMaker 2 (its properties written on first start); with wait, return once
    its heartbeats reach the target."""
    home = lab_dir / "mirror"
    (home / "logs").mkdir(parents=True, exist_ok=True)
    config = home / "mm2.properties"
    if not config.exists():  # `kafka-dr mirror apply` may have written it since
        if state.secure:
            write_secure_properties(lab_dir, config)
        else:
            config.write_text(mirror_properties(state))
    cmd = java_command(
        jars,
        MIRROR_MAIN,
        [str(config)],
        heap_mb=MIRROR_HEAP_MB,
        jvm_options=logging_options(
            logging_dir / "log4j2.properties", logging_dir / "log4j.properties", home / "logs"
        ),
    )
    pid = processes.start_detached(cmd, cwd=home, log_file=home / "logs" / "stdout.log")
    state = replace(state, mirror=MirrorRecord(config=str(config), home=str(home), pid=pid))
    save_state(lab_dir, state)
    if wait:
        wait_mirror(state, lab_dir)
    return state


def wait_mirror(state: LabState, lab_dir: Path) -> None:
    """Wait until MirrorMaker's heartbeat connector writes to the target cluster."""
    assert state.mirror is not None
    target = state.mirror.target
    bootstrap = state.cluster(target).bootstrap_servers
    admin = admin_client(admin_settings(lab_dir, state.security, bootstrap))
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if processes.has_exited(state.mirror.pid, state.mirror.config):
            logs = Path(state.mirror.home) / "logs"
            raise LabError(f"MirrorMaker 2 exited during start-up: {log_tail(logs)}")
        try:
            if "heartbeats" in admin.list_topics(timeout=5).topics:
                return
        except KafkaException:
            pass
        time.sleep(1)
    raise LabError(f"MirrorMaker 2 wrote no heartbeat to '{target}' within {READY_TIMEOUT_S:.0f}s")


def mirror_properties(state: LabState) -> str:
    """mm2.properties for the lab, rendered as `kafka-dr mirror render` renders the lab config."""
    clusters = {
        name: ClusterSettings(bootstrap_servers=rec.bootstrap_servers)
        for name, rec in state.clusters.items()
    }
    return render_dedicated(clusters, [lab_flow()], overrides=lab_mirror_overrides(state))


def write_secure_properties(lab_dir: Path, path: Path) -> None:
    """A secure lab's mm2.properties, rendered from its config as `kafka-dr mirror apply`
    writes it: MirrorMaker's own SCRAM user, its password in the owner-only secrets file."""
    settings = load_config(lab_dir / "kafka-dr.yaml").settings
    deploy.write_secrets(settings)
    text = deploy.render(settings)
    assert isinstance(text, str)
    write_private(path, text)
