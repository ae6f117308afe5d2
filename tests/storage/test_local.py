"""LocalStore: objects as files, written atomically, never outside the store's directory."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import BinaryIO

import pytest

from dr.config.schema import StorageSettings
from dr.storage import LocalStore, ObjectNotFound, StorageError, open_store
from dr.storage.local import TEMP_PREFIX, atomic_write


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


def files_under(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


def test_bytes_round_trip_into_a_file_at_the_key_path(store: LocalStore) -> None:
    store.put_bytes("orders/data/0/000.seg", b"payload")

    assert store.get_bytes("orders/data/0/000.seg") == b"payload"
    assert (store.root / "orders" / "data" / "0" / "000.seg").read_bytes() == b"payload"


def test_a_file_round_trips_and_the_copy_lands_in_a_new_directory(
    store: LocalStore, tmp_path: Path
) -> None:
    source = tmp_path / "in.seg"
    source.write_bytes(os.urandom(300_000))

    store.put_file("orders/big.seg", source)
    store.get_file("orders/big.seg", tmp_path / "out" / "deep" / "big.seg")

    assert (tmp_path / "out" / "deep" / "big.seg").read_bytes() == source.read_bytes()


def test_the_store_url_is_a_file_url_of_its_root(tmp_path: Path) -> None:
    assert LocalStore(tmp_path / "s").url == (tmp_path / "s").resolve().as_uri()


def test_a_write_leaves_only_the_object_in_its_directory(store: LocalStore) -> None:
    store.put_bytes("a/one", b"1")
    store.put_bytes("a/one", b"11")
    store.put_bytes("a/two", b"2")

    assert sorted(os.listdir(store.root / "a")) == ["one", "two"]


def test_a_failing_write_leaves_the_old_object_intact_and_no_temporary_file(
    store: LocalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.put_bytes("manifest.json", b"old")

    def disk_error(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", disk_error)
    with pytest.raises(StorageError) as caught:
        store.put_bytes("manifest.json", b"new, never complete")
    monkeypatch.undo()

    assert str(caught.value) == (f"cannot write 'manifest.json' in {store.url}: Input/output error")
    assert store.get_bytes("manifest.json") == b"old"
    assert os.listdir(store.root) == ["manifest.json"]


def test_an_interrupted_atomic_write_removes_its_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_bytes(b"old")

    def half_then_fail(out: BinaryIO) -> None:
        out.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, half_then_fail)

    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["file"]


def test_a_reader_never_sees_a_partly_written_object(store: LocalStore) -> None:
    versions = [bytes([n]) * 2_000_000 for n in (1, 2)]
    store.put_bytes("seg", versions[0])
    seen: set[bytes] = set()
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            data = store.get_bytes("seg")
            seen.add(data if data in versions else b"torn")

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for n in range(30):
            store.put_bytes("seg", versions[n % 2])
    finally:
        done.set()
        reader.join()

    assert b"torn" not in seen


def test_list_skips_temporary_files_of_an_interrupted_write(store: LocalStore) -> None:
    store.put_bytes("a/b", b"x")
    (store.root / "a" / f"{TEMP_PREFIX}b.k2j3").write_bytes(b"half")

    assert [info.key for info in store.list("")] == ["a/b"]


def test_a_key_naming_a_temporary_file_is_refused(store: LocalStore) -> None:
    with pytest.raises(StorageError, match=f"'a/{TEMP_PREFIX}x'"):
        store.put_bytes(f"a/{TEMP_PREFIX}x", b"x")


def test_list_is_sorted_by_key_and_filtered_by_prefix(store: LocalStore) -> None:
    for key in ["b", "a/b/c", "a-c", "a/a", "orders/1", "orders-archive/1"]:
        store.put_bytes(key, b"x")

    assert [i.key for i in store.list("")] == [
        "a-c",
        "a/a",
        "a/b/c",
        "b",
        "orders-archive/1",
        "orders/1",
    ]
    assert [i.key for i in store.list("a/")] == ["a/a", "a/b/c"]
    assert [i.key for i in store.list("orders")] == ["orders-archive/1", "orders/1"]
    assert [i.key for i in store.list("nothing/")] == []


def test_a_store_whose_directory_does_not_exist_yet_is_empty(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "not" / "yet")

    assert list(store.list("")) == []
    assert not store.exists("a")


def test_list_checks_its_prefix_before_it_is_iterated(store: LocalStore) -> None:
    with pytest.raises(StorageError, match=r"invalid key prefix '\.\./'"):
        store.list("../")


def test_deleting_is_idempotent_and_prunes_emptied_directories(store: LocalStore) -> None:
    store.put_bytes("keep/x", b"x")
    store.put_bytes("a/b/c", b"x")

    store.delete("a/b/c")
    store.delete("a/b/c")
    store.delete("never/was/here")

    assert not (store.root / "a").exists()
    assert files_under(store.root) == ["keep/x"]


def test_delete_many_removes_the_named_objects_only(store: LocalStore) -> None:
    for key in ["a/1", "a/2", "b/1"]:
        store.put_bytes(key, b"x")

    store.delete_many(["a/1", "b/1", "c/1"])

    assert [i.key for i in store.list("")] == ["a/2"]


def test_reading_a_missing_object_names_the_key_and_the_store(store: LocalStore) -> None:
    store.put_bytes("a/b", b"x")

    for key in ("orders/0.seg", "a", "a/b/c"):
        with pytest.raises(ObjectNotFound) as caught:
            store.get_bytes(key)
        assert str(caught.value) == f"object '{key}' not found in {store.url}"


def test_a_directory_is_not_an_object(store: LocalStore) -> None:
    store.put_bytes("a/b", b"x")

    assert store.stat("a") is None
    store.delete("a")
    assert store.get_bytes("a/b") == b"x"


def test_stat_reports_the_size_in_utc(store: LocalStore) -> None:
    store.put_bytes("a", b"12345")

    info = store.stat("a")

    assert info is not None and info.size == 5 and info.modified.tzname() == "UTC"


def test_a_key_below_an_existing_object_is_a_storage_error(store: LocalStore) -> None:
    store.put_bytes("a", b"x")

    with pytest.raises(StorageError, match=r"cannot write 'a/b' in file://"):
        store.put_bytes("a/b", b"y")


def test_a_symbolic_link_cannot_lead_a_key_outside_the_store(
    store: LocalStore, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"s")
    store.root.mkdir(parents=True)
    (store.root / "link").symlink_to(outside)

    with pytest.raises(StorageError, match="'link/x' leads outside"):
        store.put_bytes("link/x", b"x")
    with pytest.raises(StorageError, match="'link/secret' leads outside"):
        store.get_bytes("link/secret")

    assert os.listdir(outside) == ["secret"]
    assert list(store.list("")) == []


def test_a_missing_source_file_is_a_storage_error_naming_it(
    store: LocalStore, tmp_path: Path
) -> None:
    with pytest.raises(StorageError, match=f"cannot read {tmp_path / 'nope'}"):
        store.put_file("k", tmp_path / "nope")


def test_open_store_opens_a_local_store_for_a_file_url(tmp_path: Path) -> None:
    store = open_store(StorageSettings(url=(tmp_path / "backups").as_uri()))
    store.put_bytes("k", b"v")

    assert isinstance(store, LocalStore)
    assert (tmp_path / "backups" / "k").read_bytes() == b"v"
