"""Reading a backup's metadata snapshot for a restore: encrypted, opened with the store's keys;
without them, or damaged, a one-line error naming the object (and the key id it needs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from handmade import HandmadeBackups, entry

from dr.backup.catalog import CatalogError, Manifest
from dr.backup.lookup import load_metadata
from dr.storage import EncryptedStore, EncryptionError, Keyring, LocalStore, put_encrypted

METADATA = {"format": 1, "topics": {"orders": {"partitions": 1}}}


def sealed(tmp_path: Path, key: bytes) -> tuple[LocalStore, Manifest]:
    """A committed backup whose metadata is encrypted with key 'k1'."""
    plain = LocalStore(tmp_path / "store")
    made = HandmadeBackups(plain, job="orders")
    manifest = made.backup([entry("orders", 0, [made.segment("orders", 0, 0, 3)])])
    store = EncryptedStore(plain, Keyring("k1", {"k1": key}))
    put_encrypted(store, manifest.metadata_key, json.dumps(METADATA).encode())
    return plain, manifest


def test_encrypted_metadata_opens_with_the_key(tmp_path: Path) -> None:
    key = os.urandom(32)
    plain, manifest = sealed(tmp_path, key)

    assert load_metadata(EncryptedStore(plain, Keyring("k1", {"k1": key})), manifest) == METADATA


def test_encrypted_metadata_read_without_keys_names_the_object_and_key_id(tmp_path: Path) -> None:
    plain, manifest = sealed(tmp_path, os.urandom(32))

    with pytest.raises(EncryptionError) as caught:
        load_metadata(plain, manifest)

    assert f"object '{manifest.metadata_key}' is encrypted with key 'k1'" in caught.value.message
    assert "no encryption keys" in caught.value.message


def test_encrypted_metadata_with_the_wrong_key_fails_authentication(tmp_path: Path) -> None:
    plain, manifest = sealed(tmp_path, os.urandom(32))
    wrong = EncryptedStore(plain, Keyring("k1", {"k1": os.urandom(32)}))

    with pytest.raises(EncryptionError, match="failed authentication with key 'k1'"):
        load_metadata(wrong, manifest)


@pytest.mark.parametrize("garbage", [b"\xf2\x00binary", b"[1, 2]", b"{cut"])
def test_metadata_that_is_not_a_json_object_is_a_catalog_error(
    tmp_path: Path, garbage: bytes
) -> None:
    plain, manifest = sealed(tmp_path, os.urandom(32))
    plain.put_bytes(manifest.metadata_key, garbage)

    with pytest.raises(CatalogError, match=f"'{manifest.metadata_key}' .* is not a JSON object"):
        load_metadata(plain, manifest)


def test_missing_metadata_is_a_catalog_error(tmp_path: Path) -> None:
    plain, manifest = sealed(tmp_path, os.urandom(32))

    with pytest.raises(CatalogError, match="is missing"):
        load_metadata(plain, replace(manifest, metadata_key="orders/metadata/gone.json"))


def test_a_restore_from_a_config_without_encryption_fails_in_one_line(tmp_path: Path) -> None:
    plain, manifest = sealed(tmp_path, os.urandom(32))
    config = tmp_path / "keyless.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                # Nothing listens there: the restore must fail before it connects.
                "clusters": {"dr": {"bootstrap_servers": "127.0.0.1:1"}},
                "storage": {"local": {"url": plain.root.as_uri()}},
                "backups": {"orders": {"cluster": "dr", "topics": ["orders"], "storage": "local"}},
                "state": str(tmp_path / "state.db"),
            }
        )
    )

    command = ["restore", "latest", "--job", "orders", "--to", "dr", "--yes"]
    done = subprocess.run(
        [sys.executable, "-m", "dr", "--config", str(config), "--log-level", "debug", *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error")]
    assert errors == [
        f"error: object '{manifest.metadata_key}' is encrypted with key 'k1', and the settings "
        f"of {plain.url} have no encryption keys"
    ]
