"""Retention: which backups go, and deleting only objects no kept backup needs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from handmade import JOB, T0, HandmadeBackups, entry

from dr.backup.catalog import Manifest, list_manifests, segment_key
from dr.backup.retention import choose_pruned, execute_prune, plan_prune
from dr.backup.verify import verify_backup
from dr.config.schema import Retention
from dr.storage import LocalStore, StorageError

DAY = timedelta(days=1)


def backups_aged(*ages_days: float, now: datetime) -> list[Manifest]:
    """Manifests (not stored) started the given number of days before now."""
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
        )
        for i, age in enumerate(ages_days)
    ]


def ages_of(pruned: Iterable[Manifest], now: datetime) -> list[float]:
    return sorted(round((now - datetime.fromisoformat(m.started_at)) / DAY, 3) for m in pruned)


NOW = T0 + 100 * DAY


# -- choose_pruned --------------------------------------------------------------------------


def test_keep_last_prunes_all_but_the_newest_n() -> None:
    manifests = backups_aged(5, 1, 4, 2, 3, now=NOW)  # not in order: the rule sorts

    pruned = choose_pruned(manifests, Retention(keep_last=2), NOW)

    assert ages_of(pruned, NOW) == [3, 4, 5]


def test_keep_days_prunes_backups_older_than_that() -> None:
    manifests = backups_aged(0.5, 1.5, 3, 7.5, now=NOW)

    pruned = choose_pruned(manifests, Retention(keep_days=2), NOW)

    assert ages_of(pruned, NOW) == [3, 7.5]


def test_a_backup_exactly_keep_days_old_is_kept() -> None:
    manifests = backups_aged(0, 2, now=NOW)

    assert choose_pruned(manifests, Retention(keep_days=2), NOW) == []


def test_min_keep_wins_over_keep_days_when_every_backup_is_too_old() -> None:
    manifests = backups_aged(40, 50, 60, 70, now=NOW)

    pruned = choose_pruned(manifests, Retention(keep_days=30, min_keep=2), NOW)

    assert ages_of(pruned, NOW) == [60, 70]


def test_min_keep_wins_over_keep_last() -> None:
    manifests = backups_aged(1, 2, 3, 4, now=NOW)

    pruned = choose_pruned(manifests, Retention(keep_last=1, min_keep=3), NOW)

    assert ages_of(pruned, NOW) == [4]


def test_the_newest_backup_is_kept_by_default_however_old() -> None:
    manifests = backups_aged(400, now=NOW)

    assert choose_pruned(manifests, Retention(keep_days=1), NOW) == []


def test_without_keep_days_or_keep_last_nothing_is_pruned() -> None:
    assert choose_pruned(backups_aged(1, 200, 900, now=NOW), Retention(), NOW) == []


def test_a_backup_both_rules_allow_to_prune_is_pruned() -> None:
    manifests = backups_aged(1, 2, 40, now=NOW)

    pruned = choose_pruned(manifests, Retention(keep_last=2, keep_days=30), NOW)

    assert ages_of(pruned, NOW) == [40]


def test_a_backup_within_keep_days_is_kept_even_beyond_keep_last() -> None:
    manifests = backups_aged(1, 2, 3, 4, 5, now=NOW)

    assert choose_pruned(manifests, Retention(keep_last=2, keep_days=30), NOW) == []


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


def test_an_orphan_newer_than_the_newest_kept_backup_is_left_to_a_run_in_progress(
    tmp_path: Path,
) -> None:
    c = chain(tmp_path)
    c.made.segment("orders", 0, 30, 40, written_at=T0 + 2 * DAY + timedelta(minutes=30))

    plan = plan_prune(c.store, JOB, Retention(keep_last=3), LATER)

    assert plan.objects == ()
    assert plan.empty


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
        [c.s2, c.s3, c.b3.metadata_key, f"{JOB}/manifests/{c.b3.backup_id}.json"]
    )
    assert verify_backup(c.store, c.b3, deep=True).ok
