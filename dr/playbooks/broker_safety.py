"""The decisions of the broker procedures, over a described cluster: in which order to
restart nodes, whether one may be stopped now, and whether one is back.

Pure functions of a :class:`ClusterView` and a :class:`QuorumStatus`: no I/O, so every rule
is unit-tested on a cluster written by hand.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from dr.kafka.cluster_state import UNKNOWN_MIN_ISR, ClusterView, PartitionReplicas
from dr.kafka.quorum import QuorumStatus

# A voter whose leader saw it caught up longer ago than this does not count toward the
# majority that must remain while another voter is down.
CAUGHT_UP_TOLERANCE_S = 10.0
# The leader's clock and ours may differ this much when we compare "caught up since".
CLOCK_SKEW_S = 5.0
NAMED = 5  # partitions named in a one-line message; the rest are counted


def restart_order(
    nodes: Sequence[int], *, voters: Collection[int], active_controller: int | None
) -> list[int]:
    """Brokers that are not controllers first, then the standby controllers, the active
    controller last: the quorum moves its leadership once, at the very end."""
    unique = sorted(set(nodes))
    plain = [n for n in unique if n not in voters]
    standby = [n for n in unique if n in voters and n != active_controller]
    last = [n for n in unique if n == active_controller]
    return [*plain, *standby, *last]


def nodes_in_order(view: ClusterView, quorum: QuorumStatus, nodes: Sequence[int]) -> dict[str, Any]:
    """For a run's params: the nodes in restart order (see restart_order) with their roles,
    as the cluster shows them now."""
    voters = sorted(v.node_id for v in quorum.voters)
    order = restart_order(nodes, voters=voters, active_controller=quorum.leader_id)
    return {
        "order": order,
        # A node is a broker when it is registered, or when it is no controller at all.
        "brokers": [n for n in order if n in view.brokers or n not in voters],
        "voters": voters,
        "active_controller": quorum.leader_id,
    }


def stop_blockers(view: ClusterView, broker: int) -> tuple[PartitionReplicas, ...]:
    """Partitions hosted by broker that would fall below min.insync.replicas without it (or
    whose min.insync.replicas could not be read)."""
    return tuple(
        p
        for p in view.partitions
        if broker in p.replicas
        and (p.min_isr == UNKNOWN_MIN_ISR or len([r for r in p.isr if r != broker]) < p.min_isr)
    )


def majority(voters: int) -> int:
    return voters // 2 + 1


def quorum_blocker(quorum: QuorumStatus, node: int) -> str | None:
    """Why stopping node would leave the metadata quorum without a caught-up majority, or
    None (always None for a node that is not a voter)."""
    ids = [v.node_id for v in quorum.voters]
    if node not in ids:
        return None
    if quorum.leader_id is None:
        return "the metadata quorum has no leader"
    caught_up = [
        v.node_id
        for v in quorum.voters
        if v.node_id != node
        and (
            v.role == "leader"
            or (
                v.last_caught_up_age_s is not None
                and v.last_caught_up_age_s <= CAUGHT_UP_TOLERANCE_S
            )
        )
    ]
    if len(caught_up) < majority(len(ids)):
        return (
            f"without voter {node} the quorum keeps {len(caught_up)} caught-up voters "
            f"({', '.join(map(str, caught_up)) or 'none'}), fewer than the {majority(len(ids))} "
            f"a majority of {len(ids)} needs"
        )
    return None


def name_partitions(partitions: Sequence[PartitionReplicas]) -> str:
    """``orders-0, orders-1 and 3 more``."""
    names = [p.name for p in partitions[:NAMED]]
    more = len(partitions) - len(names)
    return ", ".join(names) + (f" and {more} more" if more > 0 else "")


@dataclass(frozen=True)
class StopCheck:
    """Whether a node may be stopped now, and if not, why (one line naming partitions)."""

    node: int
    offline: tuple[str, ...] = ()
    under_replicated: tuple[str, ...] = ()
    below_min_isr: tuple[str, ...] = ()
    quorum: str | None = None
    hosted: int = 0
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not (self.offline or self.under_replicated or self.below_min_isr or self.quorum)

    def problem(self) -> str | None:
        """The first reason not to stop the node, as one line, or None."""
        if self.offline:
            return f"{len(self.offline)} partitions are offline: {_named(self.offline)}"
        if self.under_replicated:
            return (
                f"{len(self.under_replicated)} partitions are under-replicated: "
                f"{_named(self.under_replicated)}"
            )
        if self.below_min_isr:
            return (
                f"stopping broker {self.node} would leave {len(self.below_min_isr)} partitions "
                f"below min.insync.replicas: {_named(self.below_min_isr)}"
            )
        return self.quorum


def _named(names: Sequence[str]) -> str:
    shown = list(names[:NAMED])
    more = len(names) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def check_stop(view: ClusterView, node: int, quorum: QuorumStatus | None) -> StopCheck:
    """Whether node may be stopped: no partition offline or under-replicated anywhere, none
    of its partitions left below min.insync.replicas, a caught-up quorum majority without it."""
    return StopCheck(
        node=node,
        offline=tuple(p.name for p in view.offline),
        under_replicated=tuple(p.name for p in view.under_replicated),
        below_min_isr=tuple(p.name for p in stop_blockers(view, node)),
        quorum=quorum_blocker(quorum, node) if quorum is not None else None,
        hosted=sum(1 for p in view.partitions if node in p.replicas),
    )


def back_in_quorum(
    quorum: QuorumStatus, node: int, *, voter: bool, since_epoch_s: float, now_epoch_s: float
) -> str | None:
    """Why node is not back in the quorum yet (None: it is): a voter must have caught up with
    the leader after since_epoch_s; an observer (a broker-only node) must be listed."""
    members = quorum.voters if voter else quorum.observers
    member = next((m for m in members if m.node_id == node), None)
    kind = "a voter" if voter else "an observer"
    if member is None:
        return f"node {node} is not {kind} of the metadata quorum yet"
    if not voter or member.role == "leader":
        return None
    if member.last_caught_up_age_s is None:
        return f"voter {node} has not caught up with the quorum leader yet"
    caught_up_at = now_epoch_s - member.last_caught_up_age_s
    if caught_up_at + CLOCK_SKEW_S < since_epoch_s:
        return f"voter {node} has not caught up with the quorum leader since it restarted"
    return None


def readiness(view: ClusterView, node: int, *, broker: bool) -> str | None:
    """Why the cluster is not whole again around node (None: it is): registered when it is a
    broker, and no partition under-replicated or offline."""
    if broker and node not in view.brokers:
        return f"broker {node} is not registered"
    if view.offline:
        return f"{len(view.offline)} partitions offline ({name_partitions(view.offline)})"
    if view.under_replicated:
        lagging = [p for p in view.under_replicated if node in p.replicas and node not in p.isr]
        return (
            f"{len(view.under_replicated)} partitions under-replicated, {len(lagging)} of them "
            f"waiting for broker {node} ({name_partitions(view.under_replicated)})"
        )
    return None
