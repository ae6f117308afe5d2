"""The broker-add run over a described cluster: a reassignment already submitted (a run
killed after it) is never submitted twice; progress counts only replicas in sync."""

from __future__ import annotations

from dr.config.schema import ClusterSettings, Settings
from dr.kafka.reassign import Ongoing, PartitionReplicas
from dr.playbooks.balance import plan_add
from dr.playbooks.brokermoves import broker_move_playbook, move_params
from dr.playbooks.reassign import ClusterView
from dr.steps import Playbook, Step, StepContext

TP = tuple[str, int]


class FakeView(ClusterView):
    """A cluster as described: replica sets, ISRs and the reassignments listed as moving."""

    def __init__(self, settings: Settings, placement: dict[TP, tuple[int, ...]]) -> None:
        super().__init__(settings, "primary")
        self.placement = dict(placement)
        self.isr: dict[TP, tuple[int, ...]] = dict(placement)
        self.moving: tuple[Ongoing, ...] = ()

    def ongoing(self) -> tuple[Ongoing, ...]:
        return self.moving

    def replicas(self) -> dict[TP, PartitionReplicas]:
        return {
            tp: PartitionReplicas(tp[0], tp[1], r, self.isr[tp], r[0])
            for tp, r in self.placement.items()
        }


def settings() -> Settings:
    return Settings(clusters={"primary": ClusterSettings(bootstrap_servers="127.0.0.1:9092")})


def book_and_view() -> tuple[Playbook, FakeView]:
    placement = {("t", p): tuple(1 + (p + i) % 3 for i in range(3)) for p in range(6)}
    plan = plan_add(placement, {}, brokers=[1, 2, 3, 4], new_broker=4, racks={}, size_source="test")
    view = FakeView(settings(), placement)
    book = broker_move_playbook(
        settings(), move_params("primary", plan, throttle_mb=1.0), view=view
    )
    return book, view


def step(book: Playbook, name: str) -> Step:
    return next(s for s in book.steps if s.name == name)


CTX = StepContext("run", "broker-add", {}, {})


def test_submit_is_to_do_before_anything_moves() -> None:
    book, _ = book_and_view()
    check = step(book, "submit").check
    assert check is not None and check(CTX) is False


def test_a_reassignment_listed_as_moving_to_the_plan_counts_as_submitted() -> None:
    book, view = book_and_view()
    plan = book.params["plan"]
    view.moving = tuple(
        Ongoing(
            m["topic"],
            m["partition"],
            tuple(sorted(set(m["before"]) | set(m["after"]))),
            tuple(set(m["after"]) - set(m["before"])),
            tuple(set(m["before"]) - set(m["after"])),
        )
        for m in plan["moves"]
    )
    check = step(book, "submit").check
    assert check is not None and check(CTX) is True


def test_a_reassignment_moving_elsewhere_is_not_ours() -> None:
    book, view = book_and_view()
    first = book.params["plan"]["moves"][0]
    view.moving = (Ongoing(first["topic"], first["partition"], (1, 2, 3, 9), (9,), (1,)),)
    check = step(book, "submit").check
    assert check is not None and check(CTX) is False


def test_progress_counts_a_partition_once_its_new_replica_is_in_sync() -> None:
    book, view = book_and_view()
    moves = book.params["plan"]["moves"]
    for m in moves:
        tp = (m["topic"], m["partition"])
        view.placement[tp] = tuple(m["after"])
        view.isr[tp] = tuple(b for b in m["after"] if b != 4)  # not caught up yet
    done = step(book, "wait_moved").run.__self__._progress()  # type: ignore[attr-defined]
    assert done.partitions_done == 0 and len(done.moving) == len(moves)
    for m in moves:
        view.isr[(m["topic"], m["partition"])] = tuple(m["after"])
    done = step(book, "wait_moved").run.__self__._progress()  # type: ignore[attr-defined]
    assert done.partitions_done == len(moves) and done.moving == ()
