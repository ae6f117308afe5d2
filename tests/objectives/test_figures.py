"""RPO arithmetic: every way a measurement can fall short reads unmeasured, never 0."""

from __future__ import annotations

import pytest

from dr.backup.manifest import PartitionEntry
from dr.kafka.reader import RecordAt
from dr.objectives.figures import (
    PartitionRpo,
    dating,
    first_missing_offsets,
    partition_rpo,
    stored_until,
    totals,
)

NOW = 1_700_000_000.0
NOW_MS = int(NOW * 1000)
TP = ("orders", 0)
REPLICA = ("primary.orders", 0)


def record(offset: int, seconds_ago: float) -> RecordAt:
    return RecordAt(offset, int(NOW_MS - seconds_ago * 1000), b"k", b"v")


def figures(
    *,
    end: int = 100,
    first_missing: int | None = 40,
    oldest: RecordAt | None = None,
    timed_out: bool = False,
    unmeasured: str | None = None,
    log_start_after: int | None = None,
) -> PartitionRpo:
    return partition_rpo(
        TP,
        "primary.orders",
        end=end,
        first_missing=first_missing,
        oldest=oldest,
        timed_out=timed_out,
        now=NOW,
        timeout_s=15.0,
        unmeasured=unmeasured,
        log_start_after=log_start_after,
    )


# -- one partition ------------------------------------------------------------------------------


def test_the_rpo_is_the_age_of_the_oldest_missing_record_and_the_lag_counts_offsets() -> None:
    p = figures(oldest=record(40, seconds_ago=12.5))

    assert (p.rpo_seconds, p.lag_messages, p.unmeasured) == (12.5, 60, None)


def test_a_caught_up_partition_is_zero_without_reading_anything() -> None:
    p = figures(first_missing=100)

    assert (p.rpo_seconds, p.lag_messages, p.unmeasured) == (0.0, 0, None)


def test_a_record_read_too_late_is_unmeasured_not_zero() -> None:
    p = figures(oldest=None, timed_out=True)

    assert p.rpo_seconds is None
    assert p.lag_messages == 60
    assert p.unmeasured == "the record at offset 40 of orders-0 could not be read within 15s"


def test_a_read_that_reached_the_end_without_a_record_has_nothing_to_lose() -> None:
    # Only transaction markers (or aborted records under read_committed) between the position
    # and the end: the lag counts their offsets, but no record would be lost.
    p = figures(end=41, first_missing=40, oldest=None, timed_out=False)

    assert (p.rpo_seconds, p.lag_messages, p.unmeasured) == (0.0, 1, None)


def test_a_read_that_found_nothing_because_retention_deleted_the_position_is_unmeasured() -> None:
    # The reader starts over at the end when its position is gone: finding nothing then is
    # no sign of being caught up.
    p = figures(end=100, first_missing=40, oldest=None, log_start_after=70)

    assert (p.rpo_seconds, p.lag_messages) == (None, 60)
    assert p.unmeasured == "offsets 40 to 69 of orders-0 were deleted (retention) while being read"


def test_a_read_that_found_nothing_with_the_log_start_unmoved_has_nothing_to_lose() -> None:
    p = figures(end=41, first_missing=40, oldest=None, log_start_after=0)

    assert (p.rpo_seconds, p.unmeasured) == (0.0, None)


def test_a_record_without_a_timestamp_is_unmeasured() -> None:
    p = figures(oldest=RecordAt(40, -1, None, b"v"))

    assert p.rpo_seconds is None
    assert p.unmeasured == "the record at offset 40 of orders-0 has no timestamp"


def test_an_unknown_position_leaves_both_rpo_and_lag_unknown_with_the_reason() -> None:
    p = figures(first_missing=None, unmeasured="offsets-for-times failed")

    assert (p.rpo_seconds, p.lag_messages, p.unmeasured) == (None, None, "offsets-for-times failed")


def test_a_record_from_the_future_counts_as_zero_age() -> None:
    p = figures(oldest=record(40, seconds_ago=-30))

    assert p.rpo_seconds == 0.0


# -- where replication got on the target --------------------------------------------------------


def test_the_replica_is_dated_by_its_last_record() -> None:
    until, unread = dating({REPLICA: 50}, {REPLICA: record(49, 3)}, timed_out=False, timeout_s=15)

    assert until == {REPLICA: NOW_MS - 3000}
    assert unread == {}


def test_an_empty_replica_is_known_to_hold_nothing_and_is_not_unmeasured() -> None:
    until, unread = dating({REPLICA: 0}, {}, timed_out=False, timeout_s=15)

    assert (until, unread) == ({}, {})


def test_a_replica_whose_last_record_could_not_be_read_in_time_is_unmeasured() -> None:
    until, unread = dating({REPLICA: 50}, {}, timed_out=True, timeout_s=15)

    assert until == {}
    assert unread[REPLICA] == (
        "the last record of primary.orders-0 on the target could not be read within 15s"
    )


def test_a_record_short_of_the_end_found_before_the_deadline_is_not_taken_for_the_last() -> None:
    until, unread = dating({REPLICA: 50}, {REPLICA: record(45, 3)}, timed_out=True, timeout_s=15)

    assert until == {}
    assert REPLICA in unread


def test_a_record_at_the_end_is_the_last_even_when_the_read_ran_out_of_time() -> None:
    until, _ = dating({REPLICA: 50}, {REPLICA: record(49, 3)}, timed_out=True, timeout_s=15)

    assert until == {REPLICA: NOW_MS - 3000}


