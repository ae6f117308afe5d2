"""A job whose sequence entries were all deleted: its committed backups are reported as lost
commits (never listed as format-1 backups, never swept by prune, never built over by a run),
while a first run killed before its commit leaves nothing that counts as a backup."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from handmade import JOB, T0, HandmadeBackups, entry

from dr.backup.catalog import (
    Manifest,
    encode_manifest,
    latest_manifest,
    list_manifests,
    manifest_key,
    scan_catalog,
)
from dr.backup.chain import lost_catalog
from dr.backup.retention import plan_prune
from dr.config.schema import Retention
from dr.storage import LocalStore

HOUR = timedelta(hours=1)


@pytest.fixture
def made(tmp_path: Path) -> HandmadeBackups:
    return HandmadeBackups(LocalStore(tmp_path / "store"))


def three_backups(made: HandmadeBackups) -> list[Manifest]:
    segments = [made.segment("orders", 0, 10 * n, 10 * (n + 1)) for n in range(3)]
    return [
        made.backup([entry("orders", 0, segments[: n + 1])], started_at=T0 + n * HOUR)
        for n in range(3)
    ]


def test_backups_whose_sequence_entries_were_all_deleted_are_reported_not_listed(
    made: HandmadeBackups,
) -> None:
    backups = three_backups(made)
    shutil.rmtree(made.store.root / JOB / "sequence")

    good, problems = scan_catalog(made.store, JOB)

    assert good == [] and latest_manifest(made.store, JOB) is None
    assert [p.object for p in problems] == [manifest_key(JOB, b.backup_id) for b in backups]
    assert "lost its sequence entry" in problems[0].message
    assert [p.object for p in lost_catalog(made.store, JOB)] == [p.object for p in problems]


def test_a_prune_sweeps_nothing_of_backups_that_lost_their_sequence_entries(
    made: HandmadeBackups,
) -> None:
    backups = three_backups(made)
    shutil.rmtree(made.store.root / JOB / "sequence")

    plan = plan_prune(made.store, JOB, Retention(keep_last=1), T0 + 4 * HOUR)

    assert plan.objects == () and len(plan.problems) == 3
    assert all(made.store.exists(manifest_key(JOB, b.backup_id)) for b in backups)


def test_a_first_run_killed_before_its_commit_leaves_no_backup_and_no_problem(
    made: HandmadeBackups,
) -> None:
    dead = made.manifest([], started_at=T0, parent=None, sequence=1)
    made.store.put_bytes(manifest_key(JOB, dead.backup_id), encode_manifest(dead)[1])

    assert list_manifests(made.store, JOB) == []
    assert scan_catalog(made.store, JOB) == ([], [])
    assert latest_manifest(made.store, JOB) is None
    assert lost_catalog(made.store, JOB) == []


def test_an_intact_catalog_has_no_lost_commit(made: HandmadeBackups) -> None:
    three_backups(made)

    assert lost_catalog(made.store, JOB) == []


def test_latest_of_a_job_without_a_readable_backup_points_to_backup_list(
    made: HandmadeBackups, tmp_path: Path
) -> None:
    from dr.backup.lookup import find_backup
    from dr.config.load import parse_config
    from dr.errors import DrError

    three_backups(made)
    shutil.rmtree(made.store.root / JOB / "sequence")
    config = {
        "clusters": {"primary": {"bootstrap_servers": "kafka-1:9092"}},
        "storage": {"local": {"url": made.store.root.as_uri()}},
        "state": str(tmp_path / "state.db"),
        "backups": {JOB: {"cluster": "primary", "storage": "local", "topics": ["orders"]}},
    }
    settings = parse_config(json.dumps(config), source="test", base_dir=tmp_path)

    with pytest.raises(DrError) as caught:
        find_backup(settings, "latest")

    assert str(caught.value) == (
        f"job '{JOB}' has no readable completed backup in {made.store.root.as_uri()} "
        f"(`kafka-dr backup list {JOB}` names any it cannot read)"
    )
