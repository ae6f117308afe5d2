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
from dr.kafka.quorum import QuorumMember, QuorumStatus
from dr.mirror.connect import ConnectorStatus, TaskStatus
from dr.mirror.deploy import MirrorState
from dr.mirror.health import FlowHealth, Problem, State
from dr.mirror.heartbeats import HeartbeatCheck
from dr.mirror.status import FlowStatus
from dr.objectives.rpo import BackupRpo, FlowRpo, PartitionRpo, RpoReport
from dr.preflight import PreflightCheck, PreflightReport


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


def quorum(lag: int = 0) -> QuorumStatus:
    voters = tuple(
        QuorumMember(n, "leader" if n == 1 else "follower", 100, lag, 0.1) for n in (1, 2, 3)
    )
    return QuorumStatus(leader_id=1, high_watermark=100, voters=voters, observers=())


def busy_world() -> FakeWorld:
    """A world with something in every sampler: two clusters (one down), a flow with a failed
    task, RPO of a flow and a job, a preflight with a failure and a warning."""
    primary = cluster("primary", urp=2)
    partitions = (
        PartitionRpo("orders", 0, "primary.orders", 40, 12.5, source_end=1000),
        PartitionRpo("orders", 1, "primary.orders", 0, 0.0, source_end=900),
    )
    flow = FlowRpo("primary->dr", 12.5, 40, 0.7, 60.0, partitions)
    job = BackupRpo("orders", 95.0, 300, target_seconds=1200.0, last_backup_at=None)
    checks = (
        PreflightCheck("cluster primary reachable", "clusters.primary", "ok", "answered"),
        PreflightCheck("store local writable", "storage.local", "fail", "denied", "fix it"),
        PreflightCheck("daemon listen address", "daemon.listen", "warn", "in use", "stop it"),
    )
    return FakeWorld(
        clusters=(
            ClusterHealth(**{**primary.__dict__, "quorum": quorum(lag=3)}),
            cluster("dr", reachable=False),
        ),
        mirror=(flow_state("primary->dr", "failed", tasks=("RUNNING", "FAILED")),),
        rpo=RpoReport(measured_at=time.time(), flows=(flow,), backups=(job,)),
        preflight=PreflightReport(checks=checks),
    )
