"""The catalog: manifests in the store, their keys and ids, and what a backup references."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from handmade import CLUSTER_ID, JOB, T0, HandmadeBackups, entry

from dr.backup.catalog import (
    CatalogError,
    Gap,
    Manifest,
    latest_manifest,
    list_manifests,
    load_manifest,
    manifest_key,
    metadata_key,
    new_backup_id,
    segment_key,
    write_manifest,
)
from dr.storage import LocalStore


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


@pytest.fixture
def made(store: LocalStore) -> HandmadeBackups:
    return HandmadeBackups(store)


def two_partition_backup(made: HandmadeBackups, started_at: datetime = T0) -> Manifest:
    first = made.segment("orders", 0, 0, 5)
    second = made.segment("orders", 0, 5, 12, offsets=[5, 6, 7, 9, 11])
    gap = Gap(12, 20, "deleted by retention before backup", T0.isoformat(), "orders-job-x")
    other = made.segment("payments.eu", 3, 40, 43)
    return made.backup(
        [entry("orders", 0, [first, second], end=30, gaps=[gap]), entry("payments.eu", 3, [other])],
        started_at=started_at,
    )


def test_a_written_manifest_loads_back_equal_field_for_field(
    store: LocalStore, made: HandmadeBackups
) -> None:
    written = two_partition_backup(made)

    loaded = load_manifest(store, JOB, written.backup_id)

    assert loaded == written
    assert loaded.cluster_id == CLUSTER_ID
    assert loaded.partitions[0].gaps[0].end_offset == 20


def test_the_manifest_is_stored_as_json_under_the_jobs_manifests(
    store: LocalStore, made: HandmadeBackups
) -> None:
    written = two_partition_backup(made)

    raw = json.loads(store.get_bytes(f"{JOB}/manifests/{written.backup_id}.json"))

    assert raw["format"] == 1
    assert raw["status"] == "DONE"
    assert raw["partitions"][0]["segments"][1]["key"] == segment_key(JOB, "orders", 0, 5)


def test_manifests_are_listed_oldest_first_and_the_latest_is_the_newest(
    store: LocalStore, made: HandmadeBackups
) -> None:
    # Written out of order: the listing orders by start time, not by writing order.
    later = two_partition_backup(made, T0 + timedelta(hours=2))
    earlier = two_partition_backup(made, T0)
    middle = two_partition_backup(made, T0 + timedelta(hours=1))

    assert [m.backup_id for m in list_manifests(store, JOB)] == [
        earlier.backup_id,
        middle.backup_id,
        later.backup_id,
    ]
    assert latest_manifest(store, JOB) == later


def test_a_job_without_backups_has_no_latest_manifest(store: LocalStore) -> None:
    assert list_manifests(store, JOB) == []
    assert latest_manifest(store, JOB) is None


def test_a_jobs_listing_never_includes_a_job_whose_name_starts_the_same(store: LocalStore) -> None:
    mine = HandmadeBackups(store, job="orders").backup([])
    HandmadeBackups(store, job="orders-eu").backup([])

    assert list_manifests(store, "orders") == [mine]


def test_files_in_the_manifests_directory_that_are_not_json_are_ignored(
    store: LocalStore, made: HandmadeBackups
) -> None:
    written = made.backup([])
    store.put_bytes(f"{JOB}/manifests/README.txt", b"not a manifest")

    assert list_manifests(store, JOB) == [written]


def test_segment_keys_are_zero_padded_to_20_digits_so_they_sort_by_offset() -> None:
    offsets = [0, 9, 10, 100, 123_456_789, 2**63 - 1]

    keys = [segment_key(JOB, "orders", 3, o) for o in offsets]

    assert keys[2] == "orders-job/data/orders/3/00000000000000000010.seg"
    assert keys[-1] == "orders-job/data/orders/3/09223372036854775807.seg"
    assert sorted(keys) == keys


def test_manifest_and_metadata_keys_are_per_job_and_per_backup() -> None:
    backup_id = "orders-job-20240501T000000000000Z"

    assert manifest_key(JOB, backup_id) == f"orders-job/manifests/{backup_id}.json"
    assert metadata_key(JOB, backup_id) == f"orders-job/metadata/{backup_id}.json"


def test_a_backup_id_is_the_job_and_the_utc_time_to_the_microsecond() -> None:
    moment = datetime(2024, 5, 1, 13, 4, 5, 6, tzinfo=UTC)

    assert new_backup_id(JOB, moment) == "orders-job-20240501T130405000006Z"


def test_a_backup_id_from_another_time_zone_is_written_in_utc() -> None:
    paris = timezone(timedelta(hours=2))

    assert new_backup_id(JOB, datetime(2024, 5, 1, 15, 4, 5, tzinfo=paris)) == (
        "orders-job-20240501T130405000000Z"
    )


def test_backup_ids_sort_in_the_order_the_backups_were_taken() -> None:
    moments = [
        T0 + timedelta(microseconds=1),
        T0 + timedelta(microseconds=10),
        T0 + timedelta(seconds=1),
        T0 + timedelta(days=40),
        T0 + timedelta(days=400),
    ]

    ids = [new_backup_id(JOB, m) for m in moments]

    assert sorted(reversed(ids)) == ids


def test_a_missing_manifest_is_a_catalog_error_naming_its_key_and_store(store: LocalStore) -> None:
    with pytest.raises(CatalogError) as caught:
        load_manifest(store, JOB, "orders-job-20240501T000000000000Z")

    assert str(caught.value) == (
        f"backup manifest 'orders-job/manifests/orders-job-20240501T000000000000Z.json' "
        f"not found in {store.url}"
    )


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"{not json", "is not valid JSON"),
        (b'{"format": 1, "partitions": []}', "is malformed"),
        (b'{"format": 2, "partitions": []}', "is malformed (format 2 is not supported)"),
        (b'{"format": 1, "partitions": [{"topic": "orders"}]}', "is malformed"),
    ],
    ids=["not-json", "fields-missing", "newer-format", "partition-incomplete"],
)
def test_a_malformed_manifest_is_a_catalog_error_naming_its_key(
    store: LocalStore, content: bytes, says: str
) -> None:
    key = manifest_key(JOB, "orders-job-1")
    store.put_bytes(key, content)

    with pytest.raises(CatalogError) as caught:
        load_manifest(store, JOB, "orders-job-1")

    assert str(caught.value).startswith(f"backup manifest '{key}' {says}")


def test_a_manifest_that_is_valid_json_but_not_an_object_is_a_catalog_error(
    store: LocalStore,
) -> None:
    store.put_bytes(manifest_key(JOB, "orders-job-1"), b"[1, 2]")

    with pytest.raises(CatalogError):
        load_manifest(store, JOB, "orders-job-1")


def test_one_malformed_manifest_fails_the_listing_naming_it(
    store: LocalStore, made: HandmadeBackups
) -> None:
    made.backup([])
    store.put_bytes(manifest_key(JOB, "orders-job-2"), b"{}")

    with pytest.raises(CatalogError) as caught:
        list_manifests(store, JOB)

    assert "'orders-job/manifests/orders-job-2.json'" in str(caught.value)


def test_a_backup_references_every_segment_of_every_partition_and_its_metadata(
    made: HandmadeBackups,
) -> None:
    manifest = two_partition_backup(made)

    assert manifest.referenced_keys() == {
        segment_key(JOB, "orders", 0, 0),
        segment_key(JOB, "orders", 0, 5),
        segment_key(JOB, "payments.eu", 3, 40),
        metadata_key(JOB, manifest.backup_id),
    }


def test_a_backup_without_data_still_references_its_metadata(made: HandmadeBackups) -> None:
    manifest = made.backup([])

    assert manifest.referenced_keys() == {manifest.metadata_key}


def test_totals_count_every_segment_of_the_backup(made: HandmadeBackups) -> None:
    manifest = two_partition_backup(made)

    assert manifest.total_records == 5 + 5 + 3
    assert manifest.topics == ["orders", "payments.eu"]
    assert manifest.partition("payments.eu", 3) is manifest.partitions[1]
    assert manifest.partition("payments.eu", 0) is None


def test_writing_a_manifest_again_replaces_it(store: LocalStore, made: HandmadeBackups) -> None:
    manifest = made.backup([])
    updated = replace(manifest, gaps_found=2)

    write_manifest(store, updated)

    assert load_manifest(store, JOB, manifest.backup_id).gaps_found == 2
