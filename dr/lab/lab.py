"""The lab: two local KRaft clusters, ``primary`` and ``dr``, and MirrorMaker 2 between them.

Everything lives in one directory (configs, data, logs, pids in lab.json), so that separate
``kafka-dr lab`` invocations and the integration fixtures drive the same lab.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from confluent_kafka import KafkaException

from dr.config.schema import ClusterSettings
from dr.errors import LabError
from dr.kafka.admin import cluster_id
from dr.kafka.client import admin_client
from dr.kafka.jars import KafkaJars, kafka_jars
from dr.lab import processes
from dr.lab.acls import grant_lab_acls
from dr.lab.apps import stop_apps
from dr.lab.connect import start_connect, stop_connect
from dr.lab.growth import add_broker_node, remove_broker_node
from dr.lab.labconfig import write_lab_config
from dr.lab.mirrormaker import start_mirror
from dr.lab.nodes import (
    NodeSpec,
    format_storage,
    free_ports,
    log_tail,
    new_cluster_id,
    write_node_files,
)
from dr.lab.nodes import start_node as launch_node
from dr.lab.security import (
    SECURITY_MODES,
    admin_settings,
    create_secrets,
    lab_secrets,
    node_security,
    scram_format_args,
)
from dr.lab.state import (
    ClusterRecord,
    LabState,
    MirrorRecord,
    NodeRecord,
    load_state,
    require_state,
    save_state,
)
from dr.log import get_logger

log = get_logger(__name__)

PRIMARY, DR = "primary", "dr"
QUORUM_GONE_S = 30.0  # a cluster silent this long after a node stopped lost its quorum
READY_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class LabOptions:
    """What ``lab up`` starts."""

    kafka_version: str | None = None
    primary_brokers: int = 3
    dr_brokers: int = 1
    mirror: bool = True
    security: str = "plaintext"  # or "sasl_ssl": TLS, SCRAM users and ACLs (dr.lab.security)


@dataclass(frozen=True)
class ClusterChange:
    """A whole cluster stopped or started: which nodes, and how long it took."""

    cluster: str
    cluster_id: str
    nodes: tuple[int, ...]  # the nodes stopped (those that ran) or started (those that did not)
    seconds: float


class Lab:
    """The lab in one directory."""

    def __init__(self, lab_dir: Path) -> None:
        self.dir = lab_dir.resolve()
        self.logging_dir = self.dir / "logging"

    @property
    def config_path(self) -> Path:
        return self.dir / "kafka-dr.yaml"

    def admin_settings(self, bootstrap_servers: str) -> ClusterSettings:
        """How the lab's own tools reach its clusters (the super user on a secure lab)."""
        state = load_state(self.dir)
        security = state.security if state is not None else "plaintext"
        return admin_settings(self.dir, security, bootstrap_servers)

    def state(self) -> LabState:
        """The recorded lab; raises LabError when there is none."""
        return require_state(self.dir)

    def is_up(self) -> bool:
        state = load_state(self.dir)
        if state is None:
            return False
        mirror_up = state.mirror is not None and processes.is_running(
            state.mirror.pid, state.mirror.config
        )
        return mirror_up or any(
            processes.is_running(n.pid, n.spec(c).marker)
            for c, rec in state.clusters.items()
            for n in rec.nodes
        )

    # -- up and down -------------------------------------------------------------------

    def up(self, options: LabOptions) -> LabState:
        """Start both clusters (and MirrorMaker 2); returns once every broker is registered."""
        if options.primary_brokers < 1 or options.dr_brokers < 1:
            raise LabError("each cluster needs at least one broker")
        if self.is_up():
            raise LabError(
                f"a lab is already running in {self.dir}: "
                f"run 'kafka-dr lab down --dir {self.dir}' first"
            )
        if options.security not in SECURITY_MODES:
            raise LabError(
                f"unknown lab security '{options.security}' (known: {', '.join(SECURITY_MODES)})"
            )
        jars = kafka_jars(options.kafka_version)
        self._clean()
        started = time.monotonic()
        try:
            if options.security == "sasl_ssl":
                create_secrets(self.dir)
            state = self._start_clusters(
                jars,
                {PRIMARY: options.primary_brokers, DR: options.dr_brokers},
                security=options.security,
            )
            # The config first: a secure lab's ACLs are planned from it (dr.lab.acls).
            write_lab_config(self.config_path, state, self.dir, mirror=options.mirror)
            if state.secure:
                grant_lab_acls(self.dir, state)
            if options.mirror:
                state = start_mirror(self.dir, self.logging_dir, state, jars)
                write_lab_config(self.config_path, state, self.dir, mirror=options.mirror)
        except BaseException:
            log.warning("lab_start_failed_cleaning_up", dir=str(self.dir))
            self.down()
            raise
        log.info(
            "lab_up",
            dir=str(self.dir),
            seconds=round(time.monotonic() - started, 1),
            kafka_version=jars.version,
        )
        return state

    def down(self) -> None:
        """Stop every process of the lab; idempotent, and leaves no JVM behind."""
        with contextlib.suppress(LabError):  # an unreadable app file must not keep the lab up
            stop_apps(self.dir)
        state = load_state(self.dir)
        if state is not None:
            if state.mirror:
                processes.stop(state.mirror.pid, state.mirror.config, grace_s=15)
            stop_connect(state)
            processes.stop_all(
                [(n.pid, n.spec(c).marker) for c, rec in state.clusters.items() for n in rec.nodes],
                grace_s=20,
            )
            save_state(self.dir, _without_pids(state))
        for pid in processes.find_java_by_marker(str(self.dir) + "/"):
            processes.stop(pid, str(self.dir) + "/", kill=True)
        log.info("lab_down", dir=str(self.dir))

    # -- nodes and whole clusters --------------------------------------------------------

    def stop_node(
        self, cluster: str, node_id: int, *, kill: bool = False, wait_fenced: bool = False
    ) -> None:
        """Stop one node gracefully (controlled shutdown) or with SIGKILL. ``wait_fenced``:
        return only once the rest of the cluster no longer lists it as registered (a killed
        broker stays registered until its session times out), so that whatever runs next —
        `kafka-dr status` — sees it down, as it would a real broker some seconds later."""
        state = self.state()
        record = self._node(state, cluster, node_id)
        processes.stop(record.pid, record.spec(cluster).marker, kill=kill)
        if wait_fenced:
            self._wait_unregistered(cluster, state.cluster(cluster), node_id, READY_TIMEOUT_S)
        log.info("lab_node_stopped", cluster=cluster, node=node_id, kill=kill)

    def start_node(self, cluster: str, node_id: int, *, wipe: bool = False) -> None:
        """Start one node again; ``wipe`` first empties and reformats its log dir (a new disk)."""
        state = self.state()
        record = self._node(state, cluster, node_id)
        if processes.is_running(record.pid, record.spec(cluster).marker):
            raise LabError(f"node {node_id} of '{cluster}' is already running (pid {record.pid})")
        self._start_nodes(cluster, [node_id], wipe=wipe)
        log.info("lab_node_started", cluster=cluster, node=node_id, wiped=wipe)

    def add_node(self, cluster: str) -> NodeRecord:
        """Start one more broker-only node in the running cluster (see dr.lab.growth)."""
        state = self.state()
        return add_broker_node(
            self.dir,
            self.logging_dir,
            state,
            cluster,
            jars=_jars_of(state),
            wait_registered=lambda name, rec, wanted: self._wait_registered(
                name, rec, wanted, READY_TIMEOUT_S
            ),
        )

    def remove_node(self, cluster: str, node_id: int) -> None:
        """Forget a stopped node added with add_node (see dr.lab.growth)."""
        remove_broker_node(self.dir, self.state(), cluster, node_id)

    def stop_cluster(self, cluster: str, *, kill: bool = False) -> ClusterChange:
        """Stop every node of the cluster at once: SIGTERM (SIGKILL after 60 s), or SIGKILL
        (a lost site). MirrorMaker 2 keeps running, as it would in production."""
        started = time.monotonic()
        record = self.state().cluster(cluster)
        nodes = [(n.pid, n.spec(cluster).marker) for n in record.nodes]
        running = processes.stop_all(nodes, kill=kill)
        log.info("lab_cluster_stopped", cluster=cluster, kill=kill)
        return ClusterChange(
            cluster=cluster,
            cluster_id=record.cluster_id,
            nodes=tuple(n.id for n, ran in zip(record.nodes, running, strict=True) if ran),
            seconds=time.monotonic() - started,
        )

    def start_cluster(self, cluster: str) -> ClusterChange:
        """Start the cluster's stopped nodes (same ports, data and cluster id), wait until every
        node is registered, and check that the cluster answers with its recorded id. Raises
        LabError when it does not come back within 180 s or answers with another id."""
        started = time.monotonic()
        record = self.state().cluster(cluster)
        stopped = [
            n.id for n in record.nodes if not processes.is_running(n.pid, n.spec(cluster).marker)
        ]
        self._start_nodes(cluster, stopped, wait_for_all=True)
        admin = admin_client(self.admin_settings(record.bootstrap_servers))
        answered = cluster_id(admin, timeout_s=30)
        if answered != record.cluster_id:
            raise LabError(
                f"cluster '{cluster}' came back with id {answered}, not {record.cluster_id}"
            )
        log.info("lab_cluster_started", cluster=cluster, nodes=stopped)
        return ClusterChange(
            cluster=cluster,
            cluster_id=answered,
            nodes=tuple(stopped),
            seconds=time.monotonic() - started,
        )

    def _start_nodes(
        self, cluster: str, node_ids: list[int], *, wipe: bool = False, wait_for_all: bool = False
    ) -> None:
        """Launch these nodes and wait until they (or, wait_for_all, all nodes) register."""
        state = self.state()
        jars = _jars_of(state)
        for node_id in node_ids:
            record = self._node(state, cluster, node_id)
            spec = record.spec(cluster)
            if wipe:
                format_storage(spec, jars, state.cluster(cluster).cluster_id, wipe=True)
            pid = launch_node(spec, jars, self.logging_dir)
            clusters = dict(state.clusters)
            clusters[cluster] = clusters[cluster].with_node(replace(record, pid=pid))
            state = replace(state, clusters=clusters)
            save_state(self.dir, state)
        wanted = {n.id for n in state.cluster(cluster).nodes} if wait_for_all else set(node_ids)
        self._wait_registered(cluster, state.clusters[cluster], wanted, READY_TIMEOUT_S)

    # -- MirrorMaker 2 -------------------------------------------------------------------

    def mirror_stop(self) -> bool:
        """Stop MirrorMaker 2; False when it was not running."""
        mirror = self._mirror_record()
        running = processes.is_running(mirror.pid, mirror.config)
        processes.stop(mirror.pid, mirror.config, grace_s=15)
        return running

    def mirror_pid(self) -> int | None:
        """The pid of the running MirrorMaker 2, None when it is not running."""
        mirror = self._mirror_record()
        return mirror.pid if processes.is_running(mirror.pid, mirror.config) else None

    def mirror_restart(self) -> None:
        """Stop and start MirrorMaker 2 (after its properties changed)."""
        self.mirror_stop()
        self.mirror_start()

    def mirror_start(self) -> bool:
        """Start MirrorMaker 2 again; False when it was already running."""
        mirror = self._mirror_record()
        if processes.is_running(mirror.pid, mirror.config):
            return False
        state = self.state()
        start_mirror(self.dir, self.logging_dir, state, _jars_of(state), wait=False)
        return True

    def connect_start(self) -> str:
        """Start the lab's Kafka Connect worker; returns its REST URL."""
        state = self.state()
        state = start_connect(self.dir, self.logging_dir, state, _jars_of(state))
        assert state.connect is not None
        return state.connect.url

    def connect_stop(self) -> bool:
        """Stop the Kafka Connect worker; False when it was not running."""
        return stop_connect(self.state())

    def _mirror_record(self) -> MirrorRecord:
        mirror = self.state().mirror
        if mirror is None:
            raise LabError(f"the lab in {self.dir} was started with --no-mirror")
        return mirror

    # -- internals -----------------------------------------------------------------------

    def _clean(self) -> None:
        # A new lab has new cluster ids: the old store and state belong to clusters now gone.
        for sub in (
            PRIMARY,
            DR,
            "mirror",
            "connect",
            "logging",
            "store",
            "apps",
            "kafka-dr.db.locks",
        ):
            shutil.rmtree(self.dir / sub, ignore_errors=True)
        for name in ("kafka-dr.db", "kafka-dr.db-wal", "kafka-dr.db-shm"):
            (self.dir / name).unlink(missing_ok=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.logging_dir.mkdir(parents=True, exist_ok=True)

    def _start_clusters(
        self, jars: KafkaJars, sizes: dict[str, int], *, security: str = "plaintext"
    ) -> LabState:
        ports = iter(free_ports(2 * sum(sizes.values())))
        specs: dict[str, list[NodeSpec]] = {
            name: [
                NodeSpec(
                    cluster=name,
                    node_id=i,
                    port=next(ports),
                    controller_port=next(ports),
                    home=self.dir / name / f"node-{i}",
                )
                for i in range(1, size + 1)
            ]
            for name, size in sizes.items()
        }
        ids = {name: new_cluster_id() for name in specs}
        everything = [(name, s) for name, nodes in specs.items() for s in nodes]
        secured = node_security(self.dir, security)
        users = scram_format_args(lab_secrets(self.dir)) if secured else []
        for name, spec in everything:
            write_node_files(spec, specs[name], self.logging_dir, secured)
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(
                pool.map(
                    lambda ns: format_storage(ns[1], jars, ids[ns[0]], extra_args=users),
                    everything,
                )
            )
        records = {
            name: ClusterRecord(
                cluster_id=ids[name],
                nodes=tuple(
                    NodeRecord(
                        id=s.node_id,
                        port=s.port,
                        controller_port=s.controller_port,
                        home=str(s.home),
                    )
                    for s in nodes
                ),
            )
            for name, nodes in specs.items()
        }
        state = LabState(
            kafka_version=jars.version, libs=str(jars.libs), clusters=records, security=security
        )
        save_state(self.dir, state)  # before any JVM starts, so that 'down' can always find them
        for name, spec in everything:
            pid = launch_node(spec, jars, self.logging_dir)
            node = records[name].node(spec.node_id)
            assert node is not None
            records[name] = records[name].with_node(replace(node, pid=pid))
            state = replace(state, clusters=dict(records))
            save_state(self.dir, state)
        deadline = time.monotonic() + READY_TIMEOUT_S
        for name, record in state.clusters.items():
            self._wait_registered(
                name, record, {n.id for n in record.nodes}, deadline - time.monotonic()
            )
        return state

    def _wait_registered(
        self, name: str, record: ClusterRecord, wanted: set[int], timeout_s: float
    ) -> None:
        admin = admin_client(self.admin_settings(record.bootstrap_servers), timeout_s=5)
        deadline = time.monotonic() + timeout_s
        online: set[int] = set()
        while time.monotonic() < deadline:
            for node in record.nodes:
                if node.id in wanted and processes.has_exited(node.pid, node.spec(name).marker):
                    raise LabError(
                        f"{name} node {node.id} exited during start-up: "
                        f"{log_tail(node.spec(name).logs)}"
                    )
            try:
                desc = admin.describe_cluster(request_timeout=5).result(timeout=10)
                online = {n.id for n in desc.nodes}
            except (KafkaException, TimeoutError):
                online = set()
            if wanted <= online:
                return
            time.sleep(0.5)
        raise LabError(
            f"cluster '{name}' did not register brokers {sorted(wanted - online)} "
            f"within {timeout_s:.0f}s; logs are under {self.dir / name}"
        )

    def _wait_unregistered(
        self, name: str, record: ClusterRecord, node_id: int, timeout_s: float
    ) -> None:
        """Until the cluster's metadata no longer lists node_id (the node may have been its
        active controller: any live broker answers a metadata request meanwhile). A cluster
        silent for QUORUM_GONE_S lost its quorum with the node: there is nothing to wait for."""
        others = [n for n in record.nodes if n.id != node_id]
        if not others:
            return
        servers = ",".join(f"127.0.0.1:{n.port}" for n in others)
        admin = admin_client(self.admin_settings(servers), timeout_s=5)
        deadline = time.monotonic() + timeout_s
        silent_since: float | None = None
        while time.monotonic() < deadline:
            try:  # metadata: any live broker answers it, whichever node is the controller
                brokers = set(admin.list_topics(timeout=5).brokers)
            except KafkaException:
                silent_since = silent_since or time.monotonic()
                if time.monotonic() - silent_since > QUORUM_GONE_S:
                    return
                time.sleep(0.5)
                continue
            silent_since = None
            if node_id not in brokers:
                return
            time.sleep(0.25)
        raise LabError(
            f"{name} node {node_id} is still registered {timeout_s:.0f}s after it stopped"
        )

    @staticmethod
    def _node(state: LabState, cluster: str, node_id: int) -> NodeRecord:
        record = state.cluster(cluster).node(node_id)
        if record is None:
            ids = ", ".join(str(n.id) for n in state.cluster(cluster).nodes)
            raise LabError(f"cluster '{cluster}' has no node {node_id} (it has: {ids})")
        return record


def _jars_of(state: LabState) -> KafkaJars:
    return KafkaJars(version=state.kafka_version, libs=Path(state.libs), source="lab")


def _without_pids(state: LabState) -> LabState:
    clusters = {
        name: replace(rec, nodes=tuple(replace(n, pid=None) for n in rec.nodes))
        for name, rec in state.clusters.items()
    }
    mirror = replace(state.mirror, pid=None) if state.mirror else None
    connect = replace(state.connect, pid=None) if state.connect else None
    return replace(state, clusters=clusters, mirror=mirror, connect=connect)