def test_a_replica_holding_offsets_but_no_readable_record_is_unmeasured_not_taken_as_empty() -> (
    None
):
    # Its records were deleted (retention, delete-records): how far replication got is unknown.
    until, unread = dating({REPLICA: 50}, {}, timed_out=False, timeout_s=15)

    assert until == {}
    assert "no record among the last 10 offsets of primary.orders-0" in unread[REPLICA]


# -- where the first missing record is on the source --------------------------------------------


def first_missing(
    *,
    low: int = 0,
    end: int = 100,
    replicated: dict[tuple[str, int], int] | None = None,
    unknown: dict[tuple[str, int], str] | None = None,
    after: dict[tuple[str, int], int] | None = None,
) -> tuple[dict[tuple[str, int], int], dict[tuple[str, int], str]]:
    return first_missing_offsets(
        [TP], {TP: low}, {TP: end}, replicated or {}, unknown or {}, after or {}
    )


def test_the_first_missing_record_follows_the_last_replicated_timestamp() -> None:
    assert first_missing(replicated={TP: 5000}, after={TP: 42}) == ({TP: 42}, {})


def test_no_source_record_later_than_the_replica_means_caught_up() -> None:
    assert first_missing(replicated={TP: 5000}, after={TP: -1}) == ({TP: 100}, {})


def test_with_nothing_replicated_every_record_the_source_holds_is_missing() -> None:
    assert first_missing(low=20) == ({TP: 20}, {})


@pytest.mark.parametrize(
    "after",
    [
        {},  # the partition is missing from the answer
        {TP: 5001},  # the client hands the asked timestamp back on a partition error
        {TP: -1001},  # an invalid offset
    ],
)
def test_a_failed_offsets_for_times_lookup_is_unmeasured_not_caught_up(
    after: dict[tuple[str, int], int],
) -> None:
    first, unmeasured = first_missing(replicated={TP: 5000}, after=after)

    assert first == {}
    assert "offsets-for-times failed" in unmeasured[TP]


def test_an_undatable_replica_makes_the_partition_unmeasured() -> None:
    first, unmeasured = first_missing(unknown={TP: "replica unreadable"})

    assert (first, unmeasured) == ({}, {TP: "replica unreadable"})


def test_an_empty_source_partition_has_nothing_to_lose_even_when_the_replica_is_undatable() -> None:
    assert first_missing(low=100, unknown={TP: "replica unreadable"}) == ({TP: 100}, {})


# -- a flow's or a job's figures ----------------------------------------------------------------


def part(
    partition: int, rpo: float | None, lag: int | None, why: str | None = None
) -> PartitionRpo:
    return PartitionRpo("orders", partition, "primary.orders", lag, rpo, 100, why)


def test_the_worst_partition_is_the_rpo_and_the_lags_add_up() -> None:
    total = totals([part(0, 3.0, 10), part(1, 42.0, 5), part(2, 0.0, 0)])

    assert (total.rpo_seconds, total.lag_messages, total.unmeasured) == (42.0, 15, None)


def test_one_unmeasured_partition_makes_the_whole_unmeasured_with_its_reason() -> None:
    total = totals(
        [part(0, 500.0, 10), part(1, None, 5, "orders-1 unreadable"), part(2, None, 1, "x")]
    )

    assert total.rpo_seconds is None
    assert total.unmeasured == "orders-1 unreadable (and 1 more partition)"
    assert total.lag_messages == 16


def test_an_unknown_lag_makes_the_total_lag_unknown() -> None:
    total = totals([part(0, 1.0, 10), part(1, None, None, "unknown position")])

    assert total.lag_messages is None


def test_nothing_to_measure_is_zero() -> None:
    total = totals([])

    assert (total.rpo_seconds, total.lag_messages, total.unmeasured) == (0.0, 0, None)


# -- what a backup job's store holds -------------------------------------------------------------


def entry(end: int, topic_id: str | None) -> PartitionEntry:
    return PartitionEntry("orders", 0, 0, end, topic_id=topic_id)


def test_the_store_holds_a_partition_up_to_the_latest_backups_end_of_the_same_topic() -> None:
    assert stored_until([entry(80, "id-a")], low=10, end=100, topic_id="id-a") == 80


def test_a_topic_re_created_since_the_backup_is_not_in_the_store_however_long_it_is() -> None:
    # The old lineage ended at 80; the new topic holds 50 (shorter) or 150 records.
    assert stored_until([entry(80, "id-old")], low=0, end=50, topic_id="id-new") == 0
    assert stored_until([entry(80, "id-old")], low=0, end=150, topic_id="id-new") == 0


def test_without_topic_ids_a_log_ending_before_the_backup_is_another_lineage() -> None:
    assert stored_until([entry(80, None)], low=0, end=50, topic_id="id-new") == 0
    assert stored_until([entry(80, None)], low=0, end=120, topic_id=None) == 80


def test_a_partition_the_backup_never_held_starts_at_the_log_start() -> None:
    assert stored_until([], low=7, end=100, topic_id="id-a") == 7


def test_records_deleted_by_retention_since_the_backup_are_not_missing() -> None:
    assert stored_until([entry(80, "id-a")], low=90, end=100, topic_id="id-a") == 90


def test_a_re_created_topic_makes_the_jobs_rpo_the_age_of_its_first_record_not_zero() -> None:
    stored = stored_until([entry(80, "id-old")], low=0, end=50, topic_id="id-new")
    rpo = figures(end=50, first_missing=stored, oldest=record(0, 300))
    assert (rpo.rpo_seconds, rpo.lag_messages) == (300.0, 50)
