"""A cluster written by hand for the broker procedures' unit tests: nodes that stop and start,
partitions whose ISR follows them, a quorum whose leader moves, and each node's host (a
HostAccess with files in memory). Only the rules are tested with it; the lab runs the real
thing (integration/test_broker_*.py)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from dr.config.load import parse_config
from dr.config.schema import Settings
from dr.hosts.base import HostError, NodeStatus, Stopped
from dr.kafka.cluster_state import ClusterView, Election, PartitionReplicas
from dr.kafka.quorum import QuorumMember, QuorumStatus

CLUSTER_ID = "q1Sh-9_ISia_zwGINzRvyQ"


def settings(tmp_path: Path, nodes: Iterable[int] = (1, 2, 3)) -> Settings:
    doc = {
        "clusters": {
            "primary": {
                "bootstrap_servers": "kafka-1:9092",
                "brokers": [{"id": n, "host": f"kafka-{n}"} for n in nodes],
            }
        },
        "state": str(tmp_path / "kafka-dr.db"),
    }
    return parse_config(json.dumps(doc), source="kafka-dr.yaml", base_dir=tmp_path)


class FakeCluster:
    """Three combined nodes by default, topic 'orders' with RF 3 and min ISR 2."""

    def __init__(
        self,
        nodes: Iterable[int] = (1, 2, 3),
        *,
        leader: int = 3,
        partitions: int = 3,
        min_isr: int = 2,
        voters: Iterable[int] | None = None,
    ) -> None:
        self.nodes = list(nodes)
        self.voters = list(self.nodes if voters is None else voters)
        self.running = dict.fromkeys(self.nodes, True)
        self.registers = dict.fromkeys(self.nodes, True)
        self.comes_back = dict.fromkeys(self.nodes, True)  # False: starts, never registers
        self.quorum_leader = leader
        self.min_isr = min_isr
        size = len(self.nodes)
        self.replicas = {
            ("orders", p): tuple(self.nodes[(p + i) % size] for i in range(min(3, size)))
            for p in range(partitions)
        }
        self.leaders = {tp: r[0] for tp, r in self.replicas.items()}
        self.stuck_out_of_isr: set[tuple[tuple[str, int], int]] = set()
        self.events: list[str] = []
        self.max_down = 0
        self.elections = 0

    # -- what the procedures read --------------------------------------------------------
    def registered(self) -> tuple[int, ...]:
        return tuple(n for n in self.nodes if self.running[n] and self.registers[n])

    def view(self, *, with_min_isr: bool = False) -> ClusterView:
        up = set(self.registered())
        parts = []
        for (topic, p), replicas in sorted(self.replicas.items()):
            isr = tuple(
                r for r in replicas if r in up and ((topic, p), r) not in self.stuck_out_of_isr
            )
            leader = self.leaders[(topic, p)]
            parts.append(
                PartitionReplicas(topic, p, leader if leader in isr else -1, replicas, isr,
                                  self.min_isr)
            )  # fmt: skip
        return ClusterView(CLUSTER_ID, tuple(sorted(up)), tuple(parts))

    def quorum(self) -> QuorumStatus:
        def member(n: int) -> QuorumMember:
            role = "leader" if n == self.quorum_leader else "follower"
            return QuorumMember(n, role, 100, 0, 0.0 if self.running[n] else 999.0)

        observers = tuple(
            QuorumMember(n, "observer", 100, 0, 0.0)
            for n in self.nodes
            if n not in self.voters and self.running[n]
        )
        return QuorumStatus(
            self.quorum_leader, 100, tuple(member(n) for n in self.voters), observers
        )

    def elect_preferred_leaders(self) -> Election:
        self.elections += 1
        up = set(self.registered())
        moved = 0
        for tp, replicas in self.replicas.items():
            if replicas[0] in up and self.leaders[tp] != replicas[0]:
                self.leaders[tp] = replicas[0]
                moved += 1
        return Election(elected=moved, failed={})

    # -- what the hosts do ---------------------------------------------------------------
    def stop(self, n: int) -> None:
        if not self.running[n]:
            return
        self.running[n] = False
        self.events.append(f"stop {n}")
        self.max_down = max(self.max_down, sum(1 for r in self.running.values() if not r))
        up = [m for m in self.voters if self.running[m]]
        if n == self.quorum_leader and up:
            self.quorum_leader = up[0]
        for tp, replicas in self.replicas.items():
            if self.leaders[tp] == n:
                others = [r for r in replicas if self.running[r]]
                self.leaders[tp] = others[0] if others else n

    def start(self, n: int) -> None:
        self.running[n] = True
        self.registers[n] = self.comes_back[n]
        self.events.append(f"start {n}")


class FakeHost:
    """One node's host over a FakeCluster; its files live in a dict."""

    def __init__(self, cluster: FakeCluster, node_id: int, files: dict[str, bytes]) -> None:
        self.fake, self.files = cluster, files
        self.cluster, self.node_id, self.host = "primary", node_id, f"kafka-{node_id}"
        self.log_dirs: tuple[str, ...] = (f"/data/kafka-{node_id}",)
        self.config_file = f"/etc/kafka-{node_id}/server.properties"
        self.tool_calls: list[list[str]] = []

    def status(self) -> NodeStatus:
        running = self.fake.running[self.node_id]
        return NodeStatus(running, "pid 42" if running else "no process")

    def start(self) -> None:
        self.fake.start(self.node_id)

    def stop(self, *, deadline_s: float = 120.0) -> Stopped:
        was = self.fake.running[self.node_id]
        self.fake.stop(self.node_id)
        return Stopped("graceful" if was else "not-running", 0.1)

    def storage_tool(self, args: list[str], *, timeout_s: float = 120.0) -> str:
        self.tool_calls.append(list(args))
        cluster_id = args[args.index("--cluster-id") + 1]
        for d in self.log_dirs:
            self.files.setdefault(
                f"{d}/meta.properties",
                f"cluster.id={cluster_id}\nnode.id={self.node_id}\n"
                f"directory.id=NEWDIR{self.node_id}\n".encode(),
            )
        return "Formatting data directory with metadata.version 4.3-IV0."

    def read_file(self, path: str) -> bytes:
        if path not in self.files:
            raise HostError(f"node {self.node_id}: no file {path}")
        return self.files[path]

    def write_file(self, path: str, data: bytes) -> None:
        self.files[path] = data

    def remove_tree(self, path: str) -> None:
        for key in [k for k in self.files if k.startswith(path.rstrip("/") + "/")]:
            del self.files[key]

    def tar_stream(self, paths: list[str]) -> Iterator[bytes]:
        yield b""

    def untar(self, dest: str, chunks: Iterable[bytes]) -> None:
        pass


def server_properties(
    node_id: int, *, quorum: str = "static", roles: str = "broker,controller"
) -> bytes:
    lines = [f"node.id={node_id}", f"process.roles={roles}", f"log.dirs=/data/kafka-{node_id}"]
    if quorum == "static":
        lines.append("controller.quorum.voters=1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093")
    else:
        lines.append("controller.quorum.bootstrap.servers=kafka-1:9093,kafka-2:9093")
    return ("\n".join(lines) + "\n").encode()
