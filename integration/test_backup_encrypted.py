"""Encrypted backups on the real lab: byte-exact restore across a key rotation, verify without
the key, flipped and swapped ciphertext, wrong and missing keys."""

from __future__ import annotations

import base64
import copy
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from dr.config.storage import EncryptionSettings
from dr.storage import EncryptionError, open_store, put_encrypted
from integration.backup_dataset import PARTITIONS, Dataset, make_dataset, produce_plain
from integration.backup_dataset import read_partition as read
from integration.conftest import RunningLab, run_cli
from integration.s3server import S3Server

TOPIC = "enc.orders"


@dataclass
class Encrypted:
    ds: Dataset
    tmp: Path
    store: Path
    config: dict[str, Any]  # the rotated config: current k2, k1 still listed
    keyed: Path
    keyless: Path  # the same store without the encryption section

    def write(self, name: str, config: dict[str, Any]) -> Path:
        path = self.tmp / name
        path.write_text(yaml.safe_dump(config))
        return path

    def segments(self) -> list[Path]:
        return sorted((self.store / "orders" / "data").rglob("*.seg"))


def cli(config: Path, *args: str) -> tuple[int, Any]:
    proc = run_cli("--config", str(config), *args, timeout=600)
    try:
        return proc.returncode, json.loads(proc.stdout)
    except json.JSONDecodeError:
        return proc.returncode, proc.stdout + proc.stderr


def key_file(tmp: Path, name: str) -> str:
    path = tmp / f"{name}.key"
    path.write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
    path.chmod(0o600)
    return f"${{file:{path}}}"


@contextmanager
def altered(path: Path, data: bytes) -> Iterator[None]:
    original = path.read_bytes()
    path.write_bytes(data)
    try:
        yield
    finally:
        path.write_bytes(original)


@pytest.fixture(scope="module")
def encrypted(lab: RunningLab, tmp_path_factory: pytest.TempPathFactory) -> Encrypted:
    tmp = tmp_path_factory.mktemp("encrypted")
    primary = lab.bootstrap("primary")
    ds = make_dataset(primary, TOPIC)
    store = tmp / "store"
    base = yaml.safe_load(lab.config.read_text())
    base["state"] = str(tmp / "state.db")
    base["backups"] = {
        "orders": {
            "cluster": "primary",
            "topics": [r"enc\.orders"],
            "storage": "local",
            "segment_max_records": 200,
            "compression": "none",  # so that a record stored in the clear would show
        }
    }
    keyless = copy.deepcopy(base)
    keyless["storage"] = {"local": {"url": store.as_uri()}}
    first = copy.deepcopy(keyless)
    first["storage"]["local"]["encryption"] = {"current": "k1", "keys": {"k1": key_file(tmp, "k1")}}
    rotated = copy.deepcopy(first)
    rotated["storage"]["local"]["encryption"] = {
        "current": "k2",
        "keys": {"k1": first["storage"]["local"]["encryption"]["keys"]["k1"]}
        | {"k2": key_file(tmp, "k2")},
    }
    made = Encrypted(ds, tmp, store, rotated, tmp / "keyed.yaml", tmp / "keyless.yaml")
    made.write("keyed.yaml", rotated)
    made.write("keyless.yaml", keyless)

    code, out = cli(made.write("first.yaml", first), "backup", "run", "orders", "--json")
    assert code == 0, out
    produce_plain(primary, ds, 90)
    code, out = cli(made.keyed, "backup", "run", "orders", "--json")  # after the rotation
    assert code == 0, out
    return made


def envelope_key_id(path: Path) -> str:
    data = path.read_bytes()
    assert data[:6] == b"KDRENC", f"{path} is not encrypted"
    return data[9 : 9 + data[8]].decode()


def test_every_segment_and_metadata_object_is_encrypted_with_the_key_current_when_written(
    encrypted: Encrypted,
) -> None:
    ids = [envelope_key_id(p) for p in encrypted.segments()]
    metadata = sorted((encrypted.store / "orders" / "metadata").glob("*.json"))

    assert set(ids) == {"k1", "k2"}  # the first run's segments kept k1, the second wrote k2
    assert [envelope_key_id(p) for p in metadata] == ["k1", "k2"]
    assert not any(b"value-" in p.read_bytes() for p in encrypted.segments())
    assert not any(b"enc.orders" in p.read_bytes() for p in metadata)


def test_an_encrypted_backup_verifies_without_the_key_and_deeply_with_it(
    encrypted: Encrypted,
) -> None:
    code, out = cli(encrypted.keyless, "backup", "verify", "latest", "--json")
    assert code == 0, out
    code, out = cli(encrypted.keyed, "backup", "verify", "latest", "--deep", "--json")
    assert code == 0, out
    assert out["records"] == len(encrypted.ds.all_committed())


