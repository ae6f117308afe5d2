"""MirrorMaker 2 in the lab replicates primary -> dr."""

from __future__ import annotations

import uuid

from confluent_kafka import Consumer

from dr.lab.traffic import create_topic, produce_records, wait_for_records
from integration.conftest import RunningLab

RECORDS = 2000


def read_values(bootstrap: str, topic: str, count: int) -> list[bytes]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"t-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    values: list[bytes] = []
    try:
        for _ in range(120):
            for msg in consumer.consume(num_messages=1000, timeout=1):
                if msg.error() is None:
                    values.append(msg.value())
            if len(values) >= count:
                break
    finally:
        consumer.close()
    return values


def test_mirror_maker_replicates_a_new_topic_from_primary_to_dr(lab: RunningLab) -> None:
    topic = f"mirror.{uuid.uuid4().hex[:8]}"
    create_topic(lab.bootstrap("primary"), topic, partitions=3, replication=3)
    produce_records(lab.bootstrap("primary"), topic, RECORDS)

    wait_for_records(lab.bootstrap("dr"), f"primary.{topic}", RECORDS, timeout_s=120)
    values = read_values(lab.bootstrap("dr"), f"primary.{topic}", RECORDS)

    assert sorted(values) == sorted(b"%012d" % i + b"x" * 88 for i in range(RECORDS))


def test_stopping_the_mirror_halts_replication_and_starting_it_resumes(lab: RunningLab) -> None:
    topic = f"mirror.pause.{uuid.uuid4().hex[:8]}"
    create_topic(lab.bootstrap("primary"), topic, partitions=1, replication=3)
    produce_records(lab.bootstrap("primary"), topic, 100)
    wait_for_records(lab.bootstrap("dr"), f"primary.{topic}", 100)

    lab.lab_cli("mirror", "stop")
    status = lab.lab_cli("status", "--json").stdout
    assert '"running": false' in status
    produce_records(lab.bootstrap("primary"), topic, 100)
    lab.lab_cli("mirror", "start")

    wait_for_records(lab.bootstrap("dr"), f"primary.{topic}", 200, timeout_s=120)
