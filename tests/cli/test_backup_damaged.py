"""`backup verify` and `backup list` where a manifest is damaged: the manifest named, nothing
counted (the figures are unknown, never 0); verify exits 1. And where a segment is damaged:
its records are counted apart, never as verified."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parents[1] / "backup"))  # the handmade backups

from handmade import JOB, HandmadeBackups, entry

from dr.backup.catalog import manifest_key
from dr.cli import cli
from dr.config.load import ENV_VAR
from dr.storage import LocalStore


@pytest.fixture(autouse=True)
def _no_config_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)


def damaged_store(tmp_path: Path) -> tuple[Path, str]:
    made = HandmadeBackups(LocalStore(tmp_path / "store"))
    backup = made.backup([entry("orders", 0, [made.segment("orders", 0, 0, 10)])])
    key = manifest_key(JOB, backup.backup_id)
    made.store.put_bytes(key, b'{"format": 2, "partitions": []}')  # JSON of the wrong shape
    return config_of(tmp_path), backup.backup_id


def config_of(tmp_path: Path) -> Path:
    """A config whose job's store is tmp_path/store."""
    config = tmp_path / "kafka-dr.yaml"
    config.write_text(
        json.dumps(
            {
                "clusters": {"primary": {"bootstrap_servers": "kafka-1.prod:9092"}},
                "storage": {"local": {"url": (tmp_path / "store").as_uri()}},
                "state": str(tmp_path / "state.db"),
                "backups": {JOB: {"cluster": "primary", "storage": "local", "topics": ["orders"]}},
            }
        )
    )
    return config


def test_verify_json_of_a_damaged_manifest_counts_nothing_and_names_it(tmp_path: Path) -> None:
    config, backup_id = damaged_store(tmp_path)

    result = CliRunner().invoke(
        cli, ["--config", str(config), "backup", "verify", backup_id, "--json"]
    )

    assert result.exit_code == 1, result.output
    out = json.loads(result.stdout)
    assert (out["status"], out["segments"], out["records"]) == ("FAILED", None, None)
    assert [p["object"] for p in out["problems"]] == [manifest_key(JOB, backup_id)]
    assert "is malformed" in out["problems"][0]["message"]


def test_verify_of_a_damaged_manifest_says_it_cannot_be_read_not_0_records(tmp_path: Path) -> None:
    config, backup_id = damaged_store(tmp_path)

    result = CliRunner().invoke(cli, ["--config", str(config), "backup", "verify", backup_id])

    assert result.exit_code == 1
    assert f"backup {backup_id}: FAILED (1 problems); its manifest cannot be read" in result.stdout
    assert "0 records" not in result.stdout


def store_with_a_damaged_segment(tmp_path: Path) -> tuple[Path, str]:
    made = HandmadeBackups(LocalStore(tmp_path / "store"))
    good = made.segment("orders", 0, 0, 10)
    refused = made.segment("orders", 0, 10, 14, offsets=[10, 11, 99])  # 99: out of its range
    backup = made.backup([entry("orders", 0, [good, refused])])
    return config_of(tmp_path), backup.backup_id


def test_verify_deep_counts_a_refused_segments_records_apart_not_as_decoded(
    tmp_path: Path,
) -> None:
    config, backup_id = store_with_a_damaged_segment(tmp_path)
    args = ["--config", str(config), "backup", "verify", backup_id, "--deep"]

    text = CliRunner().invoke(cli, args)
    as_json = CliRunner().invoke(cli, [*args, "--json"])

    assert text.exit_code == 1, text.output
    assert (
        f"backup {backup_id}: FAILED (1 problems); 2 segments, 10 records decoded; "
        "3 records in 1 damaged segments not verified"
    ) in text.stdout
    out = json.loads(as_json.stdout)
    assert (out["segments"], out["records"]) == (2, 10)
    assert (out["segments_unverified"], out["records_unverified"]) == (1, 3)


def test_list_names_a_damaged_manifest_beside_the_backups_it_can_read(tmp_path: Path) -> None:
    config, backup_id = damaged_store(tmp_path)

    result = CliRunner().invoke(cli, ["--config", str(config), "backup", "list", "--json"])
    text = CliRunner().invoke(cli, ["--config", str(config), "backup", "list"])

    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["backups"] == []
    assert [(p["sequence"], p["object"]) for p in out["problems"]] == [
        (1, manifest_key(JOB, backup_id))
    ]
    assert f"UNREADABLE backup number 1: {manifest_key(JOB, backup_id)}: " in text.stderr
