"""Translating a group's offsets from MirrorMaker 2 checkpoints, and naming remote topics."""

from __future__ import annotations

import pytest

from dr.mirror.records import Checkpoint, ReplicationPolicy, remote_topic
from dr.mirror.translate import (
    TranslatedOffset,
    TranslationResult,
    downstream_topic,
    translate_group,
)

NOW_MS = 1_700_000_060_000


def cp(
    topic: str, partition: int, upstream: int, downstream: int, group: str = "billing"
) -> Checkpoint:
    return Checkpoint(group, topic, partition, upstream, downstream, "")


def test_the_latest_checkpoint_of_a_partition_wins_in_log_order() -> None:
    log = [
        (cp("primary.orders", 0, 500, 480), NOW_MS - 30_000),
        (cp("primary.orders", 0, 900, 870), NOW_MS - 20_000),
        # The group was rewound on the source: MirrorMaker emits a lower checkpoint, which holds.
        (cp("primary.orders", 0, 200, 190), NOW_MS - 10_000),
    ]
    result = translate_group(
        "billing", log, source_alias="primary", policy="default", now_ms=NOW_MS
    )
    assert result == TranslationResult(
        group="billing",
        partitions=(TranslatedOffset("primary.orders", 0, 190, 200, 10.0),),
        missing=(),
    )


def test_the_target_offset_is_the_downstream_offset_not_the_upstream_one() -> None:
    log = [(cp("primary.orders", 2, 1_000, 640), NOW_MS)]
    (only,) = translate_group(
        "billing", log, source_alias="primary", policy="default", now_ms=NOW_MS
    ).partitions
    assert (only.offset, only.upstream_offset) == (640, 1_000)


def test_other_groups_checkpoints_are_ignored() -> None:
    log = [
        (cp("primary.orders", 0, 10, 10, group="shipping"), NOW_MS),
        (cp("primary.orders", 0, 50, 45), NOW_MS),
        (cp("primary.orders", 0, 99, 99, group="shipping"), NOW_MS),
        (cp("primary.orders", 1, 7, 7, group="billing-v2"), NOW_MS),
    ]
    result = translate_group(
        "billing", log, source_alias="primary", policy="default", now_ms=NOW_MS
    )
    assert [(p.topic, p.partition, p.offset) for p in result.partitions] == [
        ("primary.orders", 0, 45)
    ]


def test_partitions_come_sorted_by_topic_then_partition() -> None:
    log = [
        (cp("primary.payments", 0, 1, 1), NOW_MS),
        (cp("primary.orders", 10, 1, 1), NOW_MS),
        (cp("primary.orders", 2, 1, 1), NOW_MS),
    ]
    result = translate_group(
        "billing", log, source_alias="primary", policy="default", now_ms=NOW_MS
    )
    assert [(p.topic, p.partition) for p in result.partitions] == [
        ("primary.orders", 2),
        ("primary.orders", 10),
        ("primary.payments", 0),
    ]


def test_committed_partitions_without_a_checkpoint_are_listed_as_missing() -> None:
    log = [(cp("primary.orders", 0, 100, 90), NOW_MS)]
    committed = {("payments", 0): 5, ("orders", 1): 40, ("orders", 0): 100}
    result = translate_group(
        "billing",
        log,
        source_alias="primary",
        policy="default",
        now_ms=NOW_MS,
        committed_upstream=committed,
    )
    assert result.missing == (("orders", 1), ("payments", 0))


def test_missing_partitions_are_matched_by_the_identity_policys_names() -> None:
    log = [(cp("orders", 0, 100, 90), NOW_MS)]
    committed = {("orders", 0): 100, ("orders", 1): 3}
    result = translate_group(
        "billing",
        log,
        source_alias="primary",
        policy="identity",
        now_ms=NOW_MS,
        committed_upstream=committed,
    )
    assert result.missing == (("orders", 1),)


def test_a_topic_coming_home_from_the_target_is_matched_by_its_original_name() -> None:
    # Active/active: "dr.orders" on primary is dr's "orders", checkpointed as "orders".
    log = [(cp("orders", 0, 100, 90), NOW_MS)]
    committed = {("dr.orders", 0): 100}
    result = translate_group(
        "billing",
        log,
        source_alias="primary",
        policy="default",
        now_ms=NOW_MS,
        committed_upstream=committed,
        target_alias="dr",
    )
    assert result.missing == ()


def test_checkpoint_ages_are_measured_from_now() -> None:
    log = [
        (cp("primary.orders", 0, 1, 1), NOW_MS - 90_500),
        (cp("primary.orders", 1, 1, 1), NOW_MS),
        (cp("primary.orders", 2, 1, 1), NOW_MS + 4_000),  # MirrorMaker's clock runs ahead
    ]
    result = translate_group(
        "billing", log, source_alias="primary", policy="default", now_ms=NOW_MS
    )
    assert [p.checkpoint_age_seconds for p in result.partitions] == [90.5, 0.0, 0.0]


def test_a_group_without_checkpoints_translates_to_nothing_and_misses_everything() -> None:
    result = translate_group(
        "billing",
        [],
        source_alias="primary",
        policy="default",
        now_ms=NOW_MS,
        committed_upstream={("orders", 0): 1},
    )
    assert result == TranslationResult("billing", partitions=(), missing=(("orders", 0),))


def test_the_default_policy_prefixes_the_source_alias() -> None:
    assert remote_topic("primary", "orders", "default") == "primary.orders"
    assert remote_topic("primary", "dr.orders", "default") == "primary.dr.orders"
    assert remote_topic("primary", "orders", "default", separator="_") == "primary_orders"


def test_the_identity_policy_keeps_names_except_for_heartbeats() -> None:
    assert remote_topic("primary", "orders", "identity") == "orders"
    assert remote_topic("primary", "heartbeats", "identity") == "primary.heartbeats"
    # MirrorMaker's IdentityReplicationPolicy tests endsWith("heartbeats"), not equality.
    assert remote_topic("primary", "app-heartbeats", "identity") == "primary.app-heartbeats"


@pytest.mark.parametrize(
    ("upstream", "target_alias", "policy", "expected"),
    [
        ("orders", "dr", "default", "primary.orders"),
        ("dr.orders", "dr", "default", "orders"),
        ("dr.east.orders", "dr", "default", "orders"),  # every hop is stripped, as in Java
        ("dr.orders", None, "default", "primary.dr.orders"),
        ("dr.", "dr", "default", "primary.dr."),  # Java's split drops the empty tail: not remote
        ("orders", "dr", "identity", "orders"),
        ("dr.heartbeats", "dr", "identity", "heartbeats"),
        ("heartbeats", "dr", "identity", "primary.heartbeats"),
    ],
)
def test_downstream_topic_names_what_checkpoints_call_an_upstream_topic(
    upstream: str, target_alias: str | None, policy: ReplicationPolicy, expected: str
) -> None:
    name = downstream_topic(
        upstream, source_alias="primary", policy=policy, target_alias=target_alias
    )
    assert name == expected


def test_an_empty_separator_is_refused() -> None:
    with pytest.raises(ValueError, match="separator must not be empty"):
        translate_group("g", [], source_alias="a", policy="default", now_ms=0, separator="")
