"""A failback's divergence archive in a store with encryption keys is sealed like a backup:
its segments and its metadata snapshot (topic configs, group offsets, ACLs) never in the
clear, and it verifies deeply and reads back with the keys."""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path

import yaml

from dr.backup.lookup import find_backup, load_metadata
from dr.backup.verify import verify_backup
from dr.config import load_config
from dr.lab.traffic import create_topic, produce_records
from dr.playbooks.divergence import DivergedPartition
from dr.playbooks.divergence_archive import archive_divergence, archive_job
from dr.storage import open_store
from integration.conftest import RunningLab

RECORDS = 30


def encrypted_config(lab: RunningLab, tmp: Path) -> Path:
    key = tmp / "k1.key"
    key.write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
    key.chmod(0o600)
    config = yaml.safe_load(lab.config.read_text())
    config["state"] = str(tmp / "state.db")
    config["storage"] = {
        "sealed": {
            "url": (tmp / "store").as_uri(),
            "encryption": {"current": "k1", "keys": {"k1": f"${{file:{key}}}"}},
        }
    }
    config.pop("backups", None)
    config.pop("drills", None)
    path = tmp / "sealed.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_divergence_archive_in_an_encrypted_store_is_sealed_and_verifies_deeply(
    lab: RunningLab, tmp_path: Path
) -> None:
    topic = f"div.sealed.{uuid.uuid4().hex[:6]}"
    primary = lab.bootstrap("primary")
    create_topic(primary, topic, partitions=1, replication=3)
    produce_records(primary, topic, RECORDS)
    settings = load_config(encrypted_config(lab, tmp_path)).settings
    diverged = DivergedPartition(
        topic=topic,
        partition=0,
        replica_topic=f"primary.{topic}",
        start_offset=0,
        end_offset=RECORDS,
        records=RECORDS,
        first_timestamp=None,
        last_timestamp=None,
        found_by="no replica",
    )
    run_id = f"failback-sealed-{uuid.uuid4().hex[:6]}"

    archive = archive_divergence(settings, "sealed", run_id, "primary", [diverged])

    assert archive.records == RECORDS
    store, manifest = find_backup(settings, archive.backup_id, archive_job(run_id))
    root = tmp_path / "store"
    assert (root / manifest.metadata_key).read_bytes().startswith(b"KDRENC")
    segments = [root / s.key for p in manifest.partitions for s in p.segments]
    assert segments and all(p.read_bytes().startswith(b"KDRENC") for p in segments)
    assert verify_backup(store, manifest, deep=True).problems == ()
    assert topic in load_metadata(store, manifest)["topics"]
    keyless = open_store(settings.storage["sealed"].model_copy(update={"encryption": None}))
    assert verify_backup(keyless, manifest, deep=False).problems == ()
