"""What the broker procedures (restart, replace) share: how they reach the cluster and its
nodes, how they wait for a real state with a deadline, and their lock.

The lock: a broker procedure runs as a playbook on the pair ``C->C`` (source and target are
the cluster), so two broker procedures on one cluster exclude each other, on every host that
shares the lease store, while procedures on other clusters run freely.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol, TypeVar

from dr.config.schema import Settings
from dr.errors import DrError, KafkaError, UsageError
from dr.hosts.base import HostAccess
from dr.kafka.cluster_state import ClusterView, Election, LiveCluster
from dr.kafka.quorum import QuorumStatus
from dr.log import get_logger

log = get_logger(__name__)
T = TypeVar("T")

POLL_S = 1.0


class ClusterProbe(Protocol):
    """What the broker procedures read and do on the cluster (LiveCluster; a fake in tests)."""

    def view(self, *, with_min_isr: bool = False) -> ClusterView: ...

    def quorum(self) -> QuorumStatus: ...

    def elect_preferred_leaders(self) -> Election: ...


AccessFor = Callable[[int], HostAccess]


def cluster_settings_of(settings: Settings, cluster: str) -> None:
    """Raises UsageError naming the clusters configured when cluster is not one of them."""
    if cluster not in settings.clusters:
        raise UsageError(
            f"no cluster named '{cluster}' in the config (it has: {', '.join(settings.clusters)})"
        )


def live_probe(settings: Settings, cluster: str) -> ClusterProbe:
    return LiveCluster(settings.clusters[cluster], settings.tools)


def host_access(settings: Settings, cluster: str) -> AccessFor:
    """How each node of the cluster is reached, as configured (clusters.C.access); resolved
    when a node is first reached, so that a plan or ``playbook show`` needs no host."""
    from dr import hosts

    def access(node_id: int) -> HostAccess:
        factory = getattr(hosts, "access_for", None)
        if factory is None:
            raise UsageError("this kafka-dr cannot reach broker hosts (no host access kinds)")
        found: HostAccess = factory(settings, cluster, node_id)
        return found

    return access


def wait_for(
    probe: Callable[[], str | None],
    *,
    timeout_s: float,
    failure: str,
    poll_s: float = POLL_S,
    event: str = "broker_waiting",
    **fields: object,
) -> float:
    """Poll ``probe`` (None: done; else why not yet) until it is done; returns the seconds
    waited. A KafkaError while polling counts as "not yet". Raises DrError "<failure> within
    <timeout>s: <last reason>" when timeout_s passes. Progress is logged when the reason
    changes."""
    started = time.monotonic()
    deadline = started + timeout_s
    last: str | None = None
    while True:
        try:
            why = probe()
        except KafkaError as exc:
            why = str(exc)
        if why is None:
            return round(time.monotonic() - started, 3)
        if why != last:
            waited = round(time.monotonic() - started, 1)
            log.info(event, waiting_for=why, waited_s=waited, **fields)
            last = why
        if time.monotonic() >= deadline:
            raise DrError(f"{failure} within {timeout_s:.0f}s: {why}")
        time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))
