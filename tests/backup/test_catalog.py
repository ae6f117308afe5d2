"""The catalog: manifests in the store, their keys and ids, and what a backup references."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from handmade import CLUSTER_ID, JOB, T0, HandmadeBackups, edit_manifest_json, entry

from dr.backup.catalog import (
    CatalogError,
    Gap,
    Manifest,
    adopt_legacy,
    catalog_entries,
    encode_manifest,
    latest_manifest,
    list_manifests,
    load_manifest,
    manifest_key,
    metadata_key,
    new_backup_id,
    next_sequence,
    scan_catalog,
    segment_key,
    sequence_key,
    write_manifest,
)
from dr.backup.chain import chain_problems
from dr.storage import LocalStore, ObjectInfo, StorageError


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
    assert loaded.sha256 == written.sha256 != ""
    assert loaded.cluster_id == CLUSTER_ID
    assert loaded.partitions[0].gaps[0].end_offset == 20


def test_the_manifest_is_stored_as_json_under_the_jobs_manifests(
    store: LocalStore, made: HandmadeBackups
) -> None:
    written = two_partition_backup(made)

    raw = json.loads(store.get_bytes(f"{JOB}/manifests/{written.backup_id}.json"))

    assert raw["format"] == 2
    assert raw["status"] == "DONE"
    assert (raw["sequence"], raw["sha256"]) == (1, written.sha256)
    assert raw["partitions"][0]["segments"][1]["key"] == segment_key(JOB, "orders", 0, 5)


def test_manifests_are_listed_in_commit_order_whatever_their_start_times(
    store: LocalStore, made: HandmadeBackups
) -> None:
    # A host with a wrong clock: start times go back and forth, the sequence does not.
    first = two_partition_backup(made, T0 + timedelta(hours=2))
    second = two_partition_backup(made, T0)
    third = two_partition_backup(made, T0 + timedelta(hours=1))

    listed = list_manifests(store, JOB)

    assert [m.backup_id for m in listed] == [
        first.backup_id,
        second.backup_id,
        third.backup_id,
    ]
    assert [m.sequence for m in listed] == [1, 2, 3]
    assert latest_manifest(store, JOB) == third


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


def test_segments_of_a_topic_id_live_apart_from_another_lineage_of_the_same_name() -> None:
    before = segment_key(JOB, "orders", 3, 0, topic_id="Aq1")
    recreated = segment_key(JOB, "orders", 3, 0, topic_id="Bx2")

    assert before == "orders-job/data/orders/Aq1/3/00000000000000000000.seg"
    assert recreated != before


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
        (b'{"format": 3, "partitions": []}', "is malformed (format 3 is not supported)"),
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


def test_a_manifest_edited_after_it_was_written_fails_its_own_checksum(
    store: LocalStore, made: HandmadeBackups
) -> None:
    written = two_partition_backup(made)
    edit_manifest_json(
        store, written, lambda raw: raw["partitions"][0]["segments"][0].update(records=4)
    )

    with pytest.raises(CatalogError) as caught:
        load_manifest(store, JOB, written.backup_id)

    assert str(caught.value) == (
        f"backup manifest '{manifest_key(JOB, written.backup_id)}' fails its own checksum: "
        "it was altered after it was written"
    )


def test_a_manifest_that_is_valid_json_but_not_an_object_is_a_catalog_error(
    store: LocalStore,
) -> None:
    store.put_bytes(manifest_key(JOB, "orders-job-1"), b"[1, 2]")

    with pytest.raises(CatalogError):
        load_manifest(store, JOB, "orders-job-1")


def test_a_malformed_manifest_is_left_out_of_the_listing_and_named_by_the_scan(
    store: LocalStore, made: HandmadeBackups
) -> None:
    kept = made.backup([])
    broken = made.backup([], started_at=T0 + timedelta(hours=1))
    store.put_bytes(manifest_key(JOB, broken.backup_id), b"{}")

    good, problems = scan_catalog(store, JOB)

    assert list_manifests(store, JOB) == good == [kept]
    assert [(p.sequence, p.object) for p in problems] == [(2, manifest_key(JOB, broken.backup_id))]
    assert "is malformed" in problems[0].message


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


def test_writing_a_sequence_0_manifest_again_replaces_it(store: LocalStore) -> None:
    # Format-1 style: no sequence entry, so nothing refuses a second write.
    manifest = HandmadeBackups(store).backup([], sequence=0)
    updated = replace(manifest, gaps_found=2)

    write_manifest(store, updated)

    assert load_manifest(store, JOB, manifest.backup_id).gaps_found == 2


# -- the sequence: commits, latest, adoption of format-1 stores ------------------------------


def test_each_backup_commits_the_next_number_naming_its_parent_and_the_parents_checksum(
    store: LocalStore, made: HandmadeBackups
) -> None:
    first = made.backup([])
    second = made.backup([], started_at=T0 + timedelta(hours=1))

    entry_of_second = json.loads(store.get_bytes(sequence_key(JOB, 2)))

    assert (first.sequence, second.sequence, next_sequence(store, JOB)) == (1, 2, 3)
    assert (second.parent, second.parent_sha256) == (first.backup_id, first.sha256)
    assert entry_of_second == {"backup_id": second.backup_id, "manifest_sha256": second.sha256}
    assert [e.backup_id for e in catalog_entries(store, JOB)] == [
        first.backup_id,
        second.backup_id,
    ]


def test_a_manifest_whose_run_died_before_its_commit_is_not_a_backup(
    store: LocalStore, made: HandmadeBackups
) -> None:
    committed = made.backup([])
    # What a run killed between its manifest and its sequence entry leaves behind.
    dead = made.manifest([], started_at=T0 + timedelta(hours=1), parent=committed, sequence=2)
    store.put_bytes(manifest_key(JOB, dead.backup_id), encode_manifest(dead)[1])

    assert list_manifests(store, JOB) == [committed]
    assert latest_manifest(store, JOB) == committed
    assert next_sequence(store, JOB) == 2


def test_a_second_commit_of_one_number_is_refused_and_its_manifest_withdrawn(
    store: LocalStore, made: HandmadeBackups
) -> None:
    winner = made.backup([])

    with pytest.raises(CatalogError) as caught:
        made.backup([], started_at=T0 + timedelta(minutes=5), sequence=1)

    loser_id = new_backup_id(JOB, T0 + timedelta(minutes=5))
    assert str(caught.value).startswith(
        f"job '{JOB}': backup number 1 was committed by another run while {loser_id} ran"
    )
    assert not store.exists(manifest_key(JOB, loser_id))
    assert list_manifests(store, JOB) == [winner]
    assert load_manifest(store, JOB, winner.backup_id) == winner


class CommitsButReportsFalse(LocalStore):
    """A store whose conditional write succeeds but answers as if the object existed: an S3
    PUT whose response was lost and whose retry got 412 (see S3Store.put_if_absent)."""

    def put_if_absent(self, key: str, data: bytes) -> bool:
        super().put_if_absent(key, data)
        return False


def test_a_commit_whose_answer_was_lost_keeps_the_backup_it_committed(
    store: LocalStore, made: HandmadeBackups
) -> None:
    manifest = made.manifest([], started_at=T0, parent=None, sequence=1)

    written = write_manifest(CommitsButReportsFalse(store.root), manifest)

    assert list_manifests(store, JOB) == [written]


class CountingStore:
    """A LocalStore that counts its listings (by prefix) and its reads."""

    def __init__(self, inner: LocalStore) -> None:
        self.inner = inner
        self.url = inner.url
        self.listed: list[str] = []
        self.read: list[str] = []

    def put_bytes(self, key: str, data: bytes) -> None:
        self.inner.put_bytes(key, data)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        return self.inner.put_if_absent(key, data)

    def put_file(self, key: str, path: Path) -> None:
        self.inner.put_file(key, path)

    def get_bytes(self, key: str) -> bytes:
        self.read.append(key)
        return self.inner.get_bytes(key)

    def get_file(self, key: str, path: Path) -> None:
        self.read.append(key)
        self.inner.get_file(key, path)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def stat(self, key: str) -> ObjectInfo | None:
        return self.inner.stat(key)

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def delete_many(self, keys: Iterable[str]) -> None:
        self.inner.delete_many(keys)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        self.listed.append(prefix)
        return self.inner.list(prefix)

    def clean_temporaries(self, older_than_s: float) -> int:
        return self.inner.clean_temporaries(older_than_s)


def test_latest_manifest_reads_a_few_small_objects_and_lists_nothing_however_many_backups(
    store: LocalStore, made: HandmadeBackups
) -> None:
    for n in range(200):
        newest = made.backup([], started_at=T0 + n * timedelta(hours=1))
    counting = CountingStore(store)

    latest = latest_manifest(counting, JOB)

    assert latest == newest
    assert latest.sequence == 200
    assert counting.listed == []
    assert counting.read == [
        f"{JOB}/sequence/head",
        sequence_key(JOB, 200),
        manifest_key(JOB, newest.backup_id),
    ]


def test_when_the_newest_manifest_is_deleted_latest_is_the_previous_and_numbering_moves_on(
    store: LocalStore, made: HandmadeBackups
) -> None:
    previous = made.backup([])
    newest = made.backup([], started_at=T0 + timedelta(hours=1))
    store.delete(manifest_key(JOB, newest.backup_id))  # its sequence entry remains

    assert latest_manifest(store, JOB) == previous
    assert next_sequence(store, JOB) == 3
    after = made.backup([], started_at=T0 + timedelta(hours=2))
    assert (after.sequence, after.parent) == (3, previous.backup_id)


def test_a_garbage_manifest_in_the_middle_is_skipped_named_and_does_not_stop_the_next_backup(
    store: LocalStore, made: HandmadeBackups
) -> None:
    first = made.backup([])
    garbage = made.backup([], started_at=T0 + timedelta(hours=1))
    third = made.backup([], started_at=T0 + timedelta(hours=2))
    store.put_bytes(manifest_key(JOB, garbage.backup_id), b"\x00\x01 not json")

    good, problems = scan_catalog(store, JOB)
    fourth = made.backup([], started_at=T0 + timedelta(hours=3))

    assert good == [first, third]
    assert [(p.sequence, p.backup_id, p.object) for p in problems] == [
        (2, garbage.backup_id, manifest_key(JOB, garbage.backup_id))
    ]
    assert "is not valid JSON" in problems[0].message
    assert (fourth.sequence, fourth.parent) == (4, third.backup_id)
    assert list_manifests(store, JOB) == [first, third, fourth]
    assert latest_manifest(store, JOB) == fourth


def test_an_unreadable_sequence_entry_is_reported_naming_the_entry(
    store: LocalStore, made: HandmadeBackups
) -> None:
    made.backup([])
    made.backup([], started_at=T0 + timedelta(hours=1))
    store.put_bytes(sequence_key(JOB, 2), b"torn")

    _, problems = scan_catalog(store, JOB)

    assert [p.object for p in problems] == [sequence_key(JOB, 2)]


def three_format_1_backups(made: HandmadeBackups) -> list[Manifest]:
    # Written newest first: a format-1 store is ordered by backup id, which is by time.
    written = [made.format_1_backup([], started_at=T0 + timedelta(days=d)) for d in (2, 0, 1)]
    return sorted(written, key=lambda m: m.backup_id)


def test_a_format_1_store_lists_its_manifests_in_id_order_without_any_sequence_entry(
    store: LocalStore, made: HandmadeBackups
) -> None:
    legacy = three_format_1_backups(made)

    assert list_manifests(store, JOB) == legacy
    assert latest_manifest(store, JOB) == legacy[-1]
    assert next_sequence(store, JOB) == 4


def test_adopting_a_format_1_store_numbers_its_backups_oldest_first_and_the_chain_continues(
    store: LocalStore, made: HandmadeBackups
) -> None:
    legacy = three_format_1_backups(made)

    adopted = adopt_legacy(store, JOB)
    after = made.backup([], started_at=T0 + timedelta(days=3))

    assert adopted == 3
    assert [(e.sequence, e.backup_id) for e in catalog_entries(store, JOB)] == [
        (1, legacy[0].backup_id),
        (2, legacy[1].backup_id),
        (3, legacy[2].backup_id),
        (4, after.backup_id),
    ]
    assert (after.sequence, after.parent, after.parent_sha256) == (4, legacy[2].backup_id, None)
    assert list_manifests(store, JOB) == [*legacy, after]
    assert chain_problems(store, after) == []


def test_adopting_a_store_that_already_has_sequence_entries_changes_nothing(
    store: LocalStore, made: HandmadeBackups
) -> None:
    made.backup([])
    before = catalog_entries(store, JOB)

    assert adopt_legacy(store, JOB) == 0
    assert catalog_entries(store, JOB) == before


class FailsAfterOneCommit(LocalStore):
    """A store that dies (lost connection) after its first conditional write."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.commits = 0

    def put_if_absent(self, key: str, data: bytes) -> bool:
        if self.commits:
            raise StorageError(f"connection lost while writing '{key}'")
        self.commits += 1
        return super().put_if_absent(key, data)


def test_an_adoption_that_died_halfway_is_completed_by_the_next_one(
    store: LocalStore, made: HandmadeBackups
) -> None:
    legacy = three_format_1_backups(made)
    with pytest.raises(StorageError):
        adopt_legacy(FailsAfterOneCommit(store.root), JOB)

    adopt_legacy(store, JOB)

    assert list_manifests(store, JOB) == legacy


def test_the_first_backup_after_an_upgrade_leaves_the_format_1_backups_listed(
    store: LocalStore, made: HandmadeBackups
) -> None:
    legacy = three_format_1_backups(made)

    after = made.backup([], started_at=T0 + timedelta(days=3))  # as a run does it

    assert list_manifests(store, JOB) == [*legacy, after]
