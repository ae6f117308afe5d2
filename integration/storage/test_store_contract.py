"""What every object store promises, checked on a local directory and on a real S3-API server."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dr.storage import LocalStore, ObjectNotFound, ObjectStore, S3Store, StorageError
from integration.s3server import S3Server


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path, s3_prefix: str) -> ObjectStore:
    if request.param == "local":
        return LocalStore(tmp_path / "store")
    server: S3Server = request.getfixturevalue("s3_server")
    return S3Store(server.settings(s3_prefix), retry_deadline_s=5)


def keys(store: ObjectStore, prefix: str = "") -> list[str]:
    return [info.key for info in store.list(prefix)]


def test_bytes_written_are_read_back_unchanged(store: ObjectStore) -> None:
    data = bytes(range(256)) * 100
    store.put_bytes("orders/data/0/000.seg", data)

    assert store.get_bytes("orders/data/0/000.seg") == data


def test_an_empty_object_round_trips(store: ObjectStore) -> None:
    store.put_bytes("empty", b"")

    assert store.get_bytes("empty") == b""
    info = store.stat("empty")
    assert info is not None and info.size == 0


def test_writing_a_key_again_replaces_the_object(store: ObjectStore) -> None:
    store.put_bytes("manifest.json", b"first")
    store.put_bytes("manifest.json", b"second, longer")

    assert store.get_bytes("manifest.json") == b"second, longer"


def test_a_file_round_trips_into_a_new_directory(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "segment.bin"
    source.write_bytes(b"\x00\x01payload" * 1000)
    target = tmp_path / "restore" / "deep" / "segment.bin"

    store.put_file("orders/data/1/000.seg", source)
    store.get_file("orders/data/1/000.seg", target)

    assert target.read_bytes() == source.read_bytes()


def test_stat_gives_size_and_a_utc_modification_time(store: ObjectStore) -> None:
    store.put_bytes("a/b", b"12345")

    info = store.stat("a/b")

    assert info is not None
    assert (info.key, info.size) == ("a/b", 5)
    assert info.modified.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - info.modified) < timedelta(minutes=5)
    assert store.exists("a/b")


def test_a_missing_object_has_no_stat_and_does_not_exist(store: ObjectStore) -> None:
    store.put_bytes("a/b", b"x")

    assert store.stat("a/c") is None
    assert store.stat("a") is None  # a 'directory' is not an object
    assert not store.exists("a/c")


def test_reading_a_missing_object_names_the_key_and_the_store(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound) as caught:
        store.get_bytes("orders/data/0/000.seg")

    assert str(caught.value) == f"object 'orders/data/0/000.seg' not found in {store.url}"


def test_downloading_a_missing_object_raises_not_found_and_writes_nothing(
    store: ObjectStore, tmp_path: Path
) -> None:
    target = tmp_path / "out" / "missing.seg"

    with pytest.raises(ObjectNotFound, match=r"'missing\.seg'"):
        store.get_file("missing.seg", target)

    assert not target.exists()


def test_list_gives_every_object_under_a_prefix_sorted_by_key(store: ObjectStore) -> None:
    for key in ["b", "a/b/c", "a-c", "a/a", "a/b-", "c/d/e/f"]:
        store.put_bytes(key, key.encode())

    listed = list(store.list(""))

    # Sorted as strings: 'a-c' comes before 'a/...' because '-' sorts before '/'.
    assert [i.key for i in listed] == ["a-c", "a/a", "a/b-", "a/b/c", "b", "c/d/e/f"]
    assert [i.size for i in listed] == [3, 3, 4, 5, 1, 7]
    assert keys(store, "a/") == ["a/a", "a/b-", "a/b/c"]
    assert keys(store, "a/b") == ["a/b-", "a/b/c"]
    assert keys(store, "c/d/") == ["c/d/e/f"]
    assert keys(store, "zzz/") == []


def test_a_prefix_without_a_slash_matches_like_s3(store: ObjectStore) -> None:
    store.put_bytes("orders/1", b"x")
    store.put_bytes("orders-archive/1", b"x")
    store.put_bytes("payments/1", b"x")

    assert keys(store, "orders") == ["orders-archive/1", "orders/1"]
    assert keys(store, "orders/") == ["orders/1"]


def test_an_empty_store_lists_nothing(store: ObjectStore) -> None:
    assert keys(store) == []


def test_deleting_a_missing_object_is_not_an_error(store: ObjectStore) -> None:
    store.put_bytes("keep", b"x")
    store.put_bytes("gone", b"x")

    store.delete("gone")
    store.delete("gone")
    store.delete("never/was")

    assert keys(store) == ["keep"]


def test_delete_many_removes_only_the_named_objects(store: ObjectStore) -> None:
    for key in ["a/1", "a/2", "a/3", "b/1"]:
        store.put_bytes(key, b"x")

    store.delete_many(["a/1", "a/3", "not/there"])
    store.delete_many([])

    assert keys(store) == ["a/2", "b/1"]


def test_delete_many_checks_every_key_before_deleting_any(store: ObjectStore) -> None:
    store.put_bytes("a/1", b"x")

    with pytest.raises(StorageError, match=r"'\.\./escape'"):
        store.delete_many(["a/1", "../escape"])

    assert keys(store) == ["a/1"]


def test_put_if_absent_creates_an_object_once_and_never_replaces_one(
    store: ObjectStore,
) -> None:
    store.put_bytes("manifest.json", b"old")

    assert store.put_if_absent("locks/backup.json.00000001", b"first") is True
    assert store.put_if_absent("locks/backup.json.00000001", b"second") is False
    assert store.put_if_absent("manifest.json", b"new") is False

    assert store.get_bytes("locks/backup.json.00000001") == b"first"
    assert store.get_bytes("manifest.json") == b"old"
    assert keys(store) == ["locks/backup.json.00000001", "manifest.json"]


def test_cleaning_temporaries_leaves_every_object_alone(store: ObjectStore) -> None:
    store.put_bytes("orders/data/0/000.seg", b"x")
    store.put_if_absent("orders/sequence/00000001", b"y")

    assert store.clean_temporaries(older_than_s=0) == 0

    assert keys(store) == ["orders/data/0/000.seg", "orders/sequence/00000001"]


CALLS: dict[str, Callable[[ObjectStore, str, Path], object]] = {
    "put_bytes": lambda s, k, p: s.put_bytes(k, b"x"),
    "put_if_absent": lambda s, k, p: s.put_if_absent(k, b"x"),
    "put_file": lambda s, k, p: s.put_file(k, p),
    "get_bytes": lambda s, k, p: s.get_bytes(k),
    "get_file": lambda s, k, p: s.get_file(k, p.with_name("out")),
    "exists": lambda s, k, p: s.exists(k),
    "stat": lambda s, k, p: s.stat(k),
    "delete": lambda s, k, p: s.delete(k),
    "delete_many": lambda s, k, p: s.delete_many([k]),
    "list": lambda s, k, p: s.list(k + "/"),
}


ESCAPING_KEYS = ["../outside", "/etc/passwd", "a//b", "a/./b", "a\\b", ""]


@pytest.mark.parametrize("method", sorted(CALLS))
def test_every_method_refuses_a_key_that_could_escape_the_store(
    store: ObjectStore, tmp_path: Path, method: str
) -> None:
    source = tmp_path / "source"
    source.write_bytes(b"x")

    for key in ESCAPING_KEYS:
        with pytest.raises(StorageError, match="invalid") as caught:
            CALLS[method](store, key, source)
        assert repr(key) in str(caught.value) or repr(key + "/") in str(caught.value)

    assert keys(store) == []
