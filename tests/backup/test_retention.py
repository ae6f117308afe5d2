"""Retention: which backups go, and deleting only objects no kept backup needs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from handmade import JOB, T0, HandmadeBackups, entry

from dr.backup.catalog import (
    Manifest,
    catalog_entries,
    encode_manifest,
    list_manifests,
    manifest_key,
    next_sequence,
    segment_key,
    sequence_key,
)
from dr.backup.retention import choose_pruned, execute_prune, plan_prune
from dr.backup.verify import verify_backup
from dr.config.schema import Retention
from dr.storage import LocalStore, StorageError

DAY = timedelta(days=1)


def backups_aged(*ages_days: float, now: datetime) -> list[Manifest]:
    """Manifests (not stored) started the given number of days before now, in the catalog's
    order: the first was committed first (sequence 1)."""
    return [
        Manifest(
            backup_id=f"{JOB}-{i}",
            job=JOB,
            cluster="primary",
            cluster_id="c",
            started_at=(now - age * DAY).isoformat(),
            finished_at=(now - age * DAY).isoformat(),
            parent=None,
            compression="zstd",
            records=0,
            bytes=0,
            metadata_key=f"{JOB}/metadata/{JOB}-{i}.json",
            metadata_sha256="0" * 64,
            sequence=i + 1,
        )
        for i, age in enumerate(ages_days)
    ]


def ages_of(pruned: Iterable[Manifest], now: datetime) -> list[float]:
    return sorted(round((now - datetime.fromisoformat(m.started_at)) / DAY, 3) for m in pruned)


NOW = T0 + 100 * DAY


# -- choose_pruned --------------------------------------------------------------------------


def test_keep_last_prunes_all_but_the_newest_n() -> None:
    manifests = backups_aged(5, 4, 3, 2, 1, now=NOW)

    pruned = choose_pruned(manifests, Retention(keep_last=2), NOW)

    assert ages_of(pruned, NOW) == [3, 4, 5]


def test_keep_days_prunes_backups_older_than_that() -> None:
    manifests = backups_aged(7.5, 3, 1.5, 0.5, now=NOW)

    pruned = choose_pruned(manifests, Retention(keep_days=2), NOW)

    assert ages_of(pruned, NOW) == [3, 7.5]


def test_a_backup_exactly_keep_days_old_is_kept() -> None:
    manifests = backups_aged(2, 0, now=NOW)

    assert choose_pruned(manifests, Retention(keep_days=2), NOW) == []


def test_min_keep_wins_over_keep_days_when_every_backup_is_too_old() -> None:
    manifests = backups_aged(70, 60, 50, 40, now=NOW)

    pruned = choose_pruned(manifests, Retention(keep_days=30, min_keep=2), NOW)

    assert ages_of(pruned, NOW) == [60, 70]


def test_min_keep_wins_over_keep_last() -> None:
    manifests = backups_aged(4, 3, 2, 1, now=NOW)

    pruned = choose_pruned(manifests, Retention(keep_last=1, min_keep=3), NOW)

    assert ages_of(pruned, NOW) == [4]


def test_the_newest_backup_is_kept_by_default_however_old() -> None:
    manifests = backups_aged(400, now=NOW)

    assert choose_pruned(manifests, Retention(keep_days=1), NOW) == []


def test_without_keep_days_or_keep_last_nothing_is_pruned() -> None:
    assert choose_pruned(backups_aged(900, 200, 1, now=NOW), Retention(), NOW) == []


def test_a_backup_both_rules_allow_to_prune_is_pruned() -> None:
    manifests = backups_aged(40, 2, 1, now=NOW)

    pruned = choose_pruned(manifests, Retention(keep_last=2, keep_days=30), NOW)

    assert ages_of(pruned, NOW) == [40]


def test_a_backup_within_keep_days_is_kept_even_beyond_keep_last() -> None:
    manifests = backups_aged(5, 4, 3, 2, 1, now=NOW)

    assert choose_pruned(manifests, Retention(keep_last=2, keep_days=30), NOW) == []


def test_keep_last_counts_backups_in_commit_order_whatever_their_start_times() -> None:
    # A host with a slow clock: each backup claims to have started before the previous one.
    manifests = backups_aged(1, 2, 3, 4, 5, now=NOW)

    pruned = choose_pruned(manifests, Retention(keep_last=2), NOW)

    assert sorted(m.sequence for m in pruned) == [1, 2, 3]


def test_keep_days_never_prunes_a_backup_while_keeping_an_older_one() -> None:
    # Backup 3 claims to be 40 days old, but it was committed after backup 2 (10 days old).
    manifests = backups_aged(10, 10, 40, 5, now=NOW)

    pruned = choose_pruned(manifests, Retention(keep_days=30), NOW)

    assert pruned == []


# -- plan_prune: cumulative manifests share segments -----------------------------------------


@dataclass(frozen=True)
class Chain:
    """Three daily backups of orders-0, each cumulative: b3 holds s1, s2 and s3."""

    store: LocalStore
    made: HandmadeBackups
    b1: Manifest
    b2: Manifest
    b3: Manifest
    s1: str
    s2: str
    s3: str


def chain(tmp_path: Path, *, horizon_drops_s1: bool = False) -> Chain:
    store = LocalStore(tmp_path / "store")
    made = HandmadeBackups(store)
    s1 = made.segment("orders", 0, 0, 10, written_at=T0)
    b1 = made.backup([entry("orders", 0, [s1])], started_at=T0)
    s2 = made.segment("orders", 0, 10, 20, written_at=T0 + DAY)
    b2 = made.backup([entry("orders", 0, [s1, s2])], started_at=T0 + DAY, parent=b1)
    s3 = made.segment("orders", 0, 20, 30, written_at=T0 + 2 * DAY)
    newest = [s2, s3] if horizon_drops_s1 else [s1, s2, s3]
    b3 = made.backup([entry("orders", 0, newest)], started_at=T0 + 2 * DAY, parent=b2)
    return Chain(store, made, b1, b2, b3, s1.key, s2.key, s3.key)


LATER = T0 + 2 * DAY + timedelta(hours=1)


def test_a_prune_never_deletes_a_segment_a_kept_backup_references(tmp_path: Path) -> None:
    c = chain(tmp_path)

    plan = plan_prune(c.store, JOB, Retention(keep_last=1), LATER)

    assert plan.keep == (c.b3.backup_id,)
    assert plan.prune == (c.b1.backup_id, c.b2.backup_id)
    assert plan.objects == (c.b1.metadata_key, c.b2.metadata_key)


def test_a_prune_deletes_segments_only_pruned_backups_reference(tmp_path: Path) -> None:
    # The newest backup no longer holds s1 (past the data horizon): only b1 and b2 do.
    c = chain(tmp_path, horizon_drops_s1=True)

    plan = plan_prune(c.store, JOB, Retention(keep_last=1), LATER)

    assert set(plan.objects) == {c.s1, c.b1.metadata_key, c.b2.metadata_key}


def test_a_segment_is_kept_while_any_kept_backup_still_references_it(tmp_path: Path) -> None:
    c = chain(tmp_path, horizon_drops_s1=True)

    plan = plan_prune(c.store, JOB, Retention(keep_last=2), LATER)

    assert plan.prune == (c.b1.backup_id,)
    assert plan.objects == (c.b1.metadata_key,)


def test_an_orphan_older_than_the_newest_kept_backup_is_deleted(tmp_path: Path) -> None:
    c = chain(tmp_path)
    # Left by a run that died before its manifest, a day before the newest backup started.
    orphan = c.made.segment("orders", 0, 30, 40, written_at=T0 + DAY).key
    meta = f"{JOB}/metadata/{JOB}-20240502T060000000000Z.json"
    c.made.put(meta, b"{}", T0 + DAY)

    plan = plan_prune(c.store, JOB, Retention(keep_last=3), LATER)

    assert plan.prune == ()
    assert plan.objects == (orphan, meta)
    assert not plan.empty


def test_an_orphan_is_swept_however_recent_since_prune_holds_the_jobs_lock(
    tmp_path: Path,
) -> None:
    c = chain(tmp_path)
    # Written after the newest backup: no run can be writing it, prune holds the job's lock.
    late = c.made.segment("orders", 0, 30, 40, written_at=LATER + timedelta(minutes=30)).key
    dead = c.made.manifest([], started_at=LATER, parent=c.b3, sequence=4)  # never committed
    c.store.put_bytes(manifest_key(JOB, dead.backup_id), encode_manifest(dead)[1])

    plan = plan_prune(c.store, JOB, Retention(keep_last=3), LATER)

    assert plan.prune == ()
    assert plan.objects == (late, manifest_key(JOB, dead.backup_id), dead.metadata_key)


def test_another_jobs_objects_are_never_listed(tmp_path: Path) -> None:
    c = chain(tmp_path)
    HandmadeBackups(c.store, job=f"{JOB}-eu").segment("orders", 0, 0, 10, written_at=T0)

    plan = plan_prune(c.store, JOB, Retention(keep_last=1), LATER)

    assert all(key.startswith(f"{JOB}/") for key in plan.objects)
    assert c.store.exists(segment_key(f"{JOB}-eu", "orders", 0, 0))


def test_a_job_without_backups_has_nothing_to_prune(tmp_path: Path) -> None:
    assert plan_prune(LocalStore(tmp_path / "store"), JOB, Retention(keep_last=1), LATER).empty


# -- execute_prune ---------------------------------------------------------------------------


def test_a_prune_removes_pruned_backups_and_their_objects_and_the_rest_still_verifies(
    tmp_path: Path,
) -> None:
    c = chain(tmp_path, horizon_drops_s1=True)
    plan = plan_prune(c.store, JOB, Retention(keep_last=1), LATER)

    execute_prune(c.store, plan)

    assert list_manifests(c.store, JOB) == [c.b3]
    assert not any(c.store.exists(key) for key in plan.objects)
    assert verify_backup(c.store, c.b3, deep=True).ok


class DeletesOneThenFails(LocalStore):
    """A store whose bulk delete dies after its first object, as a lost connection would."""

    def delete_many(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        self.delete(keys[0])
        raise StorageError(f"connection lost while deleting '{keys[1]}'")


def test_a_prune_that_dies_deleting_objects_has_already_dropped_the_pruned_backups(
    tmp_path: Path,
) -> None:
    c = chain(tmp_path, horizon_drops_s1=True)
    plan = plan_prune(c.store, JOB, Retention(keep_last=1), LATER)
    failing = DeletesOneThenFails(c.store.root)

    with pytest.raises(StorageError):
        execute_prune(failing, plan)

    assert list_manifests(c.store, JOB) == [c.b3]
    assert not c.store.exists(plan.objects[0])
    assert verify_backup(c.store, c.b3, deep=True).ok


def test_the_next_prune_removes_what_a_dead_prune_left_behind(tmp_path: Path) -> None:
    c = chain(tmp_path, horizon_drops_s1=True)
    plan = plan_prune(c.store, JOB, Retention(keep_last=1), LATER)
    with pytest.raises(StorageError):
        execute_prune(DeletesOneThenFails(c.store.root), plan)

    again = plan_prune(c.store, JOB, Retention(keep_last=1), LATER)
    execute_prune(c.store, again)

    assert again.prune == ()
    assert again.objects == plan.objects[1:]
    assert sorted(info.key for info in c.store.list(f"{JOB}/")) == sorted(
        [
            c.s2,
            c.s3,
            c.b3.metadata_key,
            f"{JOB}/manifests/{c.b3.backup_id}.json",
            sequence_key(JOB, 3),
            f"{JOB}/sequence/adopted",
            f"{JOB}/sequence/head",
        ]
    )
    assert verify_backup(c.store, c.b3, deep=True).ok


def test_a_prune_forgets_the_pruned_sequence_numbers_and_numbering_carries_on(
    tmp_path: Path,
) -> None:
    c = chain(tmp_path)

    execute_prune(c.store, plan_prune(c.store, JOB, Retention(keep_last=1), LATER))
    after = c.made.backup([], started_at=LATER)

    assert [e.sequence for e in catalog_entries(c.store, JOB)] == [3, 4]
    assert not c.store.exists(sequence_key(JOB, 1))
    assert (after.sequence, after.parent) == (4, c.b3.backup_id)


def test_backups_whose_start_times_go_backwards_are_pruned_in_commit_order(
    tmp_path: Path,
) -> None:
    made = HandmadeBackups(LocalStore(tmp_path / "store"))
    # Each run on a host whose clock is a day slower than the last one's.
    first, second, third = (made.backup([], started_at=T0 - days * DAY) for days in (0, 1, 2))

    plan = plan_prune(made.store, JOB, Retention(keep_last=1), T0)

    assert plan.keep == (third.backup_id,)
    assert set(plan.prune) == {first.backup_id, second.backup_id}
    assert next_sequence(made.store, JOB) == 4


# -- a catalog with problems: data objects stay until it is clean -----------------------------


def garbage_in_the_middle(tmp_path: Path) -> Chain:
    """The chain whose newest backup dropped s1, with b2's manifest overwritten by garbage."""
    c = chain(tmp_path, horizon_drops_s1=True)
    c.store.put_bytes(manifest_key(JOB, c.b2.backup_id), b"\x00garbage")
    return c


