"""What the snapshot playbooks (run, restore) share: the cluster as they read it (the broker
procedures' probe plus end offsets), which paths of a node a snapshot holds, and waiting for
a started node to be back.

They run on the pair ``C->C``, as the broker procedures do: a snapshot, a restore, a rolling
restart of one cluster exclude each other on every host sharing the lease store.
"""

from __future__ import annotations

import posixpath
import time
from typing import Any, Protocol

from dr.errors import DrError
from dr.hosts.base import HostAccess
from dr.kafka.admin import list_topic_partitions, offsets
from dr.kafka.cluster_state import LiveCluster
from dr.kafka.node_config import node_config
from dr.log import get_logger
from dr.playbooks.broker_common import ClusterProbe, wait_for
from dr.playbooks.broker_safety import back_in_quorum, readiness
from dr.snapshots.manifest import EndOffsets

log = get_logger(__name__)


class SnapshotCluster(ClusterProbe, Protocol):
    """The cluster as the snapshot playbooks read it (LiveSnapshotCluster; a fake in tests)."""

    def end_offsets(self) -> EndOffsets: ...


class LiveSnapshotCluster(LiveCluster):
    """A configured cluster, with every partition's end offset."""

    def end_offsets(self) -> EndOffsets:
        """Every partition's log end offset (read_uncommitted: what the logs hold); raises
        KafkaError."""
        topics = list_topic_partitions(self.admin, self.timeout_s)
        tps = [(t, p) for t, info in topics.items() for p in range(info.partitions)]
        ends = offsets(self.admin, tps, "latest", self.timeout_s, committed=False)
        out: EndOffsets = {}
        for (topic, partition), end in sorted(ends.items()):
            out.setdefault(topic, {})[str(partition)] = end
        return out


def node_paths(host: HostAccess) -> tuple[tuple[str, ...], str]:
    """(the data dirs, the config file) a node's snapshot holds: its config's log.dirs and a
    metadata.log.dir of its own, read from the config file on its host; raises DrError."""
    where = f"cluster '{host.cluster}' node {host.node_id} {host.config_file}"
    config = node_config(host.read_file(host.config_file).decode(), where=where)
    dirs = list(config.log_dirs)
    meta = config.metadata_log_dir
    if not any(meta == d or meta.startswith(d.rstrip("/") + "/") for d in dirs):
        dirs.append(meta)
    return tuple(posixpath.normpath(d) for d in dirs), host.config_file


def hosted(ends: EndOffsets, partitions: set[tuple[str, int]]) -> EndOffsets:
    """The end offsets of those partitions only."""
    out: EndOffsets = {}
    for topic, parts in ends.items():
        for partition, end in parts.items():
            if (topic, int(partition)) in partitions:
                out.setdefault(topic, {})[partition] = end
    return out


def await_node(
    probe: ClusterProbe,
    host: HostAccess,
    *,
    broker: bool,
    voter: bool,
    since_epoch_s: float,
    timeout_s: float,
) -> dict[str, Any]:
    """Wait until the started node is registered (a broker), back in the metadata quorum and
    nothing is offline or under-replicated; the seconds each took. Raises DrError naming what
    is missing when timeout_s passes, or when the node's process exits."""
    n = host.node_id
    deadline = time.monotonic() + timeout_s
    failure = f"node {n} of '{host.cluster}' did not come back"
    out: dict[str, Any] = {}

    def registered() -> str | None:
        if host.status().running is False:
            raise DrError(f"node {n} of '{host.cluster}' exited after its start")
        return None if n in probe.view().brokers else f"broker {n} not registered"

    if broker:
        out["registered_after_s"] = wait_for(
            registered, timeout_s=deadline - time.monotonic(), failure=failure, node=n
        )
    out["in_quorum_after_s"] = wait_for(
        lambda: back_in_quorum(
            probe.quorum(), n, voter=voter, since_epoch_s=since_epoch_s, now_epoch_s=time.time()
        ),
        timeout_s=deadline - time.monotonic(),
        failure=failure,
        node=n,
    )
    out["replicated_after_s"] = wait_for(
        lambda: readiness(probe.view(), n, broker=broker),
        timeout_s=deadline - time.monotonic(),
        failure=failure,
        node=n,
    )
    return out
