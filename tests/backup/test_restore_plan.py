"""Planning a restore: names that clash, and group offsets the restored topics cannot hold."""

from __future__ import annotations

from typing import Any

from dr.backup.restore_plan import GroupSkip, TopicRestore, name_clashes, plan_groups


def topic(source: str, target: str, partitions: int = 3) -> TopicRestore:
    return TopicRestore(source, target, partitions, 1, {}, 0, False, 0)


def metadata(groups: dict[str, dict[str, dict[str, int]]]) -> dict[str, Any]:
    return {"topics": {}, "consumer_groups": groups}


def test_two_topics_restored_under_one_name_are_both_named() -> None:
    problems = name_clashes([topic("a", "x"), topic("x", "x"), topic("b", "y")])

    assert len(problems) == 1
    assert "'a'" in problems[0] and "'x'" in problems[0] and "--rename" in problems[0]


def test_a_group_offset_on_a_partition_the_restored_topic_lacks_is_skipped_and_named() -> None:
    # The group's offsets were read after partition 3 was added; the backup has 0..2.
    meta = metadata({"billing": {"orders": {"0": 5, "2": 9, "3": 7}}})

    groups, skips = plan_groups(meta, [topic("orders", "orders-restored")])

    assert groups == ("billing",)
    assert skips == (
        GroupSkip("billing", "orders-restored", 3, 7, "the restored topic has no partition 3"),
    )


def test_groups_of_topics_not_restored_are_left_out() -> None:
    meta = metadata({"billing": {"orders": {"0": 5}}, "audit": {"payments": {"0": 1}}})

    groups, skips = plan_groups(meta, [topic("orders", "orders")])

    assert groups == ("billing",) and skips == ()


def test_without_groups_nothing_is_planned() -> None:
    meta = metadata({"billing": {"orders": {"9": 5}}})

    assert plan_groups(meta, [topic("orders", "orders")], wanted=False) == ((), ())
