"""Translating a group's offsets from MirrorMaker 2 checkpoints, and naming remote topics."""

from __future__ import annotations

import pytest

from dr.config.schema import MirrorFlow
from dr.mirror.records import Checkpoint, OffsetSync, ReplicationPolicy, remote_topic
from dr.mirror.topics import group_excluded, topic_map
from dr.mirror.translate import (
    MissingOffset,
    TranslatedOffset,
    TranslationResult,
    downstream_topic,
    translate_group,
    usable_syncs,
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
    assert result.partitions == (
        TranslatedOffset("primary.orders", 0, 190, 200, "checkpoint", 10.0),
    )
    assert result.source_unreachable is not None  # no commits given: checkpoints alone


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
    assert [(m.topic, m.partition) for m in result.missing] == [("orders", 1), ("payments", 0)]


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
    assert [(m.topic, m.partition) for m in result.missing] == [("orders", 1)]


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
    assert result == TranslationResult(
        "billing",
        partitions=(),
        missing=(
            MissingOffset(
                "orders",
                0,
                "syncs-unreadable",
                "no checkpoint for this partition, and the offset-syncs cannot be read "
                "(unknown reason)",
                1,
            ),
        ),
    )


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


# -- a checkpoint is used only for the commit it translated ---------------------------------------


def sync(upstream: int, downstream: int, topic: str = "orders", partition: int = 0) -> OffsetSync:
    return OffsetSync(topic, partition, upstream, downstream)


SYNCS = [sync(0, 0), sync(101, 101), sync(202, 190), sync(1414, 1400), sync(1999, 1985)]


def translate(
    committed: dict[tuple[str, int], int],
    log: list[tuple[Checkpoint, int]],
    syncs: list[OffsetSync] | None = SYNCS,
    **kwargs: object,
) -> TranslationResult:
    return translate_group(
        "billing",
        log,
        source_alias="primary",
        policy="default",
        now_ms=NOW_MS,
        committed_upstream=committed,
        offset_syncs=None if syncs is None else usable_syncs(syncs),
        **kwargs,  # type: ignore[arg-type]
    )


def test_a_checkpoint_of_the_current_commit_is_used() -> None:
    result = translate({("orders", 0): 1990}, [(cp("primary.orders", 0, 1990, 1401), NOW_MS)])
    (only,) = result.partitions
    assert (only.offset, only.basis, only.source_committed) == (1401, "checkpoint", 1990)


def test_a_rewound_group_is_never_given_its_stale_checkpoint() -> None:
    # Committed 1990, checkpointed, then rewound to 101: no checkpoint for 101 yet.
    result = translate({("orders", 0): 101}, [(cp("primary.orders", 0, 1990, 1401), NOW_MS)])
    (only,) = result.partitions
    assert (only.offset, only.basis) == (101, "offset-sync")
    assert (only.upstream_offset, only.checkpoint_upstream_offset) == (101, 1990)
    assert only.max_redelivered == 0


def test_a_commit_between_syncs_rounds_down_to_one_past_the_sync() -> None:
    result = translate({("orders", 0): 1500}, [(cp("primary.orders", 0, 1414, 1400), NOW_MS)])
    (only,) = result.partitions
    assert (only.offset, only.basis, only.max_redelivered) == (1401, "offset-sync", 85)


def test_rounding_never_passes_the_next_sync() -> None:
    # Records 203..205 were filtered away: 205 is the record at 191 on the target.
    syncs = [sync(202, 190), sync(205, 191)]
    (only,) = translate({("orders", 0): 204}, [], syncs).partitions
    assert only.offset == 191


def test_a_commit_older_than_every_sync_is_missing_with_the_reason() -> None:
    result = translate({("orders", 0): 50}, [], [sync(300, 0), sync(401, 101)])
    (missing,) = result.missing
    assert result.partitions == ()
    assert missing.kind == "behind-oldest-sync"
    assert "older than the oldest offset-sync" in missing.reason and "300" in missing.reason
    assert missing.source_committed == 50


def test_syncs_that_go_back_start_a_new_history() -> None:
    # The source topic was re-created: its offsets start again at 0.
    syncs = [sync(0, 0), sync(900, 900), sync(0, 950), sync(100, 1050)]
    (only,) = translate({("orders", 0): 950}, [], syncs).partitions
    assert only.offset == 1051  # through (100, 1050), never the old (900, 900)


def test_a_stale_checkpoint_without_readable_syncs_is_missing_not_used() -> None:
    result = translate(
        {("orders", 0): 101},
        [(cp("primary.orders", 0, 1990, 1401), NOW_MS)],
        None,
        syncs_unreadable="topic mm2-offset-syncs.dr.internal does not exist on 'primary'",
    )
    (missing,) = result.missing
    assert result.partitions == ()
    assert "translates 1990, not the group's commit 101" in missing.reason
    assert "does not exist on 'primary'" in missing.reason


def test_an_unreachable_source_leaves_the_checkpoints_and_says_so() -> None:
    result = translate_group(
        "billing",
        [(cp("primary.orders", 0, 1990, 1401), NOW_MS - 42_000)],
        source_alias="primary",
        policy="default",
        now_ms=NOW_MS,
        committed_upstream=None,
        source_unreachable="'primary' cannot be read",
    )
    assert result.source_unreachable == "'primary' cannot be read"
    assert result.newest_checkpoint_age_seconds == 42.0
    (only,) = result.partitions
    assert (only.offset, only.basis, only.source_committed) == (1401, "checkpoint", None)


def test_excluded_groups_and_topics_are_missing_with_the_reason() -> None:
    excluded = translate(
        {("orders", 0): 1500}, [], group_excluded="it matches groups.exclude 'console-.*'"
    )
    assert [(m.kind, m.reason) for m in excluded.missing] == [
        ("group-excluded", "it matches groups.exclude 'console-.*'")
    ]
    unreplicated = translate({("audit", 0): 7}, [], replicated=lambda topic: topic != "audit")
    assert [(m.kind, m.reason) for m in unreplicated.missing] == [
        ("not-replicated", "the flow does not replicate topic 'audit'")
    ]


def test_a_partition_without_any_sync_is_missing() -> None:
    (missing,) = translate({("orders", 3): 10}, []).missing
    assert missing.kind == "no-sync-yet"
    assert "no offset-sync for this partition" in missing.reason


@pytest.mark.parametrize(
    ("group", "flow", "excluded_by"),
    [
        ("console-consumer-4711", MirrorFlow(source="primary", target="dr"), "console-consumer-.*"),
        ("billing", MirrorFlow(source="primary", target="dr"), None),
        ("billing", MirrorFlow(source="primary", target="dr", groups_exclude=["bill.*"]), "bill.*"),
        (
            "connect-x",
            MirrorFlow(source="primary", target="dr", groups_exclude=["b"]),
            "connect-.*",
        ),
        ("ops", MirrorFlow(source="primary", target="dr", groups=["app-.*"]), "none"),
        (
            "console-consumer-1",
            MirrorFlow(source="primary", target="dr", properties={"groups.exclude": "tmp-.*"}),
            None,
        ),
    ],
)
def test_mirrormakers_group_filter(group: str, flow: MirrorFlow, excluded_by: str | None) -> None:
    reason = group_excluded(group, flow, None)
    if excluded_by is None:
        assert reason is None
    else:
        assert reason is not None and excluded_by in reason and group in reason


def test_the_topic_map_comes_from_the_source_when_it_answers() -> None:
    flow = MirrorFlow(source="primary", target="dr", topics=["orders.*"])
    mapped = topic_map(flow, source_topics=["orders", "orders-eu", "audit"], target_topics=[])
    assert mapped == {"orders": "primary.orders", "orders-eu": "primary.orders-eu"}


def test_the_topic_map_is_read_from_the_replicas_when_the_source_is_lost() -> None:
    flow = MirrorFlow(source="primary", target="dr", topics=["orders.*"])
    targets = ["primary.orders", "primary.audit", "orders", "primary.checkpoints.internal"]
    assert topic_map(flow, source_topics=None, target_topics=targets) == {
        "orders": "primary.orders"
    }
    identity = MirrorFlow(source="primary", target="dr", replication_policy="identity")
    assert topic_map(
        identity, source_topics=None, target_topics=["orders", "__consumer_offsets"]
    ) == {"orders": "orders"}
