"""MirrorMaker 2 on the lab: RPO while it is stopped, offset translation, apply, drift, decoders.

The session lab runs a dedicated MirrorMaker 2 replicating everything primary->dr.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
)

from dr.config import load_config
from dr.config.schema import ClusterSettings
from dr.kafka.reader import read_range
from dr.lab.traffic import create_topic, produce_records, wait_for_records
from dr.mirror.records import decode_checkpoint, decode_heartbeat, decode_offset_sync
from integration.conftest import RunningLab, delete_connectors, run_cli, wait_until

pytestmark = pytest.mark.timeout(600)
OFFSET_LAG_MAX = 100  # MirrorMaker's default offset.lag.max


def topic_rpo(lab: RunningLab, topic: str) -> tuple[float, int, float]:
    proc = lab.cli("rpo", "status", "--json")
    measured_at = time.time()
    flow = json.loads(proc.stdout)["flows"]["primary->dr"]
    parts = [p for p in flow["partitions"] if p["topic"] == topic]
    return max(p["rpo_seconds"] for p in parts), sum(p["lag_messages"] for p in parts), measured_at


def produce_one(bootstrap: str, topic: str) -> int:
    """Produce a record; returns its timestamp (ms) as the broker stored it."""
    stamps: list[int] = []
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    producer.produce(topic, b"x", on_delivery=lambda err, msg: stamps.append(msg.timestamp()[1]))
    producer.flush(30)
    return stamps[0]


def test_rpo_grows_with_wall_time_while_mirrormaker_is_stopped(lab: RunningLab) -> None:
    topic = f"rpo.{uuid.uuid4().hex[:6]}"
    primary = lab.bootstrap("primary")
    create_topic(primary, topic, partitions=1, replication=3)
    produce_records(primary, topic, 10)
    wait_for_records(lab.bootstrap("dr"), f"primary.{topic}", 10)
    assert topic_rpo(lab, topic)[:2] == (0.0, 0)

    lab.lab_cli("mirror", "stop")
    try:
        first_unreplicated = produce_one(primary, topic)
        time.sleep(3)
        rpo1, lag1, at1 = topic_rpo(lab, topic)
        assert abs(rpo1 - (at1 - first_unreplicated / 1000)) < 2.0
        produce_records(primary, topic, 20)
        time.sleep(3)
        rpo2, lag2, at2 = topic_rpo(lab, topic)
        assert abs(rpo2 - (at2 - first_unreplicated / 1000)) < 2.0
        assert rpo2 > rpo1 + 2 and lag2 == lag1 + 20 == 21
    finally:
        lab.lab_cli("mirror", "start")

    def caught_up() -> bool:
        rpo, lag, _ = topic_rpo(lab, topic)
        return lag == 0 and rpo < load_config(lab.config).settings.objectives.rpo_seconds

    wait_until(caught_up, timeout_s=180, what="RPO to fall back once MirrorMaker restarted")


def test_translated_offsets_skip_no_record_the_group_had_not_read(lab: RunningLab) -> None:
    topic, group = f"translate.{uuid.uuid4().hex[:6]}", f"g-{uuid.uuid4().hex[:6]}"
    primary, dr = lab.bootstrap("primary"), lab.bootstrap("dr")
    create_topic(primary, topic, partitions=2, replication=3)
    produce_records(primary, topic, 1000)
    wait_for_records(dr, f"primary.{topic}", 1000, timeout_s=120)
    committed = consume_and_commit(primary, topic, group, 600)

    def translated() -> dict[str, Any] | None:
        proc = lab.cli(
            "offsets", "translate", "--group", group, "--from", "primary", "--to", "dr", "--json"
        )
        result = json.loads(proc.stdout)
        ups = {p["partition"]: p["upstream_offset"] for p in result["partitions"]}
        return result if ups == committed else None

    result = wait_until(translated, timeout_s=120, what="checkpoints of the committed offsets")
    for part in result["partitions"]:
        p = part["partition"]
        assert part["topic"] == f"primary.{topic}"
        unread = values(primary, topic, p, committed[p])
        on_dr = values(dr, f"primary.{topic}", p, part["offset"])
        assert set(unread) <= set(on_dr), "the translated offset skips records"
        # MirrorMaker syncs offsets every offset.lag.max records and translates one step past
        # the last sync: a consumer re-reads at most offset.lag.max + 1 records.
        assert len(on_dr) - len(unread) <= OFFSET_LAG_MAX + 1


def consume_and_commit(bootstrap: str, topic: str, group: str, count: int) -> dict[int, int]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    seen = 0
    while seen < count:
        for msg in consumer.consume(num_messages=count - seen, timeout=1):
            if msg.error() is None:
                seen += 1
    consumer.commit(asynchronous=False)
    positions = {
        tp.partition: tp.offset
        for tp in consumer.committed(
            [TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=10
        )
    }
    consumer.close()
    return {p: o for p, o in positions.items() if o >= 0}


def values(bootstrap: str, topic: str, partition: int, start: int) -> list[bytes]:
    cluster = ClusterSettings(bootstrap_servers=bootstrap)
    records = read_range(cluster, (topic, partition), start, 10**9, timeout_s=8)
    return [r.value or b"" for r in records]


def test_decoders_read_real_internal_topic_records(lab: RunningLab) -> None:
    primary, dr = lab.load_settings()
    heartbeats = wait_until(
        lambda: read_all(dr, "heartbeats"), timeout_s=60, what="MirrorMaker's first heartbeats"
    )
    beats = [decode_heartbeat(r.key, r.value) for r in heartbeats]
    # Flows of other tests (Connect mode, from aliases of primary) write heartbeats here too.
    flows = {(b.source_alias, b.target_alias) for b in beats}
    assert ("primary", "dr") in flows
    assert {target for _, target in flows} == {"dr"}
    assert all(
        abs(b.timestamp_ms - r.timestamp_ms) < 5000 for b, r in zip(beats, heartbeats, strict=True)
    )
    # A group of its own, so that checkpoints exist whatever ran before.
    topic = f"decode.{uuid.uuid4().hex[:6]}"
    create_topic(primary.bootstrap_servers, topic, partitions=2, replication=3)
    produce_records(primary.bootstrap_servers, topic, 200)
    consume_and_commit(primary.bootstrap_servers, topic, f"g-{uuid.uuid4().hex[:6]}", 100)
    wait_until(
        lambda: read_all(dr, "primary.checkpoints.internal"),
        timeout_s=120,
        what="MirrorMaker's first checkpoints",
    )
    checkpoints = [
        decode_checkpoint(r.key, r.value) for r in read_all(dr, "primary.checkpoints.internal")
    ]
    assert checkpoints and all(c.downstream_offset >= 0 for c in checkpoints)
    syncs = [
        decode_offset_sync(r.key, r.value)
        for r in read_all(primary, "mm2-offset-syncs.dr.internal")
    ]
    assert syncs and all(s.upstream_offset >= 0 and s.downstream_offset >= 0 for s in syncs)


def read_all(cluster: Any, topic: str) -> list[Any]:
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap_servers})
    meta = admin.list_topics(topic, timeout=10).topics[topic]
    return [r for p in meta.partitions for r in read_range(cluster, (topic, p), 0, 10**9)]


def test_dedicated_apply_is_idempotent_and_applies_a_change(
    lab: RunningLab, tmp_path: Path
) -> None:
    unchanged = lab.cli("mirror", "apply", "--json")
    assert unchanged.returncode == 0, unchanged.stderr
    assert json.loads(unchanged.stdout)["changed"] is False

    config = yaml.safe_load(lab.config.read_text())
    config["mirror"]["flows"][0]["topics_exclude"] = ["scratch\\..*"]
    changed_config = tmp_path / "changed.yaml"
    changed_config.write_text(yaml.safe_dump(config))
    try:
        proc = run_cli(
            "--config", str(changed_config), "mirror", "apply", "--yes", "--json", timeout=300
        )
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout) | {"path": ""} == {
            "deploy": "dedicated",
            "path": "",
            "changed": True,
            "restart_pending": False,
            "restarted": True,
            "dry_run": False,
        }
        assert "scratch" in Path(config["mirror"]["properties_file"]).read_text()
        again = run_cli("--config", str(changed_config), "mirror", "apply", "--json")
        assert json.loads(again.stdout)["changed"] is False
    finally:
        restored = lab.cli("mirror", "apply", "--yes")
        assert restored.returncode == 0, restored.stderr
    status = json.loads(lab.lab_cli("status", "--json").stdout)
    assert status["mirror"]["running"]


def test_drift_is_detected_after_changing_a_source_topic(lab: RunningLab) -> None:
    topic = f"drift.{uuid.uuid4().hex[:6]}"
    primary = lab.bootstrap("primary")
    create_topic(primary, topic, partitions=2, replication=3)
    produce_records(primary, topic, 10)
    wait_for_records(lab.bootstrap("dr"), f"primary.{topic}", 10)
    lab.lab_cli("mirror", "stop")  # so that MirrorMaker does not sync the change away
    try:
        admin = AdminClient({"bootstrap.servers": primary})
        resource = ConfigResource(
            "topic",
            topic,
            incremental_configs=[
                ConfigEntry("retention.ms", "3600000", incremental_operation=AlterConfigOpType.SET)
            ],
        )
        admin.incremental_alter_configs([resource])[resource].result(30)
        admin.create_partitions([NewPartitions(topic, 4)])[topic].result(30)
        proc = lab.cli("mirror", "status", "--json")
        assert proc.returncode == 1
        drift = json.loads(proc.stdout)["flows"]["primary->dr"]["drift"]
        mine = {(d["what"], d["source"], d["target"]) for d in drift if d["topic"] == topic}
        assert ("partitions", "4", "2") in mine
        assert ("config:retention.ms", "3600000", None) in mine
    finally:
        lab.lab_cli("mirror", "start")


def test_connect_apply_twice_changes_nothing_and_connectors_run(
    lab: RunningLab, tmp_path: Path
) -> None:
    url = lab.lab_cli("connect", "start").stdout.strip()
    config = yaml.safe_load(lab.config.read_text())
    config["mirror"] = {
        "deploy": "connect",
        "connect_url": url,
        "flows": [
            {
                "source": "primary",
                "target": "dr",
                "topics": ["connect\\..*"],
                "checkpoint_interval_s": 5,
                "properties": {
                    "replication.factor": "1",
                    "checkpoints.topic.replication.factor": "1",
                    "heartbeats.topic.replication.factor": "1",
                    "refresh.topics.interval.seconds": "5",
                },
            }
        ],
    }
    path = tmp_path / "connect.yaml"
    path.write_text(yaml.safe_dump(config))

    def cli(*args: str) -> Any:
        return run_cli("--config", str(path), *args, timeout=120)

    try:
        first = cli("mirror", "apply", "--yes", "--json")
        assert first.returncode == 0, first.stderr
        assert len(json.loads(first.stdout)["creates"]) == 3
        second = cli("mirror", "apply", "--json")
        assert json.loads(second.stdout) | {"unchanged": []} == {
            "deploy": "connect",
            "changed": False,
            "dry_run": False,
            "creates": [],
            "updates": [],
            "deletes": [],
            "unchanged": [],
        }

        def running() -> bool:
            proc = cli("mirror", "status", "--json")
            connectors = json.loads(proc.stdout)["flows"]["primary->dr"]["connectors"]
            return len(connectors) == 3 and all(c["state"] == "RUNNING" for c in connectors)

        wait_until(running, timeout_s=90, what="the three Mirror connectors to run")
        assert cli("mirror", "pause").returncode == 0
        proc = cli("mirror", "status", "--json")
        states = {c["state"] for c in json.loads(proc.stdout)["flows"]["primary->dr"]["connectors"]}
        assert states == {"PAUSED"}
        assert cli("mirror", "resume").returncode == 0

        config["mirror"]["flows"][0]["heartbeats"] = False
        path.write_text(yaml.safe_dump(config))
        dropped = cli("mirror", "apply", "--yes", "--json")
        assert json.loads(dropped.stdout)["deletes"] == ["primary->dr.MirrorHeartbeatConnector"]
        assert json.loads(cli("mirror", "apply", "--json").stdout)["changed"] is False
    finally:
        # The worker keeps its connectors across restarts: leave none for the next run.
        delete_connectors(url, "primary->dr")
        lab.lab_cli("connect", "stop")
