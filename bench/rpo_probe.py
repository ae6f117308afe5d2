"""The cost of one RPO probe of a mirror flow over 1,000 partitions and over 5,000.

Starts its own lean lab (one broker per cluster, no MirrorMaker), creates 50 topics of 100
partitions on primary and their replicas (`primary.<topic>`) on dr, puts records in every
partition, and leaves half of the partitions behind on dr so that the probe has lagging
partitions to date. It then times `measure_flow` for a flow matching 10 topics (1,000
partitions: the baseline) and one matching all 50 (5,000), and prints seconds per probe, per
partition, and how the cost grows.

    python bench/rpo_probe.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from dr.config.load import parse_config
from dr.config.schema import Settings
from dr.lab.lab import Lab, LabOptions
from dr.objectives.rpo import measure_flow

TOPICS, PARTITIONS = 50, 100


def create(bootstrap: str, names: list[str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for start in range(0, len(names), 10):
        batch = [
            NewTopic(n, num_partitions=PARTITIONS, replication_factor=1)
            for n in names[start : start + 10]
        ]
        for future in admin.create_topics(batch, operation_timeout=120).values():
            future.result(180)


def fill(bootstrap: str, names: list[str], per_partition: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50})
    for name in names:
        for p in range(PARTITIONS):
            for i in range(per_partition):
                producer.produce(name, b"v%d" % i, partition=p)
        producer.poll(0)
    assert producer.flush(300) == 0


def settings_for(lab: Lab, pattern: str) -> Settings:
    text = lab.config_path.read_text() + (
        "mirror:\n  flows:\n  - {source: primary, target: dr, topics: ['" + pattern + "']}\n"
    )
    return parse_config(text, source="bench", base_dir=lab.config_path.parent)


def time_probe(settings: Settings, rounds: int) -> tuple[float, int]:
    flow = settings.mirror.flows[0]  # type: ignore[union-attr]
    times, partitions = [], 0
    for _ in range(rounds):
        started = time.perf_counter()
        result = measure_flow(settings, flow, now=time.time())
        times.append(time.perf_counter() - started)
        partitions = len(result.partitions)
    return statistics.median(times), partitions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    names = [f"probe.{i:02d}" for i in range(TOPICS)]
    with tempfile.TemporaryDirectory(prefix="kafka-dr-bench-") as tmp:
        lab = Lab(Path(tmp) / "lab")
        lab.up(LabOptions(primary_brokers=1, dr_brokers=1, mirror=False))
        try:
            settings = settings_for(lab, r"probe\..*")
            primary = settings.clusters["primary"].bootstrap_servers
            dr = settings.clusters["dr"].bootstrap_servers
            started = time.perf_counter()
            create(primary, names)
            create(dr, [f"primary.{n}" for n in names])
            fill(primary, names, 2)
            # dr holds the first record of every partition: the second one is "not replicated"
            # on half of the topics, so those partitions lag by one record.
            fill(dr, [f"primary.{n}" for n in names[::2]], 2)
            fill(dr, [f"primary.{n}" for n in names[1::2]], 1)
            print(
                f"set-up: {TOPICS * PARTITIONS} partitions on each cluster in "
                f"{time.perf_counter() - started:.0f}s"
            )
            small, n_small = time_probe(settings_for(lab, r"probe\.0[0-9]"), args.rounds)
            large, n_large = time_probe(settings, args.rounds)
        finally:
            lab.down()
    print(
        f"probe over {n_small:5d} partitions: {small:6.2f}s  ({small / n_small * 1000:.2f} ms each)"
    )
    print(
        f"probe over {n_large:5d} partitions: {large:6.2f}s  ({large / n_large * 1000:.2f} ms each)"
    )
    print(
        f"growth: x{large / small:.2f} time for x{n_large / n_small:.0f} partitions "
        f"(per-partition cost ratio {(large / n_large) / (small / n_small):.2f})"
    )


if __name__ == "__main__":
    main()
