"""Storing a segment never replaces an object: a committed backup's segments stay as written."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from dr.backup.copy import store_new_segment
from dr.storage import EncryptedStore, Keyring, LocalStore, open_stored

KEY = "job/data/orders/Aq1/0/00000000000000000000.seg"


def test_a_segment_goes_under_its_own_key_when_none_is_there(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)

    key, stored = store_new_segment(store, KEY, b"records 0..9", "tok")

    assert (key, stored) == (KEY, b"records 0..9")
    assert store.get_bytes(KEY) == b"records 0..9"


def test_a_segment_a_backup_holds_is_never_replaced_by_a_later_run(tmp_path: Path) -> None:
    # The topic left the job's topics and came back: the new run copies it again from offset 0.
    store = LocalStore(tmp_path)
    store.put_bytes(KEY, b"records 0..9 of the older backup")

    key, stored = store_new_segment(store, KEY, b"records 0..19", "tok")

    assert store.get_bytes(KEY) == b"records 0..9 of the older backup"
    assert key == "job/data/orders/Aq1/0/00000000000000000000.tok.seg"
    assert store.get_bytes(key) == stored == b"records 0..19"


def test_an_encrypted_segment_under_another_key_opens_with_that_key(tmp_path: Path) -> None:
    store = EncryptedStore(LocalStore(tmp_path), Keyring("k1", {"k1": os.urandom(32)}, "where"))
    first, _ = store_new_segment(store, KEY, b"older", "tok")

    key, stored = store_new_segment(store, KEY, b"newer", "tok")

    assert key != first
    assert hashlib.sha256(store.inner.get_bytes(key)).digest() == hashlib.sha256(stored).digest()
    assert open_stored(store, key, stored) == b"newer"
    assert store.get_bytes(first) == b"older"
