"""Encryption turned on for a job that already holds plain backups: the next run is an
incremental over a plain parent, and a restore across that boundary is byte-exact; a host
without the keys may verify but not back up; refusing plain reads names the object."""

from __future__ import annotations

import base64
import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from integration.backup_dataset import PARTITIONS, Dataset, make_dataset, produce_plain
from integration.backup_dataset import read_partition as read
from integration.conftest import RunningLab
from integration.test_backup_encrypted import cli

TOPIC = "encon.orders"


def write(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def turned_on(lab: RunningLab, tmp_path_factory: pytest.TempPathFactory) -> tuple[Dataset, Path]:
    """Two backups of one job: the first plain, the second (its child) encrypted with k1."""
    tmp = tmp_path_factory.mktemp("encryption-on")
    ds = make_dataset(lab.bootstrap("primary"), TOPIC)
    plain = yaml.safe_load(lab.config.read_text())
    plain["state"] = str(tmp / "state.db")
    plain["storage"] = {"local": {"url": (tmp / "store").as_uri()}}
    plain["backups"] = {
        "orders": {"cluster": "primary", "topics": [r"encon\.orders"], "storage": "local"}
    }
    key = tmp / "k1.key"
    key.write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
    key.chmod(0o600)
    keyed = copy.deepcopy(plain)
    keyed["storage"]["local"]["encryption"] = {"current": "k1", "keys": {"k1": f"${{file:{key}}}"}}
    strict = copy.deepcopy(keyed)
    strict["storage"]["local"]["encryption"]["allow_unencrypted_reads"] = False
    for name, config in (("plain", plain), ("keyed", keyed), ("strict", strict)):
        write(tmp / f"{name}.yaml", config)

    code, out = cli(tmp / "plain.yaml", "backup", "run", "orders", "--json")
    assert code == 0, out
    produce_plain(lab.bootstrap("primary"), ds, 60)
    code, out = cli(tmp / "keyed.yaml", "backup", "run", "orders", "--json")
    assert code == 0, out
    return ds, tmp


def test_the_encrypted_child_of_a_plain_backup_verifies_with_and_without_keys(
    turned_on: tuple[Dataset, Path],
) -> None:
    ds, tmp = turned_on
    segments = sorted((tmp / "store" / "orders" / "data").rglob("*.seg"))
    sealed = [p.read_bytes().startswith(b"KDRENC") for p in segments]

    assert any(sealed) and not all(sealed)  # the first run's segments stay plain
    code, out = cli(tmp / "plain.yaml", "backup", "verify", "latest", "--json")
    assert code == 0, out
    code, out = cli(tmp / "keyed.yaml", "backup", "verify", "latest", "--deep", "--json")
    assert code == 0, out
    assert out["records"] == len(ds.all_committed())


def test_a_restore_across_the_boundary_is_byte_exact(
    lab: RunningLab, turned_on: tuple[Dataset, Path]
) -> None:
    ds, tmp = turned_on
    renamed = f"{TOPIC}=encon.restored"

    code, out = cli(
        tmp / "keyed.yaml", "restore", "latest", "--to", "dr", "--rename", renamed, "--yes",
        "--json",
    )  # fmt: skip

    assert code == 0, out
    for p in range(PARTITIONS):
        restored = [rec for _, rec in read(lab.bootstrap("dr"), "encon.restored", p)]
        assert restored == ds.committed.get(p, []), f"partition {p} differs"


def test_a_host_without_the_keys_may_not_back_up_into_the_encrypted_job(
    turned_on: tuple[Dataset, Path],
) -> None:
    _, tmp = turned_on

    code, text = cli(tmp / "plain.yaml", "backup", "run", "orders")

    assert code == 2, text
    assert "Traceback" not in text
    assert "is encrypted, and storage.local has no encryption keys" in text


def test_refusing_plain_reads_names_the_plain_object_in_one_line(
    turned_on: tuple[Dataset, Path],
) -> None:
    _, tmp = turned_on

    code, text = cli(
        tmp / "strict.yaml", "restore", "latest", "--to", "dr", "--rename",
        f"{TOPIC}=encon.strict", "--yes",
    )  # fmt: skip

    assert code == 2, text
    errors = [line for line in text.splitlines() if line.startswith("error")]
    assert len(errors) == 1, text
    assert (
        "is not encrypted, and storage.local.encryption.allow_unencrypted_reads is false"
        in (errors[0])
    )
