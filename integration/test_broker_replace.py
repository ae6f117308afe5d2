"""`kafka-dr broker replace` on the lab: node 3 of the primary (a combined broker and static
KRaft voter) is killed and its log dirs deleted; the command brings it back with the same
cluster id, every partition is fully replicated again and the data is byte-identical."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from dr.kafka.node_config import parse_properties
from dr.lab import processes
from dr.lab.traffic import create_topic, produce_records
from integration.conftest import RunningLab, wait_until

TOPIC = "broker-replace.data"
PARTITIONS = 6
Record = tuple[int, int, bytes | None, bytes | None, Any, int]


def read_all(lab: RunningLab, topic: str) -> list[Record]:
    """Every record of the topic, with partition, offset, key, value, headers, timestamp."""
    consumer = Consumer(
        {"bootstrap.servers": lab.bootstrap("primary"), "group.id": "broker-replace-reader",
         "enable.auto.commit": False}
    )  # fmt: skip
    try:
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
                for p in range(PARTITIONS)}  # fmt: skip
        consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        out: list[Record] = []
        done = {p for p, end in ends.items() if end == 0}
        while len(done) < PARTITIONS:
            msg = consumer.poll(5)
            if msg is None or msg.error() is not None:
                continue
            p, offset = msg.partition(), msg.offset()
            out.append((p, offset, msg.key(), msg.value(), msg.headers(), msg.timestamp()[1]))
            if offset + 1 >= ends[p]:
                done.add(p)
        return sorted(out, key=lambda r: (r[0], r[1]))
    finally:
        consumer.close()


@pytest.fixture
def node_3_back(lab: RunningLab) -> Iterator[None]:
    """Whatever happens in the test, node 3 runs afterwards (on a fresh disk if needed)."""
    yield
    node = lab.lab.state().cluster("primary").node(3)
    assert node is not None
    if not processes.find_java_by_marker(str(node.spec("primary").config_file)):
        wipe = () if (node.spec("primary").log_dir / "meta.properties").exists() else ("--wipe",)
        lab.lab_cli("start-node", "primary", "3", *wipe)


def test_a_node_whose_disk_is_gone_is_replaced_with_the_same_cluster_id_and_data(
    lab: RunningLab, node_3_back: None
) -> None:
    bootstrap = lab.bootstrap("primary")
    create_topic(bootstrap, TOPIC, partitions=PARTITIONS, replication=3,
                 config={"min.insync.replicas": "2"})  # fmt: skip
    produce_records(bootstrap, TOPIC, 5000, value_size=500)
    before = read_all(lab, TOPIC)
    assert len(before) == 5000
    cluster_id = lab.lab.state().cluster("primary").cluster_id
    node = lab.lab.state().cluster("primary").node(3)
    assert node is not None
    spec = node.spec("primary")

    lab.lab_cli("stop-node", "primary", "3", "--kill")
    shutil.rmtree(spec.log_dir)  # the disk is gone

    proc = lab.cli("broker", "replace", "--cluster", "primary", "--broker", "3", "--yes",
                   "--json", timeout=900)  # fmt: skip
    assert proc.returncode == 0, proc.stderr + proc.stdout
    report = json.loads(proc.stdout)
    assert report["status"] == "completed"
    assert report["cluster_id"] == cluster_id
    meta = parse_properties((spec.log_dir / "meta.properties").read_text())
    assert meta["cluster.id"] == cluster_id and meta["node.id"] == "3"
    assert report["rto_seconds"] is not None
    verify = next(s for s in report["steps"] if s["name"] == "verify")["detail"]
    assert verify["partitions_on_node"] > 0

    def whole() -> dict[str, Any] | None:
        status = lab.cli("status", "--cluster", "primary", "--json")
        state: dict[str, Any] = json.loads(status.stdout)["clusters"]["primary"]
        return state if status.returncode == 0 and state["healthy"] else None

    state = wait_until(whole, timeout_s=120, what="primary to be healthy")
    assert state["brokers_online"] == [1, 2, 3] and state["under_replicated_partitions"] == 0
    assert state["cluster_id"] == cluster_id
    # Node 3 holds a full copy again: its partition directories are back on its new disk.
    held = {d.name for d in spec.log_dir.iterdir() if d.name.startswith(TOPIC)}
    assert held == {f"{TOPIC}-{p}" for p in range(PARTITIONS)}
    after = read_all(lab, TOPIC)
    assert after == before  # byte-identical: keys, values, headers, timestamps, offsets
    print(
        f"\nbroker replace: RTO {report['rto_seconds']:.1f}s (run start to URP 0), "
        f"under-replicated samples {report['under_replicated_samples']}"
    )
