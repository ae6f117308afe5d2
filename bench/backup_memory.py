"""Peak memory of a backup of 1,000 partitions, beside a raw consume of the same data.

Starts its own lean lab (one broker per cluster, no MirrorMaker), creates one topic of 1,000
partitions holding ~400 MiB (400 records of 1 KiB each), then runs, each as its own process:
  raw consume   a confluent-kafka Consumer reading every record with librdkafka's defaults,
                keeping nothing
  backup        `kafka-dr backup run` into a local store, memory_budget_mb at its default
and prints each one's peak RSS (from the kernel's rusage) and the ratio backup / raw consume.
Without a budget a run would hold every partition's open segment at once (here ~400 MiB of
records); the target is a peak RSS <= 512 MiB whatever the partition count.

    python bench/backup_memory.py [--partitions 1000] [--records-per-partition 400]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from confluent_kafka import Producer

from dr.lab.lab import Lab, LabOptions
from dr.lab.traffic import create_topic

TOPIC = "bench.wide"

RAW_CONSUME = """
import sys, uuid
from confluent_kafka import Consumer, TopicPartition
bootstrap, topic = sys.argv[1], sys.argv[2]
partitions, expected = int(sys.argv[3]), int(sys.argv[4])
c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4()}",
              "enable.auto.commit": False, "auto.offset.reset": "earliest"})
c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
seen = 0
while seen < expected:
    for m in c.consume(num_messages=10000, timeout=1.0):
        if m.error() is None:
            seen += 1
c.close()
"""


def produce(bootstrap: str, partitions: int, per_partition: int, value_size: int) -> None:
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 20, "compression.type": "lz4"}
    )
    pool = random.Random(7).randbytes(value_size * 64)
    for i in range(partitions * per_partition):
        start = (i * 97) % (len(pool) - value_size)
        while True:
            try:
                producer.produce(TOPIC, pool[start : start + value_size], partition=i % partitions)
                break
            except BufferError:
                producer.poll(0.05)
    assert producer.flush(300) == 0


def peak_rss_mib(args: list[str]) -> tuple[float, float]:
    """Run a process; its peak RSS in MiB and its wall time in seconds."""
    started = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{args[:4]} failed")
    return usage.ru_maxrss / 1024, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--partitions", type=int, default=1000)
    parser.add_argument("--records-per-partition", type=int, default=400)
    parser.add_argument("--value-size", type=int, default=1024)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        lab = Lab(Path(tmp) / "lab")
        state = lab.up(LabOptions(primary_brokers=1, dr_brokers=1, mirror=False))
        try:
            bootstrap = state.cluster("primary").bootstrap_servers
            create_topic(bootstrap, TOPIC, partitions=args.partitions)
            produce(bootstrap, args.partitions, args.records_per_partition, args.value_size)
            config = yaml.safe_load(lab.config_path.read_text())
            config["storage"] = {"local": {"url": (Path(tmp) / "store").as_uri()}}
            config["backups"] = {
                "wide": {"cluster": "primary", "topics": [TOPIC], "storage": "local"}
            }
            config["state"] = str(Path(tmp) / "state.db")
            path = Path(tmp) / "kafka-dr.yaml"
            path.write_text(yaml.safe_dump(config))
            expected = args.partitions * args.records_per_partition
            raw, raw_s = peak_rss_mib(
                [
                    sys.executable,
                    "-c",
                    RAW_CONSUME,
                    bootstrap,
                    TOPIC,
                    str(args.partitions),
                    str(expected),
                ]
            )
            backup, backup_s = peak_rss_mib(
                [sys.executable, "-m", "dr", "--config", str(path), "backup", "run", "wide"]
            )
        finally:
            lab.down()
    mib = expected * args.value_size / 2**20
    print(f"{args.partitions} partitions, {expected} records, {mib:.0f} MiB of values")
    print(f"raw consume: peak RSS {raw:7.1f} MiB ({raw_s:.1f}s)")
    print(f"backup:      peak RSS {backup:7.1f} MiB ({backup_s:.1f}s)")
    print(
        f"ratio backup/raw consume: {backup / raw:.2f}; target: backup <= 512 MiB "
        f"({'met' if backup <= 512 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
