"""The manifest chain: what verify finds when a manifest was edited, replaced, cut or deleted
behind the catalog's back, and what it leaves alone (retention, data horizon, a new lineage)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from handmade import JOB, T0, HandmadeBackups, edit_manifest_json, entry, reseal_in_place

from dr.backup.catalog import (
    Gap,
    Manifest,
    MissingPartition,
    RetiredTopic,
    SegmentRef,
    encode_manifest,
    latest_manifest,
    list_manifests,
    manifest_key,
    scan_catalog,
    sequence_key,
)
from dr.backup.chain import chain_problems
from dr.backup.retention import execute_prune, plan_prune
from dr.backup.verify import Problem, verify_backup
from dr.config.schema import Retention
from dr.storage import LocalStore

HOUR = timedelta(hours=1)
RETENTION_GAP = "deleted by retention before backup"


@dataclass(frozen=True)
class Chain:
    """Three hourly backups: orders-0 grows by ten offsets each time (s1, s2, s3), payments-0
    holds one segment throughout."""

    store: LocalStore
    made: HandmadeBackups
    b1: Manifest
    b2: Manifest
    b3: Manifest
    s1: SegmentRef
    s2: SegmentRef
    s3: SegmentRef
    pay: SegmentRef

    def key(self, manifest: Manifest) -> str:
        return manifest_key(manifest.job, manifest.backup_id)


@pytest.fixture
def c(tmp_path: Path) -> Chain:
    made = HandmadeBackups(LocalStore(tmp_path / "store"))
    pay = made.segment("payments", 0, 0, 4)
    s1 = made.segment("orders", 0, 0, 10)
    b1 = made.backup([entry("orders", 0, [s1]), entry("payments", 0, [pay])])
    s2 = made.segment("orders", 0, 10, 20, written_at=T0 + HOUR)
    b2 = made.backup(
        [entry("orders", 0, [s1, s2]), entry("payments", 0, [pay])], started_at=T0 + HOUR
    )
    s3 = made.segment("orders", 0, 20, 30, written_at=T0 + 2 * HOUR)
    b3 = made.backup(
        [entry("orders", 0, [s1, s2, s3]), entry("payments", 0, [pay])], started_at=T0 + 2 * HOUR
    )
    return Chain(made.store, made, b1, b2, b3, s1, s2, s3, pay)


def with_orders(manifest: Manifest, **changes: Any) -> Manifest:
    """The manifest with its orders-0 entry changed."""
    orders = manifest.partitions[0]
    assert (orders.topic, orders.partition) == ("orders", 0)
    return replace(manifest, partitions=(replace(orders, **changes), *manifest.partitions[1:]))


def test_an_intact_chain_has_no_problem_at_any_backup(c: Chain) -> None:
    for manifest in (c.b1, c.b2, c.b3):
        assert chain_problems(c.store, manifest) == []
        assert verify_backup(c.store, manifest, deep=True).status == "OK"
    assert (c.b3.parent, c.b3.parent_sha256) == (c.b2.backup_id, c.b2.sha256)


# -- a manifest altered, replaced or deleted -------------------------------------------------


def test_a_manifest_edited_after_it_was_written_is_reported_by_verifying_its_child_and_parent(
    c: Chain,
) -> None:
    edit_manifest_json(
        c.store, c.b2, lambda raw: raw["partitions"][0]["segments"][1].update(records=9)
    )
    says = (
        f"backup manifest '{c.key(c.b2)}' fails its own checksum: "
        "it was altered after it was written"
    )

    from_child = verify_backup(c.store, c.b3)
    from_parent = verify_backup(c.store, c.b1)
    good, problems = scan_catalog(c.store, JOB)

    assert from_child.status == from_parent.status == "FAILED"
    assert from_child.problems == (Problem(c.key(c.b2), says),)
    assert from_parent.problems == (Problem(c.key(c.b2), says),)
    assert good == [c.b1, c.b3]
    assert [(p.object, p.message) for p in problems] == [(c.key(c.b2), says)]


def test_a_resealed_replacement_is_not_the_manifest_its_sequence_entry_committed(
    c: Chain,
) -> None:
    forged = reseal_in_place(c.store, replace(c.b2, records=c.b2.records + 1))

    _, problems = scan_catalog(c.store, JOB)

    assert chain_problems(c.store, forged) == [
        (c.key(c.b2), "is not the manifest committed as backup number 2")
    ]
    assert [p.message for p in problems] == [
        f"backup manifest '{c.key(c.b2)}' is not the one committed as backup number 2 "
        "(checksum differs): it was replaced"
    ]
    assert list_manifests(c.store, JOB) == [c.b1, c.b3]


def test_a_resealed_replacement_is_caught_by_its_childs_parent_checksum(c: Chain) -> None:
    reseal_in_place(c.store, replace(c.b2, records=c.b2.records + 1))

    result = verify_backup(c.store, c.b3)

    assert result.problems == (
        Problem(c.key(c.b2), f"was replaced after backup {c.b3.backup_id} was taken from it"),
    )
    assert result.status == "FAILED"


def test_a_tail_cut_below_the_parents_end_is_reported_when_verifying_the_rewritten_newest(
    c: Chain,
) -> None:
    # The newest manifest rewritten to end at 10, its segments from 10 on removed, resealed.
    cut = reseal_in_place(c.store, with_orders(c.b3, end_offset=10, segments=(c.s1,)))

    result = verify_backup(c.store, cut)

    assert result.status == "FAILED"
    assert result.problems == (
        Problem(c.key(c.b3), "is not the manifest committed as backup number 3"),
        Problem(c.key(c.b3), "orders-0: ends at offset 10, before its parent's end 20 (tail cut)"),
    )
    assert latest_manifest(c.store, JOB) == c.b2  # the cut one is passed over


def test_a_tail_cut_inside_the_newest_backups_own_records_is_caught_by_its_sequence_entry(
    c: Chain,
) -> None:
    # Offsets 20..29 were only ever in b3: the parent cannot tell, the commit can.
    cut = reseal_in_place(c.store, with_orders(c.b3, end_offset=20, segments=(c.s1, c.s2)))

    assert verify_backup(c.store, cut).problems == (
        Problem(c.key(c.b3), "is not the manifest committed as backup number 3"),
    )


def test_a_segment_removed_and_replaced_by_a_gap_is_reported_as_such(c: Chain) -> None:
    disguise = Gap(10, 20, RETENTION_GAP, T0.isoformat(), c.b3.backup_id)
    forged = reseal_in_place(c.store, with_orders(c.b3, segments=(c.s1, c.s3), gaps=(disguise,)))

    result = verify_backup(c.store, forged)

    assert result.problems == (
        Problem(c.key(c.b3), "is not the manifest committed as backup number 3"),
        Problem(
            c.key(c.b3),
            f"orders-0: segment {c.s2.key} (offsets 10..19) was removed and recorded as a gap, "
            "though the parent backup held it",
        ),
    )


def test_a_segment_removed_without_a_trace_is_reported_missing_though_the_parent_held_it(
    c: Chain,
) -> None:
    forged = reseal_in_place(c.store, with_orders(c.b3, segments=(c.s1, c.s3)))

    result = verify_backup(c.store, forged)

    assert result.problems == (
        Problem(c.key(c.b3), "is not the manifest committed as backup number 3"),
        Problem(
            c.key(c.b3),
            f"orders-0: segment {c.s2.key} (offsets 10..19) is missing, "
            "though the parent backup held it",
        ),
        Problem(c.s3.key, "orders-0: starts at offset 20, the previous segment ended at 10"),
    )


def test_a_newest_backup_deleted_with_its_sequence_entry_is_named_by_the_catalog_head(
    c: Chain,
) -> None:
    c.store.delete(c.key(c.b3))
    c.store.delete(sequence_key(JOB, 3))

    previous = latest_manifest(c.store, JOB)
    assert previous == c.b2
    messages = [p.message for p in verify_backup(c.store, previous).problems]

    assert len(messages) == 1
    assert messages[0].startswith("backup number 3 is gone with its sequence entry")


def test_verifying_the_previous_backup_names_a_newest_manifest_deleted_out_of_band(
    c: Chain,
) -> None:
    c.store.delete(c.key(c.b3))  # its sequence entry remains

    previous = latest_manifest(c.store, JOB)
    assert previous == c.b2
    result = verify_backup(c.store, previous)

    assert result.problems == (
        Problem(
            c.key(c.b3),
            f"backup manifest '{c.key(c.b3)}' (backup number 3) is missing: deleted out of band?",
        ),
    )


def test_a_manifest_no_sequence_entry_commits_is_reported_as_not_committed(c: Chain) -> None:
    dead = c.made.manifest([], started_at=T0 + 3 * HOUR, parent=c.b3, sequence=4)
    sealed, data = encode_manifest(dead)
    c.store.put_bytes(manifest_key(dead.job, dead.backup_id), data)

    assert chain_problems(c.store, sealed) == [
        (c.key(dead), "is not committed (no sequence entry names it)"),
        (c.key(dead), "orders-0: dropped without being recorded as retired"),
        (c.key(dead), "payments-0: dropped without being recorded as retired"),
    ]


def test_an_edited_manifest_relabelled_format_1_still_fails_its_checksum(c: Chain) -> None:
    def cut_own_tail(raw: dict[str, Any]) -> None:
        orders = raw["partitions"][0]
        orders["segments"] = orders["segments"][:2]
        orders["end_offset"] = 20
        raw["format"] = 1

    edit_manifest_json(c.store, c.b3, cut_own_tail)

    _, problems = scan_catalog(c.store, JOB)

    assert [p.object for p in problems] == [c.key(c.b3)]


# -- what the chain leaves alone -------------------------------------------------------------


def test_a_partition_dropped_without_being_retired_is_reported(c: Chain) -> None:
    dropped = c.made.backup([entry("orders", 0, [c.s1, c.s2, c.s3])], started_at=T0 + 3 * HOUR)

    assert chain_problems(c.store, dropped) == [
        (c.key(dropped), "payments-0: dropped without being recorded as retired")
    ]


def test_a_retired_topic_is_not_reported_as_dropped(c: Chain) -> None:
    gone = RetiredTopic("payments", None, "deleted from the cluster", c.b3.backup_id)

    child = c.made.backup(
        [entry("orders", 0, [c.s1, c.s2, c.s3])], started_at=T0 + 3 * HOUR, retired=[gone]
    )

    assert chain_problems(c.store, child) == []


def test_a_partial_backup_carrying_the_partition_it_missed_verifies_as_partial(c: Chain) -> None:
    offline = MissingPartition("payments", 0, "no leader (offline)")

    child = c.made.backup(
        [entry("orders", 0, [c.s1, c.s2, c.s3]), entry("payments", 0, [c.pay])],
        started_at=T0 + 3 * HOUR,
        missing=[offline],
    )
    result = verify_backup(c.store, child)

    assert (child.status, result.status) == ("PARTIAL", "PARTIAL")
    assert result.partial == ("payments-0: no leader (offline)",)


def test_a_partition_dropped_and_recorded_as_missing_is_reported(c: Chain) -> None:
    offline = MissingPartition("payments", 0, "no leader (offline)")

    child = c.made.backup(
        [entry("orders", 0, [c.s1, c.s2, c.s3])], started_at=T0 + 3 * HOUR, missing=[offline]
    )

    assert chain_problems(c.store, child) == [
        (c.key(child), "payments-0: dropped without being recorded as retired")
    ]


def test_a_topic_created_again_under_its_name_is_a_new_lineage_not_a_tail_cut(
    tmp_path: Path,
) -> None:
    made = HandmadeBackups(LocalStore(tmp_path / "store"))
    old = made.segment("orders", 0, 0, 30, topic_id="A1")
    before = made.backup([entry("orders", 0, [old], topic_id="A1")])
    new = made.segment("orders", 0, 0, 5, topic_id="B2")
    retired = RetiredTopic("orders", "A1", "re-created: the topic now has id B2", before.backup_id)

    after = made.backup(
        [entry("orders", 0, [new], topic_id="B2")], started_at=T0 + HOUR, retired=[retired]
    )

    assert new.key != old.key
    assert verify_backup(made.store, after).status == "OK"


def test_segments_the_data_horizon_dropped_are_not_reported(c: Chain) -> None:
    later = c.made.backup(
        [entry("orders", 0, [c.s2, c.s3]), entry("payments", 0, [c.pay])],
        started_at=T0 + 3 * HOUR,
    )

    assert verify_backup(c.store, later).status == "OK"


def test_a_gap_found_at_the_parents_end_is_not_a_disguised_segment(c: Chain) -> None:
    found = Gap(30, 40, RETENTION_GAP, (T0 + 3 * HOUR).isoformat(), "orders-job-next")
    s4 = c.made.segment("orders", 0, 40, 45)

    later = c.made.backup(
        [entry("orders", 0, [c.s1, c.s2, c.s3, s4], gaps=[found]), entry("payments", 0, [c.pay])],
        started_at=T0 + 3 * HOUR,
    )

    assert verify_backup(c.store, later).status == "OK"


def test_a_parent_pruned_by_retention_is_not_a_problem(c: Chain) -> None:
    execute_prune(c.store, plan_prune(c.store, JOB, Retention(keep_last=1), T0 + 3 * HOUR))

    assert list_manifests(c.store, JOB) == [c.b3]
    assert verify_backup(c.store, c.b3, deep=True).status == "OK"


def test_a_newest_sequence_entry_deleted_alone_is_listed_as_a_problem_and_prune_keeps_its_data(
    c: Chain,
) -> None:
    c.store.delete(sequence_key(JOB, 3))  # its manifest and segment s3 remain, uncommitted

    manifests, problems = scan_catalog(c.store, JOB)
    plan = plan_prune(c.store, JOB, Retention(keep_last=1), T0 + 3 * HOUR)
    execute_prune(c.store, plan)

    assert manifests == [c.b1, c.b2]
    assert [(p.object, p.message.split(" (")[0]) for p in problems] == [
        (sequence_key(JOB, 3), "backup number 3 is gone with its sequence entry")
    ]
    assert plan.problems and plan.prune == (c.b1.backup_id,)
    assert c.store.exists(c.key(c.b3)) and c.store.exists(c.s3.key)


def test_an_unreadable_newer_sequence_entry_is_named_by_its_own_key(c: Chain) -> None:
    c.store.put_bytes(sequence_key(JOB, 3), b"garbage")

    [problem] = verify_backup(c.store, c.b2).problems

    assert problem.object == sequence_key(JOB, 3)


def test_a_parent_deleted_with_its_sequence_entry_while_an_older_backup_remains_is_reported(
    c: Chain,
) -> None:
    c.store.delete(sequence_key(JOB, 2))
    c.store.delete(c.key(c.b2))

    [problem] = verify_backup(c.store, c.b3).problems

    assert problem.object == c.key(c.b2)
    assert "deleted out of band, not pruned" in problem.message
    assert c.b1.backup_id in problem.message
