"""The backup test dataset: every kind of record a backup must keep byte-exact."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from confluent_kafka import Consumer, Producer, TopicPartition

from dr.lab.traffic import create_topic

BASE_TS = 1_700_000_000_000
PARTITIONS = 3
BIG = 1_000_000


@dataclass(frozen=True)
class Rec:
    partition: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]
    timestamp: int


@dataclass
class Dataset:
    """What was produced, committed records only, in order per partition."""

    topic: str
    committed: dict[int, list[Rec]] = field(default_factory=dict)
    aborted: list[Rec] = field(default_factory=list)
    counter: int = 0

    def add(self, rec: Rec) -> None:
        self.committed.setdefault(rec.partition, []).append(rec)

    def all_committed(self) -> list[Rec]:
        return [r for p in sorted(self.committed) for r in self.committed[p]]


def _record(ds: Dataset, partition: int, i: int) -> Rec:
    kind = i % 7
    key = None if kind == 0 else f"key-{i}".encode()
    value = None if kind == 1 else bytes([i % 256]) * 3 + f"value-{i}".encode()
    headers: tuple[tuple[str, bytes | None], ...] = ()
    if kind == 2:
        headers = (("trace", b"\x00\xff\x10binary"), ("trace", b"second"), ("empty", None))
    elif kind == 3:
        headers = (("h", b""),)
    return Rec(partition, key, value, headers, BASE_TS + ds.counter * 1000)


def produce_plain(bootstrap: str, ds: Dataset, count: int) -> None:
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "message.max.bytes": 4_000_000,
        }
    )
    for i in range(count):
        rec = _record(ds, i % PARTITIONS, ds.counter)
        ds.counter += 1
        producer.produce(
            ds.topic,
            rec.value,
            rec.key,
            partition=rec.partition,
            timestamp=rec.timestamp,
            headers=list(rec.headers) or None,
        )
        ds.add(rec)
        producer.poll(0)
    assert producer.flush(60) == 0


def produce_big(bootstrap: str, ds: Dataset) -> None:
    producer = Producer(
        {"bootstrap.servers": bootstrap, "acks": "all", "message.max.bytes": 4_000_000}
    )
    rec = Rec(1, b"big", b"\xab" * BIG, (("size", b"1MB"),), BASE_TS + ds.counter * 1000)
    ds.counter += 1
    producer.produce(
        ds.topic,
        rec.value,
        rec.key,
        partition=1,
        timestamp=rec.timestamp,
        headers=list(rec.headers),
    )
    assert producer.flush(60) == 0
    ds.add(rec)


def produce_transactions(bootstrap: str, ds: Dataset) -> None:
    """One committed and one aborted transaction across partitions."""
    producer = Producer(
        {"bootstrap.servers": bootstrap, "transactional.id": f"dataset-{uuid.uuid4()}"}
    )
    producer.init_transactions(30)
    for commit in (True, False):
        producer.begin_transaction()
        recs = []
        for p in range(PARTITIONS):
            tag = b"committed" if commit else b"ABORTED"
            rec = Rec(
                p, b"txn", tag + b"-%d" % ds.counter, (("txn", tag),), BASE_TS + ds.counter * 1000
            )
            ds.counter += 1
            producer.produce(
                ds.topic,
                rec.value,
                rec.key,
                partition=p,
                timestamp=rec.timestamp,
                headers=list(rec.headers),
            )
            recs.append(rec)
        producer.flush(30)
        if commit:
            producer.commit_transaction(30)
            for rec in recs:
                ds.add(rec)
        else:
            producer.abort_transaction(30)
            ds.aborted.extend(recs)


def make_dataset(bootstrap: str, topic: str) -> Dataset:
    create_topic(
        bootstrap,
        topic,
        partitions=PARTITIONS,
        replication=3,
        config={"max.message.bytes": "4194304", "retention.ms": "-1"},
    )
    ds = Dataset(topic)
    produce_plain(bootstrap, ds, 600)
    produce_big(bootstrap, ds)
    produce_transactions(bootstrap, ds)
    produce_plain(bootstrap, ds, 150)
    return ds


def read_partition(
    bootstrap: str, topic: str, partition: int, *, start: int = 0, limit: int | None = None
) -> list[tuple[int, Rec]]:
    """(offset, record) of every committed record of a partition, in order."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"r-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
            "fetch.max.bytes": 8_000_000,
            "max.partition.fetch.bytes": 8_000_000,
        }
    )
    consumer.assign([TopicPartition(topic, partition, start)])
    out: list[tuple[int, Rec]] = []
    try:
        for _ in range(120):
            done = False
            for msg in consumer.consume(num_messages=500, timeout=1):
                if msg.error() is not None:
                    done = msg.error().code() == -191  # _PARTITION_EOF
                    continue
                out.append(
                    (
                        msg.offset(),
                        Rec(
                            partition,
                            msg.key(),
                            msg.value(),
                            tuple(msg.headers() or ()),
                            msg.timestamp()[1],
                        ),
                    )
                )
                if limit is not None and len(out) >= limit:
                    return out
            if done:
                break
    finally:
        consumer.close()
    return out
