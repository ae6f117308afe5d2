"""`snapshot run` over a cluster written by hand: one node down at a time, the active
controller last, a manifest only once every node is archived, a resume continuing with the
node where a run stopped; a single-node cluster is refused without --offline-ok."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from broker_fakes import FakeCluster, FakeHost, server_properties

from dr.config.load import parse_config
from dr.config.schema import Settings
from dr.errors import UsageError
from dr.playbooks import run_playbook
from dr.playbooks.snapshot_run import snapshot_params, snapshot_playbook
from dr.snapshots.catalog import list_snapshots, read_manifest
from dr.snapshots.manifest import EndOffsets
from dr.steps import Playbook
from dr.storage import LocalStore


class SnapshotFake(FakeCluster):
    def end_offsets(self) -> EndOffsets:
        return {"orders": {str(p): 100 + p for _, p in self.replicas}}


def settings_with_store(tmp_path: Path, nodes: tuple[int, ...] = (1, 2, 3)) -> Settings:
    doc = {
        "clusters": {"primary": {"bootstrap_servers": "kafka-1:9092",
                                 "brokers": [{"id": n, "host": f"kafka-{n}"} for n in nodes]}},
        "storage": {"local": {"url": (tmp_path / "store").as_uri()}},
        "state": str(tmp_path / "kafka-dr.db"),
    }  # fmt: skip
    return parse_config(json.dumps(doc), source="kafka-dr.yaml", base_dir=tmp_path)


def book(
    tmp_path: Path, fake: SnapshotFake, **options: object
) -> tuple[Settings, Playbook, LocalStore]:
    settings = settings_with_store(tmp_path, tuple(fake.nodes))
    hosts = {n: FakeHost(fake, n, {f"/etc/kafka-{n}/server.properties": server_properties(n)})
             for n in fake.nodes}  # fmt: skip
    params = snapshot_params(settings, "primary", probe=fake, ready_timeout_s=2,
                             settle_timeout_s=1, **options)  # type: ignore[arg-type]  # fmt: skip
    store = LocalStore(tmp_path / "store")
    playbook = snapshot_playbook(settings, params, probe=fake, access=hosts.__getitem__,
                                 store=store)  # fmt: skip
    return settings, playbook, store


def test_every_node_is_archived_one_at_a_time_the_active_controller_last(tmp_path: Path) -> None:
    fake = SnapshotFake(leader=2)
    settings, playbook, store = book(tmp_path, fake)

    result = run_playbook(settings, playbook)

    assert result.status == "completed", result.error
    assert fake.events == ["stop 1", "start 1", "stop 3", "start 3", "stop 2", "start 2"]
    assert fake.max_down == 1
    manifest = read_manifest(store, "primary", playbook.params["snapshot_id"])
    assert [n.node_id for n in manifest.nodes] == [1, 3, 2]
    assert manifest.end_offsets == {"orders": {"0": 100, "1": 101, "2": 102}}
    assert manifest.node(1).end_offsets == {"orders": {"0": 100, "1": 101, "2": 102}}
    assert all(store.stat(n.key) is not None for n in manifest.nodes)


def test_a_node_that_does_not_come_back_stops_the_run_without_a_manifest_and_resume_goes_on(
    tmp_path: Path,
) -> None:
    fake = SnapshotFake(leader=3)
    fake.comes_back[2] = False
    settings, playbook, store = book(tmp_path, fake)

    failed = run_playbook(settings, playbook)

    assert failed.status == "failed" and failed.error is not None
    assert failed.error.startswith("step await_2: node 2 of 'primary' did not come back")
    assert [e.complete for e in list_snapshots(store, "primary")] == [False]
    assert "stop 3" not in fake.events  # never a second node down

    fake.comes_back[2] = True
    fake.start(2)
    resumed = run_playbook(settings, playbook, run_id=failed.run_id)

    assert resumed.status == "completed", resumed.error
    assert fake.events.count("stop 1") == 1 and fake.events.count("stop 2") == 1
    assert [e.complete for e in list_snapshots(store, "primary")] == [True]


def test_a_single_node_cluster_is_refused_without_offline_ok(tmp_path: Path) -> None:
    fake = SnapshotFake(nodes=(1,), leader=1, min_isr=1)
    with pytest.raises(UsageError, match="--offline-ok"):
        book(tmp_path, fake)

    settings, playbook, _ = book(tmp_path, fake, offline_ok=True)
    assert run_playbook(settings, playbook).status == "completed"
