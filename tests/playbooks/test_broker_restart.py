"""`broker restart`: the order (active controller last), the check before each stop (min ISR,
URP, offline, quorum majority), and the run: one node down at a time, a node that does not
come back stops the run, a resume continues from that node."""

from __future__ import annotations

from pathlib import Path

import pytest
from broker_fakes import FakeCluster, FakeHost, settings

from dr.config.schema import Settings
from dr.errors import UsageError
from dr.kafka.cluster_state import UNKNOWN_MIN_ISR, ClusterView, PartitionReplicas
from dr.kafka.quorum import QuorumMember, QuorumStatus
from dr.playbooks import run_playbook
from dr.playbooks.broker_restart import restart_params, restart_playbook
from dr.playbooks.broker_safety import check_stop, quorum_blocker, restart_order
from dr.steps import Playbook, plan


def test_the_active_controller_is_restarted_last() -> None:
    assert restart_order([3, 1, 2], voters={1, 2, 3}, active_controller=2) == [1, 3, 2]


def test_plain_brokers_go_first_then_standby_controllers_then_the_active_one() -> None:
    order = restart_order([1, 2, 3, 4, 5, 6], voters={1, 2, 3}, active_controller=1)
    assert order == [4, 5, 6, 2, 3, 1]


def view(*partitions: PartitionReplicas, brokers: tuple[int, ...] = (1, 2, 3)) -> ClusterView:
    return ClusterView("id", brokers, partitions)


def part(
    p: int, replicas: tuple[int, ...], isr: tuple[int, ...], min_isr: int = 2
) -> PartitionReplicas:
    return PartitionReplicas("orders", p, isr[0] if isr else -1, replicas, isr, min_isr)


def test_a_broker_may_stop_when_every_partition_it_hosts_keeps_min_isr() -> None:
    check = check_stop(view(part(0, (1, 2, 3), (1, 2, 3))), 1, None)
    assert check.ok and check.problem() is None and check.hosted == 1


def test_stopping_a_broker_that_would_leave_a_partition_below_min_isr_is_refused_by_name() -> None:
    # RF 3 with min ISR 3: any stop leaves 2 in sync
    described = view(part(0, (1, 2, 3), (1, 2, 3), min_isr=3), part(1, (2, 3, 1), (2, 3, 1)))
    check = check_stop(described, 1, None)
    assert not check.ok
    assert check.problem() == (
        "stopping broker 1 would leave 1 partitions below min.insync.replicas: orders-0"
    )


def test_a_partition_whose_min_isr_is_unknown_blocks_a_stop() -> None:
    described = view(part(0, (1, 2, 3), (1, 2, 3), min_isr=UNKNOWN_MIN_ISR))
    assert check_stop(described, 2, None).below_min_isr == ("orders-0",)


def test_a_stop_is_refused_while_any_partition_is_under_replicated_or_offline() -> None:
    urp = check_stop(view(part(0, (1, 2, 3), (1, 2)), part(1, (2, 3, 1), (2, 3, 1))), 2, None)
    assert urp.problem() == "1 partitions are under-replicated: orders-0"
    offline = check_stop(view(part(0, (1, 2, 3), ())), 1, None)
    assert str(offline.problem()).startswith("1 partitions are offline")


def quorum(leader: int, ages: dict[int, float | None]) -> QuorumStatus:
    voters = tuple(
        QuorumMember(n, "leader" if n == leader else "follower", 10, 0, age)
        for n, age in ages.items()
    )
    return QuorumStatus(leader, 10, voters, ())


def test_a_voter_may_stop_only_while_a_caught_up_majority_remains_without_it() -> None:
    assert quorum_blocker(quorum(1, {1: 0.0, 2: 0.5, 3: 0.2}), 3) is None
    lagging = quorum_blocker(quorum(1, {1: 0.0, 2: 600.0, 3: 0.2}), 3)
    assert lagging is not None and "fewer than the 2 a majority of 3 needs" in lagging
    assert quorum_blocker(quorum(1, {1: 0.0, 2: 600.0, 3: 0.2}), 4) is None  # not a voter


