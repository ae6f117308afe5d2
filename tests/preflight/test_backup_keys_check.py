"""'backup job J keys' in kafka-dr check: the store's keys open the latest backup, or the
check fails naming the key id a restore will need, before a disaster finds out."""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "backup"))  # the handmade backups

from handmade import HandmadeBackups, entry

from dr.config.load import parse_config
from dr.config.schema import Settings
from dr.preflight.encryption import keys_check
from dr.preflight.model import PreflightCheck
from dr.storage import EncryptedStore, Keyring, LocalStore, put_encrypted

K1 = os.urandom(32)


def settings(tmp_path: Path, keys: dict[str, bytes] | None) -> Settings:
    store: dict[str, object] = {"url": (tmp_path / "store").as_uri()}
    if keys is not None:
        encoded = {i: base64.b64encode(k).decode() for i, k in keys.items()}
        store["encryption"] = {"current": next(iter(keys)), "keys": encoded}
    doc = {
        "clusters": {"primary": {"bootstrap_servers": "kafka-1:9092"}},
        "storage": {"local": store},
        "backups": {"orders": {"cluster": "primary", "topics": ["orders"], "storage": "local"}},
        "state": str(tmp_path / "kafka-dr.db"),
    }
    return parse_config(json.dumps(doc), source="kafka-dr.yaml", base_dir=tmp_path)


def sealed_backup(tmp_path: Path) -> str:
    """A committed backup of job orders whose metadata is sealed with K1 as 'k1'."""
    plain = LocalStore(tmp_path / "store")
    made = HandmadeBackups(plain, job="orders")
    manifest = made.backup([entry("orders", 0, [made.segment("orders", 0, 0, 3)])])
    keyed = EncryptedStore(plain, Keyring("k1", {"k1": K1}))
    put_encrypted(keyed, manifest.metadata_key, b'{"format": 1, "topics": {}}')
    return str(manifest.backup_id)


def check(config: Settings) -> PreflightCheck:
    store = config.storage["local"]
    return keys_check("orders", store, name="backup job orders keys", subject="orders")


def test_the_right_key_opens_the_latest_backup(tmp_path: Path) -> None:
    backup_id = sealed_backup(tmp_path)

    found = check(settings(tmp_path, {"k1": K1}))

    assert found.status == "ok"
    assert found.detail == f"the metadata of the latest backup, {backup_id}, opens with key 'k1'"


def test_a_dropped_key_id_fails_naming_it(tmp_path: Path) -> None:
    sealed_backup(tmp_path)

    found = check(settings(tmp_path, {"k2": os.urandom(32)}))

    assert found.status == "fail"
    assert "is encrypted with key 'k1', which storage.local.encryption.keys" in found.detail
    assert found.hint is not None and "storage.local.encryption.keys" in found.hint


def test_a_wrong_key_file_fails_authentication(tmp_path: Path) -> None:
    sealed_backup(tmp_path)

    found = check(settings(tmp_path, {"k1": os.urandom(32)}))

    assert found.status == "fail"
    assert "failed authentication with key 'k1'" in found.detail


def test_a_config_that_lost_its_encryption_section_fails(tmp_path: Path) -> None:
    sealed_backup(tmp_path)

    found = check(settings(tmp_path, None))

    assert found.status == "fail"
    assert "is encrypted with key 'k1'" in found.detail and "no encryption keys" in found.detail


def test_a_plain_backup_or_none_passes(tmp_path: Path) -> None:
    assert check(settings(tmp_path, None)).detail == "no backup yet"
    made = HandmadeBackups(LocalStore(tmp_path / "store"), job="orders")
    made.backup([entry("orders", 0, [made.segment("orders", 0, 0, 3)])])

    found = check(settings(tmp_path, {"k1": K1}))

    assert found.status == "ok" and found.detail.endswith("is not encrypted")


def test_a_plain_backup_refused_by_the_settings_fails_with_the_setting_to_change(
    tmp_path: Path,
) -> None:
    made = HandmadeBackups(LocalStore(tmp_path / "store"), job="orders")
    made.backup([entry("orders", 0, [made.segment("orders", 0, 0, 3)])])
    config = settings(tmp_path, {"k1": K1})
    strict = config.storage["local"].model_copy(
        update={"encryption": config.storage["local"].encryption.model_copy(  # type: ignore[union-attr]
            update={"allow_unencrypted_reads": False})}
    )  # fmt: skip

    found = keys_check("orders", strict, name="keys", subject="orders")

    assert found.status == "fail" and "allow_unencrypted_reads is false" in found.detail
    assert found.hint is not None and "allow_unencrypted_reads to true" in found.hint
