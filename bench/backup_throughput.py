"""Backup and restore throughput beside raw confluent-kafka consume and produce, same run.

Starts its own lean lab (one broker per cluster, no MirrorMaker), produces a fixed dataset,
then measures:
  raw consume   Consumer.consume(num_messages=...) of every record, discarded
  backup        kafka-dr backup run into a local store (default zstd)
  backup (enc)  the same into a store with client-side encryption (AES-256-GCM); plain and
                encrypted runs alternate (--rounds, 2 each by default: P E, E P), each kind's
                fastest taken
  raw produce   an idempotent Producer writing the same records (same producer settings)
  restore       kafka-dr restore of that backup onto the dr cluster
and prints each rate and the ratios backup/raw-consume and restore/raw-produce (target >= 0.7),
and encrypted/plain backup (target >= 0.9: encryption costs at most 10 %).

    python bench/backup_throughput.py [--records 1000000] [--value-size 1024] [--partitions 4]
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import tempfile
import time
import uuid
from pathlib import Path

import yaml
from confluent_kafka import Consumer, Producer, TopicPartition

from dr.backup.lookup import find_backup, load_metadata
from dr.backup.restore import plan_restore, run_restore
from dr.backup.runner import run_backup
from dr.config import load_config
from dr.config.load import parse_config
from dr.config.schema import Settings
from dr.lab.lab import Lab, LabOptions
from dr.lab.traffic import create_topic
from dr.state import StateStore

TOPIC = "bench.data"
PRODUCER_SETTINGS = {
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 20,
    "batch.size": 1_000_000,
    "compression.type": "lz4",
    "queue.buffering.max.kbytes": 256 * 1024,
}


def produce(bootstrap: str, topic: str, records: int, value_size: int, partitions: int) -> float:
    producer = Producer({"bootstrap.servers": bootstrap, **PRODUCER_SETTINGS})
    # Values are slices of one random block: incompressible like real payloads, cheap to make.
    pool = random.Random(7).randbytes(value_size * 64)
    started = time.perf_counter()
    for i in range(records):
        start = (i * 97) % (len(pool) - value_size)
        value = pool[start : start + value_size]
        while True:
            try:
                producer.produce(
                    topic,
                    value,
                    b"%010d" % i,
                    partition=i % partitions,
                    timestamp=1_700_000_000_000 + i,
                )
                break
            except BufferError:
                producer.poll(0.01)
        if i % 1000 == 0:
            producer.poll(0)
    assert producer.flush(300) == 0
    return time.perf_counter() - started


def raw_consume(bootstrap: str, topic: str, partitions: int, expected: int) -> float:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "fetch.max.bytes": 64 * 1024 * 1024,
            "max.partition.fetch.bytes": 8 * 1024 * 1024,
            "queued.max.messages.kbytes": 256 * 1024,
        }
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    seen = eofs = 0
    started = time.perf_counter()
    while eofs < partitions:
        for msg in consumer.consume(num_messages=10000, timeout=1.0):
            if msg.error() is None:
                seen += 1
            else:
                eofs += 1
    elapsed = time.perf_counter() - started
    consumer.close()
    assert seen == expected, (seen, expected)
    return elapsed


def bench_settings(config_path: Path, tmp: Path, compression: str, rounds: int) -> Settings:
    """The lab's config with jobs on the topic, ``rounds`` of each kind: ``bench``,
    ``bench-2``... into the lab's plain store, ``bench-enc``, ``bench-enc-2``... into an
    encrypted store (each job's first run copies everything)."""
    key = tmp / "bench.key"
    key.write_text(base64.b64encode(os.urandom(32)).decode())
    key.chmod(0o600)
    config = yaml.safe_load(config_path.read_text())
    config["storage"]["encrypted"] = {
        "url": (tmp / "encrypted-store").as_uri(),
        "encryption": {"current": "k1", "keys": {"k1": f"${{file:{key}}}"}},
    }
    job = {"cluster": "primary", "topics": [TOPIC], "compression": compression}
    config["backups"] = {
        name: job | {"storage": store}
        for n in range(1, rounds + 1)
        for name, store in [(job_name("bench", n), "lab"), (job_name("bench-enc", n), "encrypted")]
    }
    return parse_config(yaml.safe_dump(config), source="bench", base_dir=config_path.parent)


def job_name(kind: str, n: int) -> str:
    return kind if n == 1 else f"{kind}-{n}"


def timed_backup(settings: Settings, job: str, records: int) -> float:
    started = time.perf_counter()
    result = run_backup(settings, job)
    elapsed = time.perf_counter() - started
    assert result.records == records
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--value-size", type=int, default=1024)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--compression", default="zstd", choices=["zstd", "lz4", "none"])
    parser.add_argument(
        "--rounds", type=int, default=2, help="plain and encrypted backups, alternating"
    )
    args = parser.parse_args()
    mb = args.records * args.value_size / 1e6
    with tempfile.TemporaryDirectory(prefix="kafka-dr-bench-") as tmp:
        lab = Lab(Path(tmp) / "lab")
        lab.up(LabOptions(primary_brokers=1, dr_brokers=1, mirror=False))
        try:
            settings = load_config(lab.config_path).settings
            primary = settings.clusters["primary"].bootstrap_servers
            dr = settings.clusters["dr"].bootstrap_servers
            # The records are stamped in 2023: without retention.ms=-1 the broker may delete
            # them by time while a backup reads them (offset out of range).
            create_topic(
                primary,
                TOPIC,
                partitions=args.partitions,
                replication=1,
                config={"retention.ms": "-1"},
            )
            seconds = produce(primary, TOPIC, args.records, args.value_size, args.partitions)
            print(
                f"dataset: {args.records} records of {args.value_size} B over "
                f"{args.partitions} partitions ({mb:.0f} MB), produced in {seconds:.1f}s"
            )

            settings = bench_settings(lab.config_path, Path(tmp), args.compression, args.rounds)

            # Baselines are measured before and after, and the faster taken: the first read of
            # a fresh log pays for warming the broker, and that must not count against kafka-dr.
            consume_first = raw_consume(primary, TOPIC, args.partitions, args.records)
            started = time.perf_counter()
            result = run_backup(settings, "bench")
            backup_s = time.perf_counter() - started
            assert result.records == args.records
            consume_s = min(
                consume_first, raw_consume(primary, TOPIC, args.partitions, args.records)
            )
            # Plain and encrypted runs alternate, and which goes first alternates by round
            # (P E, E P, P E...), so that neither always follows the other; each kind takes
            # its fastest run.
            encrypted_s = timed_backup(settings, "bench-enc", args.records)
            for n in range(2, args.rounds + 1):
                kinds = ["bench-enc", "bench"] if n % 2 == 0 else ["bench", "bench-enc"]
                for kind in kinds:
                    secs = timed_backup(settings, job_name(kind, n), args.records)
                    if kind == "bench":
                        backup_s = min(backup_s, secs)
                    else:
                        encrypted_s = min(encrypted_s, secs)

            create_topic(dr, "bench.raw", partitions=args.partitions, replication=1)
            raw_produce_s = produce(dr, "bench.raw", args.records, args.value_size, args.partitions)
            store, manifest = find_backup(settings, result.backup_id)
            metadata = load_metadata(store, manifest)
            state = StateStore(Path(tmp) / "state.db")
            plan = plan_restore(
                settings,
                manifest,
                metadata,
                to="dr",
                state=state,
                renames={TOPIC: "bench.restored"},
            )
            started = time.perf_counter()
            restored = run_restore(settings, store, manifest, metadata, plan, state=state)
            restore_s = time.perf_counter() - started
            assert restored.records == args.records
        finally:
            lab.down()
    rows = [
        ("raw consume", consume_s),
        ("backup", backup_s),
        ("backup (enc)", encrypted_s),
        ("raw produce", raw_produce_s),
        ("restore", restore_s),
    ]
    for name, secs in rows:
        print(
            f"{name:12} {mb / secs:8.1f} MB/s {args.records / secs:10.0f} records/s ({secs:.1f}s)"
        )
    print(f"ratio backup/raw-consume  = {consume_s / backup_s:.2f} (target >= 0.70)")
    print(f"ratio encrypted/plain backup = {backup_s / encrypted_s:.2f} (target >= 0.90)")
    print(f"ratio restore/raw-produce = {raw_produce_s / restore_s:.2f} (target >= 0.70)")
    print(f"stored {result.bytes / 1e6:.0f} MB ({args.compression})")


if __name__ == "__main__":
    main()