def test_the_params_fix_the_order_from_the_quorum_leader(tmp_path: Path) -> None:
    fake = FakeCluster(leader=1)
    params = restart_params(settings(tmp_path), "primary", probe=fake)
    assert params["order"] == [2, 3, 1]
    assert params["active_controller"] == 1 and params["brokers"] == [2, 3, 1]
    with pytest.raises(UsageError, match="has no node 7"):
        restart_params(settings(tmp_path), "primary", nodes=[7], probe=fake)


def hosts_of(fake: FakeCluster) -> dict[int, FakeHost]:
    files: dict[str, bytes] = {}
    return {n: FakeHost(fake, n, files) for n in fake.nodes}


def book_for(tmp_path: Path, fake: FakeCluster, **timeouts: float) -> tuple[Settings, Playbook]:
    s = settings(tmp_path)
    hosts = hosts_of(fake)
    params = restart_params(
        s, "primary", probe=fake, settle_timeout_s=timeouts.get("settle", 2),
        ready_timeout_s=timeouts.get("ready", 2),
    )  # fmt: skip
    return s, restart_playbook(s, params, probe=fake, access=hosts.__getitem__)


def test_the_plan_has_five_steps_per_node_then_verify_and_changes_nothing(tmp_path: Path) -> None:
    fake = FakeCluster(leader=2)
    _, book = book_for(tmp_path, fake)
    names = [p.name for p in plan(book)]
    assert names[:5] == ["preflight_1", "stop_1", "start_1", "await_1", "elect_leaders_1"]
    assert names[5] == "preflight_3" and names[10] == "preflight_2" and names[-1] == "verify"
    assert next(p for p in plan(book) if p.name == "start_1").done is None  # not known yet
    assert fake.events == []


def test_a_rolling_restart_has_one_node_down_at_a_time_and_ends_whole(tmp_path: Path) -> None:
    fake = FakeCluster(leader=2)
    s, book = book_for(tmp_path, fake)
    result = run_playbook(s, book)
    assert result.status == "completed", result.error
    assert fake.events == ["stop 1", "start 1", "stop 3", "start 3", "stop 2", "start 2"]
    assert fake.max_down == 1
    assert fake.elections == 3
    assert result.outputs("verify")["not_preferred_leaders"] == 0
    assert set(result.outputs("verify")["down_s"]) == {"1", "2", "3"}
    assert result.source == result.target == "primary"  # the lock is the cluster's own


def test_a_restart_refuses_to_stop_anything_while_a_partition_is_under_replicated(
    tmp_path: Path,
) -> None:
    fake = FakeCluster(leader=3)
    fake.stuck_out_of_isr.add((("orders", 1), 3))
    s, book = book_for(tmp_path, fake, settle=1)
    result = run_playbook(s, book)
    assert result.status == "failed"
    assert result.error is not None and "under-replicated: orders-1" in result.error
    assert "node 1 of 'primary' was not safe to stop within 1s" in result.error
    assert fake.events == []


def test_a_node_that_does_not_come_back_stops_the_run_and_a_resume_continues_from_it(
    tmp_path: Path,
) -> None:
    fake = FakeCluster(leader=3)
    fake.comes_back[2] = False
    s, book = book_for(tmp_path, fake, ready=1)
    failed = run_playbook(s, book)
    assert failed.status == "failed"
    assert failed.error == (
        "step await_2: node 2 of 'primary' did not come back within 1s: broker 2 not registered"
    )
    assert fake.events == ["stop 1", "start 1", "stop 2", "start 2"]  # node 3 untouched

    fake.comes_back[2] = fake.registers[2] = True  # whatever kept it out is fixed
    # What 'playbook resume' does, with the fakes: the same params build the same steps.
    again = restart_playbook(s, book.params, probe=fake, access=hosts_of(fake).__getitem__)
    resumed = run_playbook(s, again, run_id=failed.run_id)
    assert resumed.status == "completed", resumed.error
    # Node 1 is not restarted again; node 2 is not stopped again; node 3 (the leader) last.
    assert fake.events == ["stop 1", "start 1", "stop 2", "start 2", "stop 3", "start 3"]
