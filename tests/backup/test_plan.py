"""Planning a backup run: which topics, where each partition continues, what retention drops."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from dr.backup.catalog import Gap, Manifest, MissingPartition, PartitionEntry, SegmentRef
from dr.backup.copy import BackupError, PartitionPlan
from dr.backup.plan import PartitionState, apply_data_horizon, plan_backup
from dr.backup.plan import partition_entry as _entry
from dr.backup.runner import select_topics
from dr.config.schema import BackupJob, Retention
from dr.kafka.admin import TopicInfo

NOW = datetime(2024, 5, 31, 12, 0, tzinfo=UTC)
BACKUP_ID = "orders-job-20240531T120000000000Z"
RETENTION_GAP = "deleted by retention before backup"
DAY_MS = 86_400_000


def job(
    topics: list[str], exclude: list[str] | None = None, keep_days: float | None = None
) -> BackupJob:
    return BackupJob(
        cluster="primary",
        topics=topics,
        exclude=exclude or [],
        storage="local",
        retention=Retention(keep_days=keep_days),
    )


def cluster_topics(*names: str) -> dict[str, TopicInfo]:
    return {name: TopicInfo(name, 3, 3, {}) for name in names}


def ref(start: int, end: int, *, age_days: float | None = 0.0) -> SegmentRef:
    """A segment whose newest record is age_days old at NOW (None: it holds no record)."""
    stamp = None if age_days is None else int(NOW.timestamp() * 1000 - age_days * DAY_MS)
    return SegmentRef(
        key=f"orders-job/data/orders/0/{start:020d}.seg",
        start_offset=start,
        end_offset=end,
        records=end - start if stamp is not None else 0,
        bytes=100,
        sha256="0" * 64,
        first_timestamp=stamp,
        last_timestamp=stamp,
    )


def gap(start: int, end: int) -> Gap:
    return Gap(start, end, RETENTION_GAP, "2024-05-01T00:00:00+00:00", "orders-job-earlier")


def manifest_with(*entries: PartitionEntry) -> Manifest:
    return Manifest(
        backup_id="orders-job-20240530T120000000000Z",
        job="orders-job",
        cluster="primary",
        cluster_id="ZflW-T5aQTaqFkSg3E77RQ",
        started_at="2024-05-30T12:00:00+00:00",
        finished_at="2024-05-30T12:01:00+00:00",
        parent=None,
        compression="zstd",
        records=0,
        bytes=0,
        metadata_key="orders-job/metadata/orders-job-20240530T120000000000Z.json",
        metadata_sha256="0" * 64,
        partitions=entries,
    )


def stored(start: int, end: int, partition: int = 0, topic_id: str | None = None) -> PartitionEntry:
    return PartitionEntry("orders", partition, start, end, (ref(start, end),), topic_id=topic_id)


def plan_one(
    previous: Manifest | None, earliest: int, latest: int, topic_id: str | None = None
) -> PartitionPlan:
    state = PartitionState("orders", 0, topic_id, earliest, latest)
    plan = plan_backup(previous, [state], existing_topics={"orders"}, backup_id=BACKUP_ID, now=NOW)
    [partition] = plan.partitions
    return partition


# -- select_topics --------------------------------------------------------------------------


def test_topic_patterns_must_match_the_whole_name() -> None:
    topics = cluster_topics("orders", "orders-eu", "old-orders", "payments.eu", "payments")

    chosen = select_topics(topics, job(["orders", r"payments\..*"]))

    assert sorted(chosen) == ["orders", "payments.eu"]


def test_excluded_topics_are_left_out_even_when_a_pattern_matches() -> None:
    topics = cluster_topics("orders", "orders-tmp", "payments")

    chosen = select_topics(topics, job([".*"], exclude=[".*-tmp"]))

    assert sorted(chosen) == ["orders", "payments"]


def test_an_exclusion_matches_the_whole_name_too() -> None:
    topics = cluster_topics("orders", "orders-tmp-archive")

    assert sorted(select_topics(topics, job([".*"], exclude=[".*-tmp"]))) == [
        "orders",
        "orders-tmp-archive",
    ]


def test_internal_topics_are_never_backed_up_even_when_named() -> None:
    topics = cluster_topics("__consumer_offsets", "__transaction_state", "__cluster_metadata", "a")

    chosen = select_topics(topics, job([".*", "__consumer_offsets", "__transaction_state"]))

    assert list(chosen) == ["a"]


def test_selected_topics_keep_their_shape() -> None:
    topics = {"orders": TopicInfo("orders", 12, 3, {"cleanup.policy": "compact"})}

    assert select_topics(topics, job(["orders"])) == topics


# -- plan_partitions ------------------------------------------------------------------------


def test_a_first_run_starts_at_the_log_start_without_a_gap() -> None:
    plan = plan_one(None, earliest=500, latest=800)

    assert (plan.start, plan.end, plan.gap, plan.carried) == (500, 800, None, None)


def test_a_later_run_continues_where_the_previous_backup_ended() -> None:
    previous = manifest_with(stored(0, 300))

    plan = plan_one(previous, earliest=100, latest=450)

    assert (plan.start, plan.end, plan.gap) == (300, 450, None)
    assert plan.carried == previous.partitions[0]


def test_a_run_with_nothing_new_plans_an_empty_range() -> None:
    plan = plan_one(manifest_with(stored(0, 300)), earliest=0, latest=300)

    assert plan.start == plan.end == 300


def test_a_log_start_past_the_previous_end_is_a_gap_naming_the_missing_offsets() -> None:
    plan = plan_one(manifest_with(stored(0, 300)), earliest=420, latest=500)

    assert plan.gap == Gap(300, 420, RETENTION_GAP, NOW.isoformat(), BACKUP_ID)
    assert (plan.start, plan.end) == (420, 500)


def test_a_log_start_exactly_at_the_previous_end_is_no_gap() -> None:
    plan = plan_one(manifest_with(stored(0, 300)), earliest=300, latest=500)

    assert (plan.start, plan.gap) == (300, None)


def test_a_log_end_below_what_was_stored_under_the_same_topic_id_is_refused() -> None:
    with pytest.raises(BackupError) as caught:
        plan_one(manifest_with(stored(0, 300, topic_id="T1")), 0, 120, topic_id="T1")

    assert str(caught.value).startswith(
        "orders-0: the log (topic id T1) ends at offset 120 but offsets up to 300 are already "
        "backed up"
    )


def test_a_log_end_one_offset_short_of_what_was_stored_is_refused_too() -> None:
    with pytest.raises(BackupError, match="ends at offset 299 "):
        plan_one(manifest_with(stored(0, 300, topic_id="T1")), 0, 299, topic_id="T1")


def test_a_partition_added_since_the_previous_backup_starts_at_its_log_start() -> None:
    previous = manifest_with(stored(0, 300, partition=0))
    states = [PartitionState("orders", 0, None, 0, 310), PartitionState("orders", 1, None, 7, 9)]

    plans = plan_backup(
        previous, states, existing_topics={"orders"}, backup_id=BACKUP_ID, now=NOW
    ).partitions

    assert [(p.partition, p.start, p.end, p.carried is None) for p in plans] == [
        (0, 300, 310, False),
        (1, 7, 9, True),
    ]


# -- _entry: the manifest entry of a planned partition ---------------------------------------


def test_a_first_run_entry_covers_its_own_segments_from_the_log_start() -> None:
    plan = PartitionPlan("orders", 0, 500, 800, carried=None, segments=[ref(500, 800)])

    assert _entry(plan) == PartitionEntry("orders", 0, 500, 800, (ref(500, 800),))


def test_a_later_entry_is_cumulative_keeping_the_earlier_segments_and_gaps() -> None:
    earlier = PartitionEntry("orders", 0, 0, 300, (ref(0, 300),), (gap(50, 60),))
    new_gap = Gap(300, 420, RETENTION_GAP, NOW.isoformat(), BACKUP_ID)
    plan = PartitionPlan("orders", 0, 420, 500, earlier, new_gap, [ref(420, 500)])

    assert _entry(plan) == PartitionEntry(
        "orders", 0, 0, 500, (ref(0, 300), ref(420, 500)), (gap(50, 60), new_gap)
    )


def test_an_entry_with_nothing_new_is_the_previous_one_unchanged() -> None:
    earlier = PartitionEntry("orders", 0, 0, 300, (ref(0, 300),))

    assert _entry(PartitionPlan("orders", 0, 300, 300, earlier)) == earlier


# -- apply_data_horizon ---------------------------------------------------------------------


GONE = {("orders", 0): 10**9}  # Kafka no longer holds any of these offsets


def horizon(
    entry: PartitionEntry, keep_days: float | None = 7, log_start: int = 10**9
) -> PartitionEntry:
    return apply_data_horizon(
        manifest_with(entry), keep_days, NOW, {("orders", 0): log_start}
    ).partitions[0]


def test_without_keep_days_no_data_is_dropped() -> None:
    manifest = manifest_with(PartitionEntry("orders", 0, 0, 20, (ref(0, 10, age_days=900),)))

    assert apply_data_horizon(manifest, None, NOW, GONE) == manifest


def test_old_records_still_in_kafka_are_never_dropped_by_keep_days() -> None:
    segments = (ref(0, 10, age_days=900), ref(10, 20, age_days=800))

    kept = horizon(PartitionEntry("orders", 0, 0, 20, segments), log_start=0)

    assert kept.segments == segments
    assert kept.start_offset == 0


def test_only_old_segments_below_the_log_start_leave_the_backup() -> None:
    segments = (ref(0, 10, age_days=900), ref(10, 20, age_days=800), ref(20, 30, age_days=700))

    kept = horizon(PartitionEntry("orders", 0, 0, 30, segments), log_start=15)

    assert kept.segments == segments[1:]
    assert kept.start_offset == 10


def test_a_partition_kafka_did_not_report_keeps_everything() -> None:
    manifest = manifest_with(PartitionEntry("orders", 0, 0, 10, (ref(0, 10, age_days=900),)))

    assert apply_data_horizon(manifest, 7, NOW, {}) == manifest


def test_leading_segments_older_than_keep_days_are_dropped_and_the_start_moves() -> None:
    segments = (ref(0, 10, age_days=30), ref(10, 20, age_days=8), ref(20, 30, age_days=1))

    kept = horizon(PartitionEntry("orders", 0, 0, 30, segments))

    assert kept.segments == (ref(20, 30, age_days=1),)
    assert (kept.start_offset, kept.end_offset) == (20, 30)


def test_an_old_segment_after_a_recent_one_stays_so_the_horizon_never_makes_a_hole() -> None:
    segments = (ref(0, 10, age_days=1), ref(10, 20, age_days=30), ref(20, 30, age_days=1))

    kept = horizon(PartitionEntry("orders", 0, 0, 30, segments))

    assert kept.segments == segments
    assert kept.start_offset == 0


def test_a_segment_whose_newest_record_is_exactly_keep_days_old_is_kept() -> None:
    segments = (ref(0, 10, age_days=7), ref(10, 20, age_days=1))

    assert horizon(PartitionEntry("orders", 0, 0, 20, segments)).segments == segments


def test_a_leading_segment_without_records_is_dropped_with_the_old_ones() -> None:
    segments = (ref(0, 10, age_days=30), ref(10, 12, age_days=None), ref(12, 20, age_days=1))

    kept = horizon(PartitionEntry("orders", 0, 0, 20, segments))

    assert kept.segments == (ref(12, 20, age_days=1),)
    assert kept.start_offset == 12


def test_gaps_before_the_new_start_are_dropped_and_later_gaps_kept() -> None:
    segments = (ref(0, 10, age_days=30), ref(20, 30, age_days=1), ref(40, 50, age_days=1))
    entry = PartitionEntry("orders", 0, 0, 50, segments, (gap(10, 20), gap(30, 40)))

    kept = horizon(entry)

    assert kept.gaps == (gap(30, 40),)
    assert kept.start_offset == 20


def test_a_partition_whose_data_is_all_older_than_keep_days_keeps_no_segment() -> None:
    entry = PartitionEntry("orders", 0, 0, 20, (ref(0, 10, age_days=9), ref(10, 20, age_days=8)))

    kept = horizon(entry)

    assert kept.segments == ()
    assert kept.start_offset == kept.end_offset == 20


def test_the_horizon_changes_only_partitions_and_keeps_the_rest_of_the_manifest() -> None:
    manifest = manifest_with(PartitionEntry("orders", 0, 0, 10, (ref(0, 10, age_days=30),)))

    after = apply_data_horizon(manifest, 7, NOW, GONE)

    assert replace(after, partitions=manifest.partitions) == manifest
    assert after.partitions[0].segments == ()


# -- lineage, missing partitions, retired topics --------------------------------------------


def test_a_recreated_topic_starts_a_new_lineage_from_its_log_start() -> None:
    previous = manifest_with(stored(0, 300, topic_id="OLD"))

    plan = plan_one(previous, earliest=0, latest=40, topic_id="NEW")

    assert (plan.start, plan.end, plan.carried, plan.gap, plan.topic_id) == (
        0,
        40,
        None,
        None,
        "NEW",
    )


def test_a_recreated_topic_longer_than_its_old_self_is_still_a_new_lineage() -> None:
    previous = manifest_with(stored(0, 300, topic_id="OLD"))

    plan = plan_one(previous, earliest=0, latest=5000, topic_id="NEW")

    assert (plan.start, plan.carried) == (0, None)


def test_the_old_lineage_is_recorded_as_retired_naming_the_backup_that_holds_it() -> None:
    previous = manifest_with(stored(0, 300, topic_id="OLD"))
    state = PartitionState("orders", 0, "NEW", 0, 40)

    plan = plan_backup(previous, [state], existing_topics={"orders"}, backup_id=BACKUP_ID, now=NOW)

    [retired] = plan.retired
    assert (retired.topic, retired.topic_id, retired.held_by) == (
        "orders",
        "OLD",
        previous.backup_id,
    )
    assert "re-created" in retired.reason


def test_a_backup_without_topic_ids_continues_when_the_log_still_covers_it() -> None:
    plan = plan_one(manifest_with(stored(0, 300)), earliest=0, latest=400, topic_id="T1")

    assert (plan.start, plan.carried is not None) == (300, True)


def test_a_backup_without_topic_ids_and_a_shorter_log_is_a_new_lineage_not_a_wedge() -> None:
    plan = plan_one(manifest_with(stored(0, 300)), earliest=0, latest=20, topic_id="T1")

    assert (plan.start, plan.end, plan.carried) == (0, 20, None)


def test_a_leaderless_partition_is_missing_never_an_empty_range() -> None:
    previous = manifest_with(stored(0, 300, topic_id="T1"))
    state = PartitionState("orders", 0, "T1", problem="no leader")

    plan = plan_backup(previous, [state], existing_topics={"orders"}, backup_id=BACKUP_ID, now=NOW)

    assert plan.partitions == []
    assert plan.missing == [MissingPartition("orders", 0, "no leader")]
    assert plan.unchanged == [previous.partitions[0]]


def test_a_deleted_topic_is_retired_and_not_carried_forward() -> None:
    previous = manifest_with(stored(0, 300, topic_id="T1"))

    plan = plan_backup(previous, [], existing_topics=set(), backup_id=BACKUP_ID, now=NOW)

    assert plan.partitions == [] and plan.unchanged == []
    [retired] = plan.retired
    assert (retired.topic, retired.reason) == ("orders", "deleted from the cluster")


def test_a_topic_no_longer_selected_is_retired_as_such() -> None:
    previous = manifest_with(stored(0, 300, topic_id="T1"))

    plan = plan_backup(previous, [], existing_topics={"orders"}, backup_id=BACKUP_ID, now=NOW)

    assert plan.retired[0].reason == "no longer matched by the job's topics"
