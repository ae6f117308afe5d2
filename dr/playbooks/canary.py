"""A canary record: proof that a cluster takes writes and serves reads, end to end."""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import Producer

from dr.config.schema import ClusterSettings
from dr.errors import DrError, KafkaError
from dr.kafka import admin as kadmin
from dr.kafka.client import admin_client, confluent_config, librdkafka_logger
from dr.kafka.names import CANARY_TOPIC
from dr.kafka.reader import read_range


def canary_round_trip(cluster: ClusterSettings, run_id: str) -> dict[str, Any]:
    """Produce one record keyed run_id (acks=all) to kafka-dr.canary, created if missing, and
    read it back at its offset. Returns where it landed and the times; raises DrError."""
    admin = admin_client(cluster)
    topics = kadmin.list_topic_partitions(admin, cluster.timeout_s)
    if CANARY_TOPIC not in topics:
        brokers = kadmin.broker_count(admin, cluster.timeout_s)
        info = kadmin.TopicInfo(CANARY_TOPIC, 1, min(3, brokers), {"retention.ms": "604800000"})
        try:
            kadmin.create_topic(admin, info, cluster.timeout_s)
        except KafkaError as exc:
            if "already exists" not in str(exc).lower():
                raise
    delivered: list[Any] = []
    producer = Producer(
        confluent_config(cluster, **{"acks": "all", "enable.idempotence": True}),
        logger=librdkafka_logger(),
    )
    started = time.monotonic()
    producer.produce(
        CANARY_TOPIC, value=b"kafka-dr canary", key=run_id.encode(),
        on_delivery=lambda err, msg: delivered.append((err, msg)),
    )  # fmt: skip
    producer.flush(cluster.timeout_s)
    if not delivered or delivered[0][0] is not None:
        why = "no acknowledgement" if not delivered else str(delivered[0][0])
        raise DrError(f"the canary record was not written to {CANARY_TOPIC}: {why}")
    msg = delivered[0][1]
    produced_ms = (time.monotonic() - started) * 1000
    tp = (CANARY_TOPIC, int(msg.partition()))
    found = list(read_range(cluster, tp, msg.offset(), msg.offset() + 1))
    if not found or found[0].key != run_id.encode():
        raise DrError(
            f"the canary record at {CANARY_TOPIC}-{tp[1]}@{msg.offset()} reads back wrong"
        )
    return {
        "topic": CANARY_TOPIC,
        "partition": tp[1],
        "offset": int(msg.offset()),
        "produce_ms": round(produced_ms, 1),
        "round_trip_ms": round((time.monotonic() - started) * 1000, 1),
    }
