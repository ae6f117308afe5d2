"""Reassignment plans for adding and removing a broker: balance, racks, fewest bytes moved."""

from __future__ import annotations

from collections import Counter

import pytest

from dr.errors import UsageError
from dr.playbooks.balance import ReassignmentPlan, plan_add, plan_remove

TP = tuple[str, int]


def three_broker_cluster(partitions: int = 12) -> dict[TP, tuple[int, ...]]:
    """RF 3 on brokers 1-3, preferred leaders rotating."""
    out = {}
    for p in range(partitions):
        first = p % 3
        out[("orders", p)] = tuple(1 + (first + i) % 3 for i in range(3))
    return out


def counts(placement: dict[TP, tuple[int, ...]]) -> Counter[int]:
    return Counter(b for r in placement.values() for b in r)


def applied(
    placement: dict[TP, tuple[int, ...]], plan: ReassignmentPlan
) -> dict[TP, tuple[int, ...]]:
    out = dict(placement)
    for move in plan.moves:
        assert out[move.tp] == move.before
        out[move.tp] = move.after
    return out


NO_RACKS: dict[int, str | None] = {}


def test_add_gives_the_new_broker_a_balanced_share() -> None:
    placement = three_broker_cluster(12)  # 36 replicas over 4 brokers: 9 each
    plan = plan_add(
        placement, {}, brokers=[1, 2, 3, 4], new_broker=4, racks=NO_RACKS, size_source="test"
    )
    after = counts(applied(placement, plan))
    assert after == Counter({1: 9, 2: 9, 3: 9, 4: 9})
    assert len(plan.moves) == 9  # exactly the replicas the new broker takes, nothing else
    assert dict(plan.replicas_after) == {1: 9, 2: 9, 3: 9, 4: 9}


def test_add_never_puts_two_replicas_of_a_partition_on_one_broker() -> None:
    placement = three_broker_cluster(30)
    plan = plan_add(
        placement, {}, brokers=[1, 2, 3, 4], new_broker=4, racks=NO_RACKS, size_source="test"
    )
    for replicas in applied(placement, plan).values():
        assert len(set(replicas)) == len(replicas)


def test_add_moves_the_smallest_partitions() -> None:
    placement = three_broker_cluster(12)
    sizes = {("orders", p): (1_000_000 if p < 6 else 10) for p in range(12)}
    plan = plan_add(
        placement, sizes, brokers=[1, 2, 3, 4], new_broker=4, racks=NO_RACKS, size_source="test"
    )
    moved = {m.partition for m in plan.moves}
    # 9 moves, one per partition at most: the six small partitions all move, then three big
    assert {6, 7, 8, 9, 10, 11} <= moved
    assert plan.moved_bytes == 3 * 1_000_000 + 6 * 10


def test_add_keeps_racks_apart() -> None:
    # brokers 1,2 in rack a, 3,4 in rack b; the new broker 5 in rack a
    racks: dict[int, str | None] = {1: "a", 2: "a", 3: "b", 4: "b", 5: "a"}
    placement: dict[TP, tuple[int, ...]] = {}
    for p in range(10):
        placement[("t", p)] = (1 + p % 2, 3 + p % 2)  # one replica per rack
    plan = plan_add(
        placement, {}, brokers=[1, 2, 3, 4, 5], new_broker=5, racks=racks, size_source="test"
    )
    assert plan.moves, "the new broker takes some replicas"
    for replicas in applied(placement, plan).values():
        assert {racks[b] for b in replicas} == {"a", "b"}
    # broker 5 can only take rack-a replicas: it is the rack-a brokers that give them
    assert all(set(m.before) - set(m.after) <= {1, 2} for m in plan.moves)


def test_add_of_a_broker_already_balanced_moves_nothing() -> None:
    placement = three_broker_cluster(12)
    plan = plan_add(
        placement, {}, brokers=[1, 2, 3], new_broker=3, racks=NO_RACKS, size_source="test"
    )
    assert plan.moves == ()


def test_add_refuses_a_broker_that_is_not_online() -> None:
    with pytest.raises(UsageError, match="broker 4 is not online"):
        plan_add(
            three_broker_cluster(),
            {},
            brokers=[1, 2, 3],
            new_broker=4,
            racks=NO_RACKS,
            size_source="test",
        )


def test_remove_leaves_nothing_on_the_broker_and_moves_nothing_else() -> None:
    placement = three_broker_cluster(12)
    placement.update({("small", p): (4, 1 + p % 3) for p in range(8)})
    grown = plan_add(
        placement, {}, brokers=[1, 2, 3, 4], new_broker=4, racks=NO_RACKS, size_source="test"
    )
    placement = applied(placement, grown)
    on_four = sum(1 for r in placement.values() if 4 in r)
    plan = plan_remove(
        placement, {}, brokers=[1, 2, 3, 4], leaving=4, racks=NO_RACKS, size_source="test"
    )
    after = applied(placement, plan)
    assert all(4 not in r for r in after.values())
    assert len(plan.moves) == on_four
    assert all(4 in m.before for m in plan.moves)
    left = counts(after)
    assert max(left.values()) - min(left.values()) <= 1  # the replicas spread evenly
    assert plan.replicas_after[4] == 0


def test_remove_keeps_racks_apart_when_it_can() -> None:
    racks: dict[int, str | None] = {1: "a", 2: "a", 3: "b", 4: "b"}
    placement: dict[TP, tuple[int, ...]] = {("t", p): (1 + p % 2, 4) for p in range(6)}
    plan = plan_remove(
        placement, {}, brokers=[1, 2, 3, 4], leaving=4, racks=racks, size_source="test"
    )
    for replicas in applied(placement, plan).values():
        assert 3 in replicas  # the only other rack-b broker


def test_remove_keeps_the_preferred_leader_slot() -> None:
    placement: dict[TP, tuple[int, ...]] = {("t", 0): (4, 1, 2)}
    plan = plan_remove(
        placement, {}, brokers=[1, 2, 3, 4], leaving=4, racks=NO_RACKS, size_source="test"
    )
    assert plan.moves[0].after == (3, 1, 2)


def test_remove_refuses_when_the_remaining_brokers_cannot_hold_a_partition() -> None:
    placement: dict[TP, tuple[int, ...]] = {("t", 0): (1, 2, 3)}
    with pytest.raises(UsageError, match="partition t-0 has 3 replicas and only 2 brokers"):
        plan_remove(placement, {}, brokers=[1, 2, 3], leaving=3, racks=NO_RACKS, size_source="test")


def test_a_plan_survives_the_journal_as_json() -> None:
    plan = plan_add(
        three_broker_cluster(),
        {("orders", 1): 7},
        brokers=[1, 2, 3, 4],
        new_broker=4,
        racks=NO_RACKS,
        size_source="test",
    )
    assert ReassignmentPlan.from_json(plan.as_json()) == plan
