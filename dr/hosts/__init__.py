"""How a broker host is reached: ``access_for(settings, cluster, node_id)`` gives the node's
:class:`HostAccess` for the cluster's ``access`` kind (ssh, command, lab); see dr.hosts.base
for the contract every kind keeps."""

from __future__ import annotations

from dr.config.access import CommandAccess, LabAccess, SshAccess
from dr.config.schema import BrokerSpec, ClusterSettings, Settings
from dr.errors import UsageError
from dr.hosts.base import HostAccess, HostError, NodeStatus, Stopped
from dr.hosts.common import Node

__all__ = ["HostAccess", "HostError", "NodeStatus", "Stopped", "access_for", "node_of"]


def access_for(settings: Settings, cluster_name: str, node_id: int) -> HostAccess:
    """The HostAccess of one node of one cluster.

    Raises UsageError when the cluster is unknown, has no ``access`` section, or has no node
    node_id in its ``brokers`` inventory.
    """
    cluster = _cluster(settings, cluster_name)
    access = cluster.access
    node = node_of(cluster_name, cluster, node_id)
    if isinstance(access, LabAccess):
        from dr.hosts.lab import LabHost

        return LabHost(node, access, settings.tools)
    if isinstance(access, CommandAccess):
        from dr.hosts.command import CommandHost

        return CommandHost(node, access)
    assert isinstance(access, SshAccess)
    from dr.hosts.ssh import SshHost

    return SshHost(node, access)


def node_of(cluster_name: str, cluster: ClusterSettings, node_id: int) -> Node:
    """The node's identity: host and log dirs from the inventory, its config file from the
    broker's own ``config_file``, else the access kind's default. Raises UsageError."""
    if cluster.access is None:
        raise UsageError(
            f"cluster '{cluster_name}' has no 'access' section: add clusters.{cluster_name}.access "
            "(kind ssh, command or lab) to say how its broker hosts are reached"
        )
    broker = _broker(cluster_name, cluster, node_id)
    return Node(
        cluster=cluster_name,
        node_id=node_id,
        host=broker.host,
        log_dirs=tuple(broker.log_dirs),
        config_file=broker.config_file or _default_config_file(cluster_name, cluster, node_id),
    )


def _cluster(settings: Settings, name: str) -> ClusterSettings:
    if name not in settings.clusters:
        known = ", ".join(sorted(settings.clusters))
        raise UsageError(f"no cluster named '{name}' in the config (it has: {known})")
    return settings.clusters[name]


def _broker(cluster_name: str, cluster: ClusterSettings, node_id: int) -> BrokerSpec:
    for broker in cluster.brokers:
        if broker.id == node_id:
            return broker
    known = ", ".join(str(b.id) for b in cluster.brokers) or "none"
    raise UsageError(
        f"cluster '{cluster_name}' has no node {node_id} in clusters.{cluster_name}.brokers "
        f"(it lists: {known})"
    )


def _default_config_file(cluster_name: str, cluster: ClusterSettings, node_id: int) -> str:
    access = cluster.access
    if isinstance(access, LabAccess):
        return str(access.dir / cluster_name / f"node-{node_id}" / "server.properties")
    if isinstance(access, SshAccess):
        return access.config_file or f"{access.kafka_home.rstrip('/')}/config/server.properties"
    assert isinstance(access, CommandAccess)
    return access.config_file or ""