def test_a_garbage_manifest_keeps_every_data_object_and_is_reported(tmp_path: Path) -> None:
    c = garbage_in_the_middle(tmp_path)

    plan = plan_prune(c.store, JOB, Retention(keep_last=1), LATER)
    execute_prune(c.store, plan)

    assert plan.prune == (c.b1.backup_id,)
    assert c.s1 not in plan.objects  # b2 may still need it: nobody can tell
    assert c.store.exists(c.s1)
    assert c.b1.metadata_key in plan.objects
    assert len(plan.problems) == 1
    assert plan.problems[0].startswith(f"{manifest_key(JOB, c.b2.backup_id)}: ")
    assert "is not valid JSON" in plan.problems[0]
    assert c.store.exists(manifest_key(JOB, c.b2.backup_id))


def test_a_prune_keeps_the_metadata_of_a_backup_whose_manifest_is_unreadable(
    tmp_path: Path,
) -> None:
    c = garbage_in_the_middle(tmp_path)

    plan = plan_prune(c.store, JOB, Retention(keep_last=1), LATER)

    assert c.b2.metadata_key not in plan.objects


def test_a_prune_keeps_the_manifest_of_a_backup_whose_sequence_entry_is_unreadable(
    tmp_path: Path,
) -> None:
    c = chain(tmp_path)
    c.store.put_bytes(sequence_key(JOB, 2), b"torn")

    plan = plan_prune(c.store, JOB, Retention(keep_last=3), LATER)

    assert plan.problems != ()
    assert manifest_key(JOB, c.b2.backup_id) not in plan.objects
    assert c.b2.metadata_key not in plan.objects


def test_a_prune_removes_the_temporaries_a_run_killed_a_moment_ago_left(tmp_path: Path) -> None:
    from dr.storage.local import TEMP_PREFIX  # the store's own naming

    c = chain(tmp_path)
    left = tmp_path / "store" / JOB / "data" / "orders" / "0" / f"{TEMP_PREFIX}killed"
    left.write_bytes(b"half a segment")  # just now: prune holds the job's lock
    other = tmp_path / "store" / f"{JOB}-eu" / f"{TEMP_PREFIX}writing"
    other.parent.mkdir(parents=True)
    other.write_bytes(b"another job's write")

    execute_prune(c.store, plan_prune(c.store, JOB, Retention(keep_last=3), LATER))

    assert not left.exists() and other.exists()
