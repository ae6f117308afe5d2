"""Test traffic for the lab: create a topic, produce numbered records, read them back."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from dr.errors import LabError
from dr.kafka.client import librdkafka_logger


@dataclass(frozen=True)
class Delivery:
    """What produce_records wrote."""

    topic: str
    records: int
    seconds: float


def create_topic(
    bootstrap: str,
    topic: str,
    *,
    partitions: int = 3,
    replication: int = 1,
    config: dict[str, str] | None = None,
    client: dict[str, str] | None = None,
) -> None:
    """Create a topic (no error when it exists already); ``client``: security settings."""
    admin = AdminClient(
        {**(client or {}), "bootstrap.servers": bootstrap}, logger=librdkafka_logger()
    )
    new = NewTopic(
        topic, num_partitions=partitions, replication_factor=replication, config=config or {}
    )
    for future in admin.create_topics([new], operation_timeout=30).values():
        try:
            future.result(timeout=60)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise LabError(f"cannot create topic '{topic}': {exc}") from None


def produce_records(
    bootstrap: str,
    topic: str,
    count: int,
    *,
    value_size: int = 100,
    client: dict[str, str] | None = None,
) -> Delivery:
    """Produce count keyed records (key i, value of value_size bytes) and wait for all acks."""
    producer = Producer(
        {
            **(client or {}),
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "linger.ms": 5,
            "enable.idempotence": True,
        },
        logger=librdkafka_logger(),
    )
    failures: list[str] = []

    def on_delivery(err: object, _msg: object) -> None:
        if err is not None:
            failures.append(str(err))

    started = time.monotonic()
    pad = b"x" * max(0, value_size - 12)
    for i in range(count):
        while True:
            try:
                producer.produce(
                    topic, key=str(i).encode(), value=b"%012d" % i + pad, on_delivery=on_delivery
                )
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    remaining = producer.flush(60)
    if remaining or failures:
        raise LabError(
            f"producing to '{topic}': {remaining} unsent, {len(failures)} failed "
            f"({failures[0] if failures else 'timeout'})"
        )
    return Delivery(topic=topic, records=count, seconds=time.monotonic() - started)


def count_records(
    bootstrap: str, topic: str, *, timeout_s: float = 10.0, client: dict[str, str] | None = None
) -> int:
    """How many records the topic holds (sum of end minus start offsets over partitions)."""
    consumer = Consumer(
        {
            **(client or {}),
            "bootstrap.servers": bootstrap,
            "group.id": f"kafka-dr-count-{uuid.uuid4()}",
            "enable.auto.commit": False,
        },
        logger=librdkafka_logger(),
    )
    try:
        meta = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
        if meta is None or meta.error is not None:
            return 0
        total = 0
        for pid in meta.partitions:
            low, high = _watermarks(consumer, TopicPartition(topic, pid), timeout_s)
            total += high - low
        return total
    finally:
        consumer.close()


_LEADER_SETTLING = {"NOT_LEADER_FOR_PARTITION", "LEADER_NOT_AVAILABLE", "UNKNOWN_TOPIC_OR_PART"}


def _watermarks(consumer: Consumer, tp: TopicPartition, timeout_s: float) -> tuple[int, int]:
    """A partition's watermarks; a topic created a moment ago may not have its leader yet."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            low, high = consumer.get_watermark_offsets(tp, timeout=timeout_s)
            return int(low), int(high)
        except KafkaException as exc:
            err = exc.args[0]
            settling = err.retriable() or err.name() in _LEADER_SETTLING
            if time.monotonic() >= deadline or not settling:
                raise
            time.sleep(0.2)


def wait_for_records(
    bootstrap: str,
    topic: str,
    expected: int,
    *,
    timeout_s: float = 120.0,
    client: dict[str, str] | None = None,
) -> float:
    """Wait until the topic holds at least expected records; returns the seconds waited."""
    started = time.monotonic()
    seen = 0
    while time.monotonic() - started < timeout_s:
        seen = count_records(bootstrap, topic, client=client)
        if seen >= expected:
            return time.monotonic() - started
        time.sleep(1)
    raise LabError(f"'{topic}' holds {seen} of {expected} records after {timeout_s:.0f}s")
