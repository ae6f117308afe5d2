"""The kafka-dr config that describes a running lab (DIR/kafka-dr.yaml)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import yaml

from dr.config.load import parse_config
from dr.config.schema import MirrorFlow
from dr.lab.security import KAFKA_DR, MIRRORMAKER, lab_secrets
from dr.lab.state import LabState

HEADER = """# Written by 'kafka-dr lab up': a kafka-dr config for the local lab in this directory.
# Use it with: kafka-dr --config {path} status
"""


def lab_flow() -> MirrorFlow:
    """The lab's replication flow: everything from primary to dr, checkpoints every 5 s."""
    return MirrorFlow(source="primary", target="dr", checkpoint_interval_s=5)


def lab_mirror_overrides(state: LabState) -> dict[str, str]:
    """MirrorMaker settings for the lab: short refresh intervals, replication factors that fit."""
    target_rf = str(min(3, len(state.cluster("dr").nodes)))
    source_rf = str(min(3, len(state.cluster("primary").nodes)))
    return {
        "replication.factor": target_rf,
        "checkpoints.topic.replication.factor": target_rf,
        "heartbeats.topic.replication.factor": target_rf,
        "offset-syncs.topic.replication.factor": source_rf,
        "offset.storage.replication.factor": target_rf,
        "config.storage.replication.factor": target_rf,
        "status.storage.replication.factor": target_rf,
        "refresh.topics.interval.seconds": "5",
        "refresh.groups.interval.seconds": "5",
        "sync.topic.configs.interval.seconds": "10",
        "emit.heartbeats.interval.seconds": "1",
        "tasks.max": "2",
    }


def lab_config(state: LabState, lab_dir: Path, *, mirror: bool) -> dict[str, Any]:
    """The config as a mapping: both clusters with their brokers, objectives, a local store."""
    # access: kafka-dr's broker procedures reach the lab's nodes through the lab itself.
    secrets = lab_secrets(lab_dir.resolve()) if state.secure else None
    clusters = {
        name: {
            "bootstrap_servers": rec.bootstrap_servers,
            "brokers": [
                {
                    "id": n.id,
                    "host": "127.0.0.1",
                    "log_dirs": [str(n.spec(name).log_dir)],
                    "config_file": str(n.spec(name).config_file),
                }
                for n in rec.nodes
            ],
            "access": {"kind": "lab", "dir": str(lab_dir.resolve())},
            # A secure lab: kafka-dr's own SCRAM user over TLS, its password in a 0600 file.
            **({"client": secrets.config_client(KAFKA_DR)} if secrets else {}),
            # The lab exists to be broken: failover and broker-loss drills may run on it.
            "drillable": True,
        }
        for name, rec in state.clusters.items()
    }
    config: dict[str, Any] = {
        "clusters": clusters,
        "objectives": {"rpo_seconds": 60, "rto_seconds": 600},
        "storage": {"lab": {"url": (lab_dir / "store").as_uri()}},
        "backups": {
            "demo": {
                "cluster": "primary",
                "topics": [r"demo\..*"],
                "storage": "lab",
                "schedule": "*/15 * * * *",
                "retention": {"keep_last": 96, "min_keep": 3},
                # Backed up every 15 minutes: its RPO is up to 15 minutes plus a run, so the
                # global 60 s objective (the mirror flow's) would be breached from the start.
                "objectives": {"rpo_seconds": 1200},
            }
        },
    }
    if mirror:
        config["mirror"] = {
            "deploy": "dedicated",
            "properties": lab_mirror_overrides(state),
            "properties_file": str(lab_dir / "mirror" / "mm2.properties"),
            "restart_command": _lab_mirror_command("restart", lab_dir),
            "status_command": _lab_mirror_command("status", lab_dir),
            "stop_command": _lab_mirror_command("stop", lab_dir),
            "flows": [
                {
                    "source": "primary",
                    "target": "dr",
                    "topics": [".*"],
                    "groups": [".*"],
                    "checkpoint_interval_s": 5,
                }
            ],
        }
        if secrets:  # MirrorMaker's own SCRAM user on both clusters
            mm = secrets.config_client(MIRRORMAKER)
            own = {k: mm[k] for k in ("sasl.username", "sasl.password")}
            config["mirror"]["clients"] = {name: dict(own) for name in state.clusters}
    if mirror:
        # The lab's client applications (kafka-dr lab app) follow a failover or a planned move:
        # the switch hook rewrites the files that say where they connect and which topic they
        # use; the hold hook stops them producing for a planned move.
        app = [sys.executable, "-m", "dr", "lab", "app"]
        switch = {"command": [*app, "switch", "--dir", str(lab_dir)], "name": "lab-apps"}
        hold = {"command": [*app, "hold", "--dir", str(lab_dir)], "name": "lab-apps-hold"}
        moved = {"switch_clients": {"after": [switch]}}
        planned = {**moved, "stop_producers": {"before": [hold]}}
        config["playbooks"] = {
            "failover": {"hooks": moved},
            "cutover": {"hooks": planned},
            "rollback": {"hooks": planned},
            "failback": {"hooks": planned},
        }
    config["drills"] = {"lab": lab_drill(lab_dir, mirror=mirror)}
    home = os.environ.get("KAFKA_HOME")
    if home and Path(state.libs) == Path(home) / "libs":
        config["tools"] = {"kafka_home": os.environ["KAFKA_HOME"]}
    else:
        config["tools"] = {"kafka_version": state.kafka_version}
    config["state"] = str(lab_dir / "kafka-dr.db")
    return config


def lab_drill(lab_dir: Path, *, mirror: bool) -> dict[str, Any]:
    """The lab's drill: its demo backup restored onto dr as scratch topics (MirrorMaker never
    copies them: its default filters skip names starting with '__'), its flow's RPO and
    offset translation, and (with --destructive) a failover and failback with the lab apps."""
    scenarios: dict[str, Any] = {
        "backup_restore": {"jobs": ["demo"], "target_cluster": "dr" if mirror else "primary"}
    }
    if mirror:
        scenarios["mirror"] = {"flows": ["primary->dr"]}
        scenarios["failover"] = {"flow": "primary->dr"}
    return {"scenarios": scenarios, "report_dir": str(lab_dir / "drills")}


def _lab_mirror_command(action: str, lab_dir: Path) -> list[str]:
    """`kafka-dr lab mirror ACTION --dir DIR`, run with this very Python."""
    return [sys.executable, "-m", "dr", "lab", "mirror", action, "--dir", str(lab_dir)]


def write_lab_config(path: Path, state: LabState, lab_dir: Path, *, mirror: bool) -> None:
    """Write the lab's config, validated first so that the lab never hands out a bad one."""
    text = HEADER.format(path=path) + yaml.safe_dump(
        lab_config(state, lab_dir, mirror=mirror), sort_keys=False, default_flow_style=False
    )
    parse_config(text, source=str(path), base_dir=path.parent)
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
