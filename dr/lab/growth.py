"""Growing and shrinking a running lab cluster by broker-only nodes (``lab add-node`` and
``lab remove-node``), to rehearse ``kafka-dr broker add`` and ``broker remove``.

An added node has ``process.roles=broker``: the same cluster id, the cluster's static voters
(its combined nodes) as controllers, its own ports and directory. It is recorded in lab.json
like the others, so ``lab down``, ``stop-node`` and ``start-node`` act on it too, and the lab's
config lists it in the cluster's inventory.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from dr.errors import LabError
from dr.kafka.jars import KafkaJars
from dr.lab import processes
from dr.lab.labconfig import write_lab_config
from dr.lab.nodes import NodeSpec, format_storage, free_ports, start_node, write_node_files
from dr.lab.security import node_security
from dr.lab.state import ClusterRecord, LabState, NodeRecord, save_state
from dr.log import get_logger

log = get_logger(__name__)

WaitRegistered = Callable[[str, ClusterRecord, set[int]], None]


def add_broker_node(
    lab_dir: Path,
    logging_dir: Path,
    state: LabState,
    cluster: str,
    *,
    jars: KafkaJars,
    wait_registered: WaitRegistered,
) -> NodeRecord:
    """Start one more broker-only node in the running cluster and record it; returns it once
    it is registered. Raises LabError when no node of the cluster runs or it does not start."""
    record = state.cluster(cluster)
    if not any(processes.is_running(n.pid, n.spec(cluster).marker) for n in record.nodes):
        raise LabError(f"no node of '{cluster}' is running: start the lab (or the cluster) first")
    node_id = max(n.id for n in record.nodes) + 1
    (port,) = free_ports(1)
    home = lab_dir / cluster / f"node-{node_id}"
    shutil.rmtree(home, ignore_errors=True)  # a node of that id removed earlier
    spec = NodeSpec(cluster, node_id, port, 0, home, roles="broker")
    peers = [*(n.spec(cluster) for n in record.nodes), spec]
    write_node_files(spec, peers, logging_dir, node_security(lab_dir, state.security))
    format_storage(spec, jars, record.cluster_id)
    node = NodeRecord(id=node_id, port=port, controller_port=0, home=str(home), roles="broker")
    state = _with_cluster(state, cluster, record.plus_node(node))
    save_state(lab_dir, state)  # before the JVM starts, so that 'down' always finds it
    node = replace(node, pid=start_node(spec, jars, logging_dir))
    state = _with_cluster(state, cluster, state.cluster(cluster).with_node(node))
    save_state(lab_dir, state)
    wait_registered(cluster, state.cluster(cluster), {node_id})
    _rewrite_config(lab_dir, state)
    log.info("lab_node_added", cluster=cluster, node=node_id, port=port)
    return node


def remove_broker_node(lab_dir: Path, state: LabState, cluster: str, node_id: int) -> None:
    """Forget a stopped broker-only node: its directory, its record, its inventory entry.
    Raises LabError for a controller, a running node or an unknown one."""
    record = state.cluster(cluster)
    node = record.node(node_id)
    if node is None:
        raise LabError(f"cluster '{cluster}' has no node {node_id}")
    if node.spec(cluster).is_controller:
        raise LabError(
            f"node {node_id} of '{cluster}' is a controller: only a node added with "
            "'lab add-node' can be removed"
        )
    if processes.is_running(node.pid, node.spec(cluster).marker):
        raise LabError(
            f"node {node_id} of '{cluster}' is running: move its replicas off and "
            "stop it first ('kafka-dr broker remove')"
        )
    state = _with_cluster(state, cluster, record.without_node(node_id))
    save_state(lab_dir, state)
    shutil.rmtree(node.home, ignore_errors=True)
    _rewrite_config(lab_dir, state)
    log.info("lab_node_removed", cluster=cluster, node=node_id)


def _with_cluster(state: LabState, name: str, record: ClusterRecord) -> LabState:
    return replace(state, clusters={**state.clusters, name: record})


def _rewrite_config(lab_dir: Path, state: LabState) -> None:
    write_lab_config(lab_dir / "kafka-dr.yaml", state, lab_dir, mirror=state.mirror is not None)
