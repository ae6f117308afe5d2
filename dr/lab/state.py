"""The lab's own record of what it started (DIR/lab.json), kept across invocations."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from dr.errors import LabError
from dr.lab.nodes import NodeSpec

STATE_FILE = "lab.json"


@dataclass(frozen=True)
class NodeRecord:
    """A node as started: where it listens, its pid."""

    id: int
    port: int
    controller_port: int
    home: str
    pid: int | None = None
    roles: str = "broker,controller"

    def spec(self, cluster: str) -> NodeSpec:
        return NodeSpec(
            cluster=cluster,
            node_id=self.id,
            port=self.port,
            controller_port=self.controller_port,
            home=Path(self.home),
            roles=self.roles,
        )


@dataclass(frozen=True)
class ClusterRecord:
    """A lab cluster: its id and nodes."""

    cluster_id: str
    nodes: tuple[NodeRecord, ...]

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def node(self, node_id: int) -> NodeRecord | None:
        return next((n for n in self.nodes if n.id == node_id), None)

    def with_node(self, node: NodeRecord) -> ClusterRecord:
        return replace(self, nodes=tuple(node if n.id == node.id else n for n in self.nodes))

    def plus_node(self, node: NodeRecord) -> ClusterRecord:
        return replace(self, nodes=(*self.nodes, node))

    def without_node(self, node_id: int) -> ClusterRecord:
        return replace(self, nodes=tuple(n for n in self.nodes if n.id != node_id))


@dataclass(frozen=True)
class MirrorRecord:
    """The dedicated MirrorMaker 2 process of the lab."""

    config: str
    home: str
    pid: int | None = None
    source: str = "primary"
    target: str = "dr"


@dataclass(frozen=True)
class ConnectRecord:
    """The lab's Kafka Connect worker (distributed mode, Mirror connectors on its classpath)."""

    config: str
    home: str
    port: int
    pid: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass(frozen=True)
class LabState:
    """Everything the lab started in one directory."""

    kafka_version: str
    libs: str
    clusters: dict[str, ClusterRecord] = field(default_factory=dict)
    mirror: MirrorRecord | None = None
    connect: ConnectRecord | None = None
    security: str = "plaintext"  # or "sasl_ssl" (dr.lab.security)

    @property
    def secure(self) -> bool:
        return self.security == "sasl_ssl"

    def cluster(self, name: str) -> ClusterRecord:
        if name not in self.clusters:
            raise LabError(f"the lab has no cluster '{name}' (it has: {', '.join(self.clusters)})")
        return self.clusters[name]


def load_state(lab_dir: Path) -> LabState | None:
    """The lab recorded in lab_dir, or None when there is none."""
    path = lab_dir / STATE_FILE
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text())
        return _decode(raw)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LabError(
            f"{path} is unreadable ({exc}): remove the directory and start again"
        ) from None


def require_state(lab_dir: Path) -> LabState:
    """The lab recorded in lab_dir; raises LabError when there is none."""
    state = load_state(lab_dir)
    if state is None:
        raise LabError(f"no lab in {lab_dir}: start one with 'kafka-dr lab up --dir {lab_dir}'")
    return state


def save_state(lab_dir: Path, state: LabState) -> None:
    """Write lab.json atomically."""
    lab_dir.mkdir(parents=True, exist_ok=True)
    tmp = lab_dir / f".{STATE_FILE}.tmp"
    tmp.write_text(json.dumps(asdict(state), indent=2))
    os.replace(tmp, lab_dir / STATE_FILE)


def _decode(raw: dict[str, Any]) -> LabState:
    clusters = {
        name: ClusterRecord(
            cluster_id=c["cluster_id"],
            nodes=tuple(NodeRecord(**n) for n in c["nodes"]),
        )
        for name, c in raw["clusters"].items()
    }
    mirror = MirrorRecord(**raw["mirror"]) if raw.get("mirror") else None
    connect = ConnectRecord(**raw["connect"]) if raw.get("connect") else None
    return LabState(
        kafka_version=raw["kafka_version"],
        libs=raw["libs"],
        clusters=clusters,
        mirror=mirror,
        connect=connect,
        security=raw.get("security", "plaintext"),
    )
