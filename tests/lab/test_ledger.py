"""The ledger of a lab app: lines written and read back, and lost and duplicated keys counted."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from dr.errors import LabError
from dr.lab.ledger import LedgerEntry, LedgerWriter, read_ledger, reconcile, reconcile_files

PRIMARY = "127.0.0.1:9092"
DR = "127.0.0.1:9192"
NOON = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def acked(key: str, offset: int, cluster: str = PRIMARY, topic: str = "orders") -> LedgerEntry:
    return LedgerEntry("acked", key, topic, 0, offset, cluster, NOON)


def consumed(
    key: str, offset: int, cluster: str = PRIMARY, topic: str = "orders", group: str = "billing"
) -> LedgerEntry:
    return LedgerEntry("consumed", key, topic, 0, offset, cluster, NOON, group=group)


def test_entries_written_to_a_ledger_read_back_equal(tmp_path: Path) -> None:
    entries = [acked("app-0", 0), consumed("app-0", 0), acked("app-1", 1, cluster=DR)]
    writer = LedgerWriter(tmp_path / "apps" / "app.ledger")
    for entry in entries:
        writer.append(entry)
    writer.close()

    assert read_ledger(tmp_path / "apps" / "app.ledger") == entries


def test_a_ledger_line_is_one_json_object_with_the_documented_fields() -> None:
    line = consumed("app-7", 41).to_line()

    assert line.endswith("\n") and line.count("\n") == 1
    assert line.startswith('{"event":"consumed","key":"app-7","topic":"orders","partition":0,')
    assert '"offset":41,"cluster_bootstrap":"127.0.0.1:9092"' in line
    assert '"time":"2026-12-01T12:00:00+00:00","group":"billing"}' in line


def test_a_half_written_last_line_is_left_out(tmp_path: Path) -> None:
    path = tmp_path / "app.ledger"
    path.write_text(acked("app-0", 0).to_line() + acked("app-1", 1).to_line()[:30])

    assert [e.key for e in read_ledger(path)] == ["app-0"]


def test_a_damaged_line_in_the_middle_is_reported_with_its_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "app.ledger"
    path.write_text(acked("app-0", 0).to_line() + "{not json\n" + acked("app-1", 1).to_line())

    with pytest.raises(LabError, match=r"app\.ledger:2: not a ledger entry"):
        read_ledger(path)


def test_a_ledger_that_does_not_exist_yet_is_empty(tmp_path: Path) -> None:
    assert read_ledger(tmp_path / "nothing.ledger") == []


def test_every_acked_record_consumed_once_is_neither_lost_nor_duplicated() -> None:
    result = reconcile([acked("a-0", 0), acked("a-1", 1), consumed("a-1", 1), consumed("a-0", 0)])

    assert (result.acked, result.consumed) == (2, 2)
    assert result.lost == ()
    assert result.duplicated == {}
    assert result.duplicates == 0


def test_an_acked_record_never_consumed_is_lost_on_the_cluster_that_acked_it() -> None:
    result = reconcile([acked("a-0", 0), acked("a-1", 1), acked("a-2", 0, DR), consumed("a-0", 0)])

    assert result.lost == ("a-1", "a-2")
    assert result.clusters[PRIMARY].lost == ("a-1",)
    assert result.clusters[DR].lost == ("a-2",)


def test_a_record_acked_on_primary_and_consumed_on_dr_after_a_failover_is_not_lost() -> None:
    result = reconcile([acked("a-0", 0), consumed("a-0", 0, DR, topic="primary.orders")])

    assert result.lost == ()
    assert result.clusters[PRIMARY].acked == 1
    assert result.clusters[DR].consumed == 1


def test_a_record_consumed_on_both_clusters_is_duplicated_and_counted() -> None:
    result = reconcile(
        [
            acked("a-0", 0),
            consumed("a-0", 0),
            consumed("a-0", 0, DR, topic="primary.orders"),
            consumed("a-0", 0, DR, topic="primary.orders"),
        ]
    )

    assert result.duplicated == {"a-0": 3}
    assert result.duplicates == 2
    assert result.clusters[PRIMARY].duplicated == {}
    assert result.clusters[DR].duplicated == {"a-0": 2}


def test_a_record_consumed_but_never_seen_acked_is_unacknowledged_not_lost() -> None:
    result = reconcile([acked("a-0", 0), consumed("a-0", 0), consumed("a-1", 1)])

    assert result.unacknowledged == ("a-1",)
    assert result.lost == ()


def test_with_a_group_only_that_groups_consumption_counts() -> None:
    entries = [
        acked("a-0", 0),
        acked("a-1", 1),
        consumed("a-0", 0, group="billing"),
        consumed("a-0", 0, group="audit"),
        consumed("a-1", 1, group="audit"),
    ]

    billing = reconcile(entries, group="billing")
    audit = reconcile(entries, group="audit")

    assert (billing.lost, billing.duplicated) == (("a-1",), {})
    assert (audit.lost, audit.duplicated) == ((), {})


def test_ledgers_of_a_producer_and_a_consumer_app_reconcile_together(tmp_path: Path) -> None:
    producer, consumer = tmp_path / "writer.ledger", tmp_path / "reader.ledger"
    producer.write_text(acked("writer-0", 0).to_line() + acked("writer-1", 1).to_line())
    consumer.write_text(consumed("writer-0", 0).to_line())

    result = reconcile_files([producer, consumer])

    assert result.lost == ("writer-1",)
