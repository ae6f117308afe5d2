"""A job's sequence objects deleted out of band, on the real lab: `backup run` refuses in one
line instead of starting a new chain beside the backups (which prune would then delete), and
`backup list` and `backup prune` name the backups that lost their commits and delete nothing."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from dr.lab.traffic import create_topic
from integration.conftest import RunningLab
from integration.test_backup_integrity import backup_ok, cli, config_for, produce

pytestmark = pytest.mark.timeout(600)

TOPIC = f"lost{uuid.uuid4().hex[:6]}"


def backup_objects(store: Path) -> list[Path]:
    """The job's data, metadata and manifests (not its lease, which each holder renews)."""
    return sorted(p for p in store.rglob("*") if p.is_file() and "locks" not in p.parts)


def test_a_run_refuses_to_start_a_new_chain_beside_backups_that_lost_their_sequence(
    lab: RunningLab, tmp_path: Path
) -> None:
    primary = lab.bootstrap("primary")
    create_topic(primary, TOPIC, partitions=1, replication=3)
    produce(primary, TOPIC, 20)
    config = config_for(lab, tmp_path, [TOPIC], retention={"keep_last": 1})
    first = backup_ok(config)
    produce(primary, TOPIC, 10)
    second = backup_ok(config)
    shutil.rmtree(tmp_path / "store" / "job" / "sequence")
    stored = backup_objects(tmp_path / "store")

    code, out = cli(config, "backup", "run", "job")

    assert code != 0
    assert isinstance(out, str) and len(out.strip().splitlines()) == 1, out
    assert "lost their sequence entries" in out and "Traceback" not in out
    _, listing = cli(config, "backup", "list", "--json")
    assert listing["backups"] == []
    assert [p["object"].rsplit("/", 1)[1] for p in listing["problems"]] == [
        f"{first['backup_id']}.json",
        f"{second['backup_id']}.json",
    ]
    code, _ = cli(config, "backup", "prune", "job", "--yes")
    assert code == 0
    kept = backup_objects(tmp_path / "store")
    assert [p for p in stored if p not in kept] == []  # prune deleted none of them
