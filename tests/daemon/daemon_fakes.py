"""Small fakes of what the daemon's samplers read: a cluster, MirrorMaker, RPO and the preflight,
each answering what a test sets, without a network."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dr.config.schema import Settings
from dr.daemon import Probes
from dr.kafka.health import ClusterHealth, HealthReport, PartitionState
from dr.mirror.connect import ConnectorStatus, TaskStatus
from dr.mirror.deploy import MirrorState
from dr.mirror.health import FlowHealth, Problem, State
from dr.mirror.heartbeats import HeartbeatCheck
from dr.mirror.status import FlowStatus
from dr.objectives.rpo import RpoReport
from dr.preflight import PreflightReport


@dataclass
class FakeWorld:
    """What the fake probes answer; a test changes it between samples. ``calls`` counts the
    calls of each probe; ``hang`` makes the cluster probe wait until released."""

    clusters: tuple[ClusterHealth, ...] = ()
    mirror: Sequence[MirrorState] = ()
    mirror_error: Exception | None = None
    rpo: RpoReport | None = None
    preflight: PreflightReport = field(default_factory=lambda: PreflightReport(checks=()))
    preflight_error: Exception | None = None
    hang: threading.Event | None = None
    calls: dict[str, int] = field(default_factory=dict)

    def _count(self, probe: str) -> None:
        self.calls[probe] = self.calls.get(probe, 0) + 1

    def check_clusters(self, _settings: Settings) -> HealthReport:
        self._count("clusters")
        if self.hang is not None:
            self.hang.wait(30)
        return HealthReport(clusters=self.clusters)

    def mirror_states(self, _settings: Settings) -> Sequence[MirrorState]:
        self._count("mirror")
        if self.mirror_error is not None:
            raise self.mirror_error
        return self.mirror

    def measure_rpo(self, _settings: Settings) -> RpoReport:
        self._count("rpo")
        return self.rpo or RpoReport(measured_at=time.time())

    def run_preflight(self, _settings: Settings) -> PreflightReport:
        self._count("preflight")
        if self.preflight_error is not None:
            raise self.preflight_error
        return self.preflight

    def probes(self, **overrides: Any) -> Probes:
        fakes: dict[str, Any] = {
            "rpo": self.measure_rpo,
            "clusters": self.check_clusters,
            "mirror": self.mirror_states,
            "preflight": self.run_preflight,
        }
        return Probes(**{**fakes, **overrides})


def quiet_probes() -> Probes:
    """Probes that find nothing wrong and reach nothing."""
    return FakeWorld().probes()


def partition(topic: str, n: int, *, isr: tuple[int, ...], leader: int = 1) -> PartitionState:
    return PartitionState(topic, n, leader, replicas=(1, 2, 3), isr=isr, min_isr=2)


def cluster(
    name: str,
    *,
    online: tuple[int, ...] = (1, 2, 3),
    urp: int = 0,
    under_min: int = 0,
    offline: int = 0,
    reachable: bool = True,
) -> ClusterHealth:
    """A cluster of three brokers as `kafka-dr status` would find it."""
    if not reachable:
        return ClusterHealth(name=name, reachable=False, brokers_expected=(1, 2, 3), error="down")
    problems = tuple(
        text
        for count, text in ((urp, "urp"), (under_min, "under-min"), (offline, "offline"))
        if count
    )
    return ClusterHealth(
        name=name,
        reachable=True,
        cluster_id="abc",
        brokers_expected=(1, 2, 3),
        brokers_online=online,
        under_replicated=tuple(partition("orders", i, isr=(1, 2)) for i in range(urp)),
        under_min_isr=tuple(partition("orders", i, isr=(1,)) for i in range(under_min)),
        offline=tuple(partition("orders", i, isr=(), leader=-1) for i in range(offline)),
        problems=problems,
    )


def flow_state(
    flow: str, state: State, *, tasks: tuple[str, ...] = ("RUNNING",), connector: str = "RUNNING"
) -> MirrorState:
    """A flow whose MirrorSourceConnector is in ``connector`` with tasks in ``tasks``."""
    source, target = flow.split("->")
    topics = FlowStatus(flow, 1, (), (), (), HeartbeatCheck(source, target, 1.0, 0.5))
    status = ConnectorStatus(
        name=f"{source}-{target}-source",
        state=connector,
        worker_id="w1",
        tasks=tuple(TaskStatus(i, s, "w1") for i, s in enumerate(tasks)),
        type="source",
    )
    problems = () if state == "running" else (Problem("task", state, f"flow is {state}"),)
    return MirrorState(topics, FlowHealth(state, problems), connectors=(status,))
