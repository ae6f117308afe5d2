"""LocalStore's conditional write (put_if_absent) and the cleaning of interrupted writes."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from dr.storage import LocalStore, StorageError
from dr.storage.local import TEMP_PREFIX


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


def temporaries(store: LocalStore) -> list[Path]:
    return [p for p in store.root.rglob(f"{TEMP_PREFIX}*")]


def test_put_if_absent_creates_an_object_once_and_never_overwrites_it(store: LocalStore) -> None:
    assert store.put_if_absent("orders/sequence/00000001", b"first") is True
    assert store.put_if_absent("orders/sequence/00000001", b"second") is False

    assert store.get_bytes("orders/sequence/00000001") == b"first"
    assert temporaries(store) == []


def test_put_if_absent_does_not_replace_an_object_put_before(store: LocalStore) -> None:
    store.put_bytes("manifest.json", b"old")

    assert store.put_if_absent("manifest.json", b"new") is False
    assert store.get_bytes("manifest.json") == b"old"


def test_of_threads_putting_one_key_if_absent_exactly_one_creates_it(store: LocalStore) -> None:
    start = threading.Barrier(16)
    created: list[int] = []

    def put(i: int) -> None:
        start.wait()
        if store.put_if_absent("locks/backup.json.00000001", str(i).encode()):
            created.append(i)

    threads = [threading.Thread(target=put, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(created) == 1
    assert store.get_bytes("locks/backup.json.00000001") == str(created[0]).encode()
    assert temporaries(store) == []


def test_put_if_absent_is_refused_where_a_directory_has_the_name(store: LocalStore) -> None:
    store.put_bytes("orders/data/0/000.seg", b"x")

    with pytest.raises(StorageError, match=r"'orders/data' .*a directory"):
        store.put_if_absent("orders/data", b"y")


def test_put_if_absent_makes_its_objects_owner_readable_only(store: LocalStore) -> None:
    store.put_if_absent("a/b", b"x")

    assert (store.root / "a" / "b").stat().st_mode & 0o077 == 0


def make_leftover(directory: Path, name: str, age_s: float) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{TEMP_PREFIX}{name}"
    path.write_bytes(b"half a segment")
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


def test_clean_temporaries_deletes_leftovers_older_than_asked_and_nothing_else(
    store: LocalStore,
) -> None:
    store.put_bytes("orders/data/0/000.seg", b"kept")
    old = make_leftover(store.root / "orders" / "data" / "0", "old", age_s=7200)
    young = make_leftover(store.root / "orders" / "data" / "0", "young", age_s=60)
    also_old = make_leftover(store.root / "orders", "manifest", age_s=7200)

    assert store.clean_temporaries(older_than_s=3600) == 2

    assert not old.exists() and not also_old.exists() and young.exists()
    assert store.get_bytes("orders/data/0/000.seg") == b"kept"


def test_clean_temporaries_prunes_the_directories_it_empties(store: LocalStore) -> None:
    make_leftover(store.root / "orders" / "data" / "7", "x", age_s=7200)

    assert store.clean_temporaries(older_than_s=3600) == 1

    assert list(store.root.iterdir()) == []


def test_clean_temporaries_of_a_store_that_does_not_exist_yet_finds_nothing(
    tmp_path: Path,
) -> None:
    assert LocalStore(tmp_path / "never-written").clean_temporaries(older_than_s=0) == 0
