"""What the cluster says of a backup's partitions now: topic ids, leaders and offsets.

A partition is never taken for an empty range because the cluster could not answer for it: one
without a leader, or whose offsets are not valid (negative), comes back with a problem. Right
after a broker dies the cluster still names it as leader (until its session times out) and a
fresh client may still wait on it as the controller, so each attempt uses a fresh admin client
and short timeouts, and attempts go on until the job's leader wait is over.
"""

from __future__ import annotations

import time

from dr.backup.plan import PartitionState
from dr.config.schema import ClusterSettings
from dr.errors import KafkaError, NotAuthorizedError
from dr.kafka import admin as kadmin
from dr.kafka.client import admin_client
from dr.log import get_logger

log = get_logger(__name__)

# The last look before the leader wait ends gives each request this long at least: a fresh
# client may still wait on a broker that died as the controller.
LAST_ATTEMPT_MIN_S = 30.0
TP = tuple[str, int]


def partition_states(
    cluster: ClusterSettings, topics: dict[str, kadmin.TopicInfo], *, wait_s: float
) -> list[PartitionState]:
    """Each partition's topic id and offsets, waiting up to wait_s for every partition to have
    a leader and answer. Raises KafkaError when the cluster could not be read by then."""
    deadline = time.monotonic() + wait_s
    while True:
        last = time.monotonic() >= deadline
        try:
            described, offsets = _attempt(cluster, topics, final=last, deadline=deadline)
        except NotAuthorizedError:
            raise  # final: waiting for leaders does not grant it
        except KafkaError as exc:
            if last:
                raise
            log.warning("backup_cluster_not_ready", error=exc.message)
            time.sleep(min(1.0, max(0.1, deadline - time.monotonic())))
            continue
        if offsets is not None:
            states = _states(described, *offsets)
            unanswered = [s for s in states if s.problem is not None]
            if not unanswered or last:
                return states
            log.warning("backup_waiting_for_offsets", partitions=len(unanswered))
        time.sleep(min(2.0, max(0.1, deadline - time.monotonic())))


def _attempt(
    cluster: ClusterSettings,
    topics: dict[str, kadmin.TopicInfo],
    *,
    final: bool,
    deadline: float,
) -> tuple[dict[str, kadmin.TopicState], tuple[dict[TP, int], dict[TP, int]] | None]:
    """One look at the cluster: the topics' states, and their offsets once every partition
    has a leader (or on the final attempt, for the partitions that have one)."""
    timeout = cluster.timeout_s if not final else max(cluster.timeout_s, LAST_ATTEMPT_MIN_S)
    admin = admin_client(cluster, timeout_s=timeout)
    described = kadmin.topic_states(admin, topics, timeout)
    led = sorted(
        (t, p) for t, d in described.items() for p, n in d.leaders.items() if n is not None
    )
    leaderless = sum(len(d.leaders) for d in described.values()) - len(led)
    if leaderless and not final:
        log.warning("backup_waiting_for_leaders", partitions=leaderless)
        return described, None
    budget = max(1.0, deadline - time.monotonic()) if not final else timeout
    low = kadmin.offsets(admin, led, "earliest", timeout, deadline_s=budget) if led else {}
    high = (
        kadmin.offsets(admin, led, "latest", timeout, committed=True, deadline_s=budget)
        if led
        else {}
    )
    return described, (low, high)


def _states(
    described: dict[str, kadmin.TopicState], earliest: dict[TP, int], latest: dict[TP, int]
) -> list[PartitionState]:
    states: list[PartitionState] = []
    for topic in sorted(described):
        d = described[topic]
        for p in sorted(d.leaders):
            states.append(_state(d, p, earliest.get((topic, p)), latest.get((topic, p))))
    return states


def _state(
    d: kadmin.TopicState, partition: int, low: int | None, high: int | None
) -> PartitionState:
    if d.leaders[partition] is None:
        return PartitionState(d.name, partition, d.topic_id, problem="no leader")
    if low is None or high is None or low < 0 or high < 0 or low > high:
        leader = d.leaders[partition]
        problem = f"its leader (broker {leader}) gave no valid offsets: {low}..{high}"
        return PartitionState(d.name, partition, d.topic_id, problem=problem)
    return PartitionState(d.name, partition, d.topic_id, low, high)
