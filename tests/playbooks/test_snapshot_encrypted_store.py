"""A log-dir snapshot is not taken into a store with client-side encryption: its archives
(every record of the nodes' log dirs) are not sealed, and would sit in the clear beside the
encrypted backups."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from broker_fakes import FakeCluster

from dr.config.load import parse_config
from dr.errors import UsageError
from dr.playbooks.snapshot_run import snapshot_params


def test_a_snapshot_into_an_encrypted_store_is_refused_before_touching_the_cluster(
    tmp_path: Path,
) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    doc = {
        "clusters": {"primary": {"bootstrap_servers": "kafka-1:9092"}},
        "storage": {
            "sealed": {
                "url": (tmp_path / "sealed").as_uri(),
                "encryption": {"current": "k1", "keys": {"k1": key}},
            },
            "plain": {"url": (tmp_path / "plain").as_uri()},
        },
        "snapshots": {"primary": {"storage": "sealed"}},
        "state": str(tmp_path / "kafka-dr.db"),
    }
    settings = parse_config(json.dumps(doc), source="kafka-dr.yaml", base_dir=tmp_path)
    fake = FakeCluster(leader=1)

    with pytest.raises(UsageError) as caught:
        snapshot_params(settings, "primary", probe=fake)

    assert caught.value.message.startswith("storage.sealed encrypts backups, but log-dir")
    assert "--storage" in caught.value.message
    assert fake.events == []
    assert snapshot_params(settings, "primary", storage="plain", probe=fake)["storage"] == "plain"
