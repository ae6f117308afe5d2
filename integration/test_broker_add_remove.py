"""broker add and broker remove on the real lab: a 4th node started with `lab add-node` takes a
share of the replicas, then gives every one back, is stopped and unregistered; no record is
lost. The lab is left as found: the 4th node removed from it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from dr.kafka.jars import KafkaJars
from dr.kafka.reassign import registered_brokers
from dr.lab.traffic import create_topic, produce_records
from integration.conftest import RunningLab

TOPIC = "moves.orders"
PARTITIONS = 6
RECORDS = 3000


def replicas_by_broker(bootstrap: str) -> dict[int, int]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    counts: dict[int, int] = {}
    for meta in admin.list_topics(timeout=15).topics.values():
        for part in meta.partitions.values():
            for b in part.replicas:
                counts[b] = counts.get(b, 0) + 1
    return counts


def online_brokers(bootstrap: str) -> list[int]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    return sorted(n.id for n in admin.describe_cluster(request_timeout=15).result().nodes)


def all_records(bootstrap: str) -> list[tuple[int, int, object, object]]:
    """Every record of the topic: (partition, offset, key, value)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"moves-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    try:
        consumer.assign([TopicPartition(TOPIC, p, 0) for p in range(PARTITIONS)])
        out: list[tuple[int, int, object, object]] = []
        ended: set[int | None] = set()
        while len(ended) < PARTITIONS:
            msg = consumer.poll(10)
            assert msg is not None, "the topic stopped answering while being read"
            if msg.error():
                ended.add(msg.partition())
                continue
            out.append((msg.partition() or 0, msg.offset() or 0, msg.key(), msg.value()))
        return sorted(out)
    finally:
        consumer.close()


@pytest.fixture(scope="module")
def fourth_node(lab: RunningLab) -> Iterator[int]:
    bootstrap = lab.bootstrap("primary")
    create_topic(bootstrap, TOPIC, partitions=PARTITIONS, replication=3)
    produce_records(bootstrap, TOPIC, RECORDS, value_size=500)
    lab.lab_cli("add-node", "primary")
    node = max(n.id for n in lab.lab.state().cluster("primary").nodes)
    try:
        yield node
    finally:  # the lab as found: node 4 holds nothing, is stopped, and is gone from the lab
        if node in replicas_by_broker(lab.bootstrap("primary")):
            lab.cli(
                "broker",
                "remove",
                "--cluster",
                "primary",
                "--broker",
                str(node),
                "--yes",
                timeout=600,
            )
        lab.lab_cli("stop-node", "primary", str(node))
        lab.lab_cli("remove-node", "primary", str(node))


def test_broker_add_gives_the_new_broker_a_share_and_remove_takes_it_all_back(
    lab: RunningLab, fourth_node: int
) -> None:
    bootstrap = lab.bootstrap("primary")
    before = all_records(bootstrap)  # (its group creates __consumer_offsets, on 4 brokers now)
    assert len(before) == RECORDS
    assert fourth_node in online_brokers(bootstrap)
    placed = replicas_by_broker(bootstrap)

    code, dry = lab.cli_json(
        "broker", "add", "--cluster", "primary", "--broker", str(fourth_node), "--dry-run"
    )
    assert code == 0 and dry["plan"]["moves"], dry
    assert replicas_by_broker(bootstrap) == placed  # a dry run moves nothing

    proc = lab.cli(
        "broker",
        "add",
        "--cluster",
        "primary",
        "--broker",
        str(fourth_node),
        "--throttle",
        "5",
        "--yes",
        "--json",
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    counts = replicas_by_broker(lab.bootstrap("primary"))
    total = sum(counts.values())
    assert counts[fourth_node] >= total // 4 - 1, counts  # a balanced share
    assert max(counts.values()) - min(counts.values()) <= 2, counts
    code, status = lab.cli_json("reassign", "status", "--cluster", "primary")
    assert code == 0 and status["moving"] == [] and status["throttles"] == [], status

    proc = lab.cli(
        "broker",
        "remove",
        "--cluster",
        "primary",
        "--broker",
        str(fourth_node),
        "--yes",
        "--json",
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    bootstrap = lab.bootstrap("primary")
    assert fourth_node not in replicas_by_broker(bootstrap)
    assert fourth_node not in online_brokers(bootstrap)
    state = lab.lab.state()
    jars = KafkaJars(version=state.kafka_version, libs=Path(state.libs), source="lab")
    primary, _ = lab.load_settings()
    registered = registered_brokers(primary, jars)
    assert registered is None or fourth_node not in registered, registered
    assert all_records(bootstrap) == before
    code, status = lab.cli_json("reassign", "status", "--cluster", "primary")
    assert status["throttles"] == [], status
