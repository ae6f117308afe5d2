"""storage.NAME.encryption: keys read from files, checked at load, named but never shown."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from dr.config import parse_config
from dr.errors import ConfigError
from dr.log import redact_text
from dr.storage import EncryptedStore, LocalStore, open_store

CONFIG = """\
clusters:
  primary:
    bootstrap_servers: kafka-1.prod:9092
storage:
  lab:
    url: file://{root}
    encryption:
      current: k2
      keys:
        k1: ${{file:k1.key}}
        k2: ${{file:k2.key}}
"""


def write_keys(tmp_path: Path, k1: bytes, k2: bytes) -> None:
    for name, key in (("k1", k1), ("k2", k2)):
        (tmp_path / f"{name}.key").write_bytes(key)
        (tmp_path / f"{name}.key").chmod(0o600)


def problems(tmp_path: Path, text: str = CONFIG) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text.format(root=tmp_path), source="kafka-dr.yaml", base_dir=tmp_path)
    return caught.value.problems


def test_keys_from_files_open_an_encrypted_store(tmp_path: Path) -> None:
    k1, k2 = os.urandom(32), os.urandom(32)
    write_keys(tmp_path, base64.b64encode(k1) + b"\n", base64.b64encode(k2))

    settings = parse_config(
        CONFIG.format(root=tmp_path / "store"), source="kafka-dr.yaml", base_dir=tmp_path
    )
    store = open_store(settings.storage["lab"])

    encryption = settings.storage["lab"].encryption
    assert encryption is not None
    assert isinstance(encryption.keys["k1"], SecretStr)
    assert isinstance(store, EncryptedStore)
    assert store.keyring.current == "k2"
    assert dict(store.keyring.keys) == {"k1": k1, "k2": k2}
    assert store.keyring.where == "storage.lab.encryption.keys"
    assert k1.hex() not in repr(settings) and base64.b64encode(k1).decode() not in repr(settings)


def test_a_store_without_encryption_opens_plain(tmp_path: Path) -> None:
    text = CONFIG.split("    encryption:")[0]
    settings = parse_config(text.format(root=tmp_path), source="x", base_dir=tmp_path)

    assert isinstance(open_store(settings.storage["lab"]), LocalStore)


def test_a_key_that_is_not_base64_is_named_by_its_path_without_its_value(tmp_path: Path) -> None:
    write_keys(tmp_path, b"not-base64-at-all!!", base64.b64encode(os.urandom(32)))

    found = problems(tmp_path)

    assert len(found) == 1
    assert found[0].startswith("at 'storage.lab.encryption.keys.k1': is not base64")
    assert "not-base64-at-all" not in found[0]


def test_a_key_of_the_wrong_length_is_named_by_its_path_without_its_value(tmp_path: Path) -> None:
    short = base64.b64encode(b"sixteen byte key")
    write_keys(tmp_path, base64.b64encode(os.urandom(32)), short)

    found = problems(tmp_path)

    assert found == [
        "at 'storage.lab.encryption.keys.k2': is 16 bytes, not a 256-bit key: give 32 random "
        "bytes in base64 (head -c 32 /dev/urandom | base64)"
    ]
    assert short.decode() not in found[0]


def test_a_current_key_that_is_not_listed_is_refused(tmp_path: Path) -> None:
    write_keys(tmp_path, base64.b64encode(os.urandom(32)), base64.b64encode(os.urandom(32)))

    found = problems(tmp_path, CONFIG.replace("current: k2", "current: k3"))

    assert found == ["at 'storage.lab.encryption': current key 'k3' is not one of keys"]


def test_a_missing_key_file_is_named_by_its_path(tmp_path: Path) -> None:
    (tmp_path / "k2.key").write_bytes(base64.b64encode(os.urandom(32)))

    found = problems(tmp_path)

    assert any(p.startswith("at 'storage.lab.encryption.keys.k1': cannot read") for p in found)


def test_a_key_written_inline_is_masked_like_a_referenced_one(tmp_path: Path) -> None:
    inline = base64.b64encode(os.urandom(32)).decode()
    text = f"""\
clusters:
  primary:
    bootstrap_servers: kafka-1.prod:9092
storage:
  lab:
    url: file://{tmp_path}
    encryption:
      current: k1
      keys:
        k1: "{inline}  "
"""
    parse_config(text, source="kafka-dr.yaml", base_dir=tmp_path)

    assert redact_text(f"error: key {inline} refused") == "error: key *** refused"
