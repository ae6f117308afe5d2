"""A backup of a job that is not configured (a failback's divergence archive) is found in the
configured stores, by its id or by its job name; configured jobs are found as before."""

from __future__ import annotations

from pathlib import Path

import pytest
from handmade import HandmadeBackups, entry

from dr.backup.catalog import CatalogError
from dr.backup.lookup import find_backup, job_store
from dr.config.schema import Settings
from dr.errors import UsageError
from dr.storage import LocalStore

ARCHIVE = "divergence-failback-20261201T031500Z-3f9a"


def settings(tmp_path: Path) -> Settings:
    return Settings.model_validate(
        {
            "clusters": {"primary": {"bootstrap_servers": "kafka-1:9092"}},
            "storage": {
                "s1": {"url": (tmp_path / "s1").as_uri()},
                "s2": {"url": (tmp_path / "s2").as_uri()},
            },
            "backups": {"orders": {"cluster": "primary", "topics": ["orders"], "storage": "s1"}},
            "state": str(tmp_path / "state.db"),
        }
    )


@pytest.fixture
def archived(tmp_path: Path) -> tuple[Settings, str]:
    """An archive committed in the second store, a configured job's backup in the first."""
    made = HandmadeBackups(LocalStore(tmp_path / "s2"), job=ARCHIVE)
    archive = made.backup([entry("orders", 0, [made.segment("orders", 0, 5, 9)])])
    job = HandmadeBackups(LocalStore(tmp_path / "s1"), job="orders")
    job.backup([entry("orders", 0, [job.segment("orders", 0, 0, 9)])])
    return settings(tmp_path), archive.backup_id


def test_an_archive_is_found_by_its_id_alone(archived: tuple[Settings, str]) -> None:
    conf, backup_id = archived

    store, manifest = find_backup(conf, backup_id)

    assert manifest.backup_id == backup_id and manifest.job == ARCHIVE
    assert store.url.endswith("/s2")


def test_an_archive_is_found_by_its_job_as_latest_or_by_id(archived: tuple[Settings, str]) -> None:
    conf, backup_id = archived

    assert find_backup(conf, "latest", ARCHIVE)[1].backup_id == backup_id
    assert find_backup(conf, backup_id, ARCHIVE)[1].backup_id == backup_id
    assert job_store(conf, ARCHIVE, archives=True).url.endswith("/s2")


def test_a_configured_job_is_still_found_as_before(archived: tuple[Settings, str]) -> None:
    conf, _ = archived

    _, manifest = find_backup(conf, "latest")

    assert manifest.job == "orders"


def test_an_unconfigured_job_is_not_a_job_for_commands_that_need_its_settings(
    archived: tuple[Settings, str],
) -> None:
    conf, _ = archived
    # prune needs the job's retention: it keeps refusing a job that is not configured.
    with pytest.raises(UsageError, match=f"no backup job named '{ARCHIVE}'"):
        job_store(conf, ARCHIVE)


def test_an_archive_that_no_store_holds_is_not_found(archived: tuple[Settings, str]) -> None:
    conf, backup_id = archived
    other = backup_id.replace("3f9a", "0000")

    with pytest.raises(CatalogError, match="no backup job owns"):
        find_backup(conf, other)
    with pytest.raises(UsageError, match="no backup job named 'divergence-nothing'"):
        find_backup(conf, "latest", "divergence-nothing")