def test_an_encrypted_backup_restores_byte_exact_across_the_rotation(
    lab: RunningLab, encrypted: Encrypted
) -> None:
    code, out = cli(
        encrypted.keyed,
        "restore",
        "latest",
        "--to",
        "dr",
        "--rename",
        f"{TOPIC}=enc.restored",
        "--yes",
        "--json",
    )
    assert code == 0, out
    for p in range(PARTITIONS):
        restored = [rec for _, rec in read(lab.bootstrap("dr"), "enc.restored", p)]
        assert restored == encrypted.ds.committed[p], f"partition {p} differs"


def test_verify_without_the_key_finds_a_flipped_ciphertext_byte(encrypted: Encrypted) -> None:
    segment = encrypted.segments()[1]
    data = bytearray(segment.read_bytes())
    data[len(data) // 2] ^= 0x01

    with altered(segment, bytes(data)):
        code, out = cli(encrypted.keyless, "backup", "verify", "latest", "--json")

    assert code == 1, out
    assert [(p["object"].split("/")[-1], p["message"]) for p in out["problems"]] == [
        (segment.name, "checksum mismatch (the object was altered)")
    ]


def test_two_swapped_segments_are_found_by_verify_and_stop_a_restore(
    encrypted: Encrypted,
) -> None:
    a, b = encrypted.segments()[:2]
    a_bytes, b_bytes = a.read_bytes(), b.read_bytes()

    with altered(a, b_bytes), altered(b, a_bytes):
        code, out = cli(encrypted.keyless, "backup", "verify", "latest", "--json")
        assert code == 1, out
        assert sorted(p["object"].split("/")[-1] for p in out["problems"]) == sorted(
            [a.name, b.name]
        )
        code, text = cli(
            encrypted.keyed, "restore", "latest", "--to", "dr", "--rename",
            f"{TOPIC}=enc.swapped", "--yes",
        )  # fmt: skip
    assert code != 0, text
    assert "Traceback" not in text
    assert a.name in text or b.name in text


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("error")]


def test_a_restore_with_the_wrong_key_fails_with_one_line_naming_the_key(
    encrypted: Encrypted,
) -> None:
    wrong = copy.deepcopy(encrypted.config)
    keys = wrong["storage"]["local"]["encryption"]["keys"]
    keys["k1"], keys["k2"] = key_file(encrypted.tmp, "w1"), key_file(encrypted.tmp, "w2")

    code, text = cli(
        encrypted.write("wrong.yaml", wrong), "restore", "latest", "--to", "dr", "--rename",
        f"{TOPIC}=enc.wrong", "--yes",
    )  # fmt: skip

    assert code == 2, text
    assert "Traceback" not in text
    [line] = error_lines(text)
    assert "failed authentication with key 'k" in line and "wrong key" in line, text


def test_a_restore_missing_the_old_key_names_the_key_and_where_to_list_it(
    encrypted: Encrypted,
) -> None:
    dropped = copy.deepcopy(encrypted.config)
    del dropped["storage"]["local"]["encryption"]["keys"]["k1"]

    code, text = cli(
        encrypted.write("dropped.yaml", dropped), "restore", "latest", "--to", "dr", "--rename",
        f"{TOPIC}=enc.dropped", "--yes",
    )  # fmt: skip

    assert code == 2, text
    assert "Traceback" not in text
    [line] = error_lines(text)
    assert "is encrypted with key 'k1', which storage.local.encryption.keys does not list" in line


def test_an_encrypted_s3_store_seals_segments_and_refuses_one_copied_under_another_key(
    s3_server: S3Server, s3_prefix: str
) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    settings = s3_server.settings(
        s3_prefix, encryption=EncryptionSettings(current="k1", keys={"k1": SecretStr(key)})
    )
    store = open_store(settings)
    a = "s3job/data/s3.orders/vTXbZr5tQdu8x8Lq8VdPbw/0/00000000000000000000.seg"
    b = "s3job/data/s3.orders/vTXbZr5tQdu8x8Lq8VdPbw/0/00000000000000001000.seg"

    stored = put_encrypted(store, a, b"KDRSEG the records of offsets 0 to 999")
    raw = s3_server.client.get_object(Bucket=s3_server.bucket, Key=f"{s3_prefix}/{a}")
    s3_server.client.copy_object(
        Bucket=s3_server.bucket,
        CopySource={"Bucket": s3_server.bucket, "Key": f"{s3_prefix}/{a}"},
        Key=f"{s3_prefix}/{b}",
    )

    assert raw["Body"].read() == stored
    assert stored.startswith(b"KDRENC") and b"records of offsets" not in stored
    assert store.get_bytes(a) == b"KDRSEG the records of offsets 0 to 999"
    with pytest.raises(EncryptionError, match=f"object '{b}' failed authentication with key 'k1'"):
        store.get_bytes(b)
