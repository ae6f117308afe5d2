"""Backup and restore throughput beside honest baselines, each a whole process, same run.

Starts its own lean lab (one broker per cluster, no MirrorMaker), produces two datasets (1 KiB
and 100 B values over 4 partitions, stamped in 2023 on topics with retention.ms=-1), then runs,
interleaved (the order rotates each round), each of:

  raw consume   a tuned confluent-kafka consume loop (fetch.queue.backoff.ms=10, the backup's
                fetch and queue sizes, never waiting past the last record)
  kcat          kcat -C -e (Debian's kcat), output to /dev/null
  backup        kafka-dr backup run into a local store (zstd by default)
  backup (enc)  the same into a store with client-side encryption (AES-256-GCM)
  raw produce   a tuned idempotent producer (the restore producer's own settings) writing the
                same number of records of the same size to a new topic
  restore       kafka-dr restore --no-verify of the dataset's first backup to a new topic

Each row is the median of --rounds runs: wall time as MB/s (values) and records/s, CPU-s and
peak RSS from the child's rusage (wait4: its own and its reaped children's CPU; the largest
single process's RSS). Then the ratios issue 14 targets: backup >= 0.8x raw consume (1 KiB),
>= 0.6x (100 B); restore >= 0.9x raw produce; peak RSS <= 512 MiB; encrypted/plain >= 0.9.

    python bench/backup_throughput.py [--records-1k 1000000] [--records-100b 2000000] [--rounds 3]

Run it under the lab lock: flock /tmp/kafka-dr-lab.lock .venv/bin/python bench/backup_throughput.py
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import yaml
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from dr.backup.tuning import consumer_settings, producer_settings

MIB = 1024 * 1024
KAFKA_DR = str(Path(sys.executable).parent / "kafka-dr")
TOOLS = ["raw consume", "kcat", "backup", "backup (enc)", "raw produce", "restore"]


@dataclass(frozen=True)
class Dataset:
    name: str
    topic: str
    records: int
    value_size: int

    @property
    def mb(self) -> float:
        return self.records * self.value_size / 1e6


@dataclass(frozen=True)
class Sample:
    wall_s: float
    cpu_s: float
    rss_mib: float


# ---- the children: the raw baselines, run as their own processes ----


def raw_consume(bootstrap: str, topic: str, partitions: int, expected: int) -> None:
    """Read every record of topic and discard it; exits non-zero on a wrong count."""
    # The backup consumer's own settings at the default budget (a 64 MiB fetch queue).
    tuned = consumer_settings(f"bench-{uuid.uuid4()}", {}, fetch_queue_bytes=64 * MIB)
    consumer = Consumer({"bootstrap.servers": bootstrap, **tuned})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    seen = eofs = 0
    while eofs < partitions:
        # No more than can still come: the last call returns at the last record, not after
        # its timeout.
        wanted = max(1, min(10000, expected - seen + partitions - eofs))
        for msg in consumer.consume(num_messages=wanted, timeout=1.0):
            if msg.error() is None:
                seen += 1
            else:
                eofs += 1
    consumer.close()
    if seen != expected:
        sys.exit(f"raw consume read {seen} records, expected {expected}")


def raw_produce(bootstrap: str, topic: str, partitions: int, records: int, size: int) -> None:
    """Write records of size bytes (slices of one random block: incompressible, cheap to make)
    round-robin over the partitions with the restore producer's settings."""
    producer = Producer({"bootstrap.servers": bootstrap, **producer_settings()})
    pool = random.Random(7).randbytes(size * 64)
    for i in range(records):
        start = (i * 97) % (len(pool) - size)
        while True:
            try:
                # Positional (topic, value, key, partition, on_delivery, callback, timestamp),
                # as the restore calls it: keywords cost a third of the call.
                producer.produce(
                    topic,
                    pool[start : start + size],
                    b"%010d" % i,
                    i % partitions,
                    None,
                    None,
                    1_700_000_000_000 + i,
                )
                break
            except BufferError:
                producer.poll(0.01)
        if i % 1000 == 0:
            producer.poll(0)
    if producer.flush(300) != 0:
        sys.exit("raw produce: records not acknowledged within 300s")


# ---- the parent ----


# Each tool runs under this small launcher, which forks it and reads its rusage: a process's
# peak RSS survives exec, so a tool started straight from this (large) bench process would
# report at least the bench's own size. The launcher's ~10 MiB is the floor instead.
LAUNCHER = """
import json, os, sys, time
out, cmd = sys.argv[1], sys.argv[2:]
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        if cmd[0] == "kcat":  # its records go nowhere, as the other tools' do
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        os.execvp(cmd[0], cmd)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - started
cpu = usage.ru_utime + usage.ru_stime
with open(out, "w") as f:
    json.dump({"wall": wall, "cpu": cpu, "rss_kib": usage.ru_maxrss}, f)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def measure(cmd: list[str], log: Path) -> Sample:
    """Run cmd to its end; its wall time, CPU (its own and its reaped children's) and peak RSS
    (of its largest process)."""
    usage = log.with_suffix(".usage")
    with log.open("wb") as out, log.with_suffix(".err").open("wb") as err:
        launched = [sys.executable, "-c", LAUNCHER, str(usage), *cmd]
        code = subprocess.run(launched, stdout=out, stderr=err, check=False).returncode
    if code != 0:
        output = log.with_suffix(".err").read_text()[-3000:]
        raise SystemExit(f"{' '.join(cmd[:6])}... failed ({code}):\n{output}")
    got = json.loads(usage.read_text())
    return Sample(got["wall"], got["cpu"], got["rss_kib"] / 1024)


def write_config(
    lab_config: Path,
    tmp: Path,
    *,
    jobs: list[str],
    compression: str,
    workers: int,
    overrides: dict[str, dict[str, str]],
) -> Path:
    """The lab's config with one job per backup to run (each job's first run copies
    everything): ``*-enc`` jobs into an encrypted store, the others into the lab's."""
    key = tmp / "bench.key"
    key.write_text(base64.b64encode(os.urandom(32)).decode())
    key.chmod(0o600)
    config = yaml.safe_load(lab_config.read_text())
    config["storage"]["encrypted"] = {
        "url": (tmp / "encrypted-store").as_uri(),
        "encryption": {"current": "k1", "keys": {"k1": f"${{file:{key}}}"}},
    }
    config["state"] = str(tmp / "bench-state.db")
    config["backups"] = {
        name: {
            "cluster": "primary",
            "topics": [name.split("--")[0].replace("_", ".")],
            "compression": compression,
            "workers": workers,
            "storage": "encrypted" if name.endswith("-enc") else "lab",
            "client_overrides": overrides,
        }
        for name in jobs
    }
    path = tmp / "bench.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def job_name(data: Dataset, n: int, encrypted: bool) -> str:
    return f"{data.topic.replace('.', '_')}--{n}" + ("-enc" if encrypted else "")


def delete_topic(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_topics([topic], operation_timeout=30).values():
        future.result(timeout=60)


def command(
    tool: str, data: Dataset, n: int, *, primary: str, dr: str, config: Path, workers: int = 1
) -> list[str]:
    me = [sys.executable, __file__]
    parts = "4"
    if tool == "raw consume":
        return [*me, "--child", "consume", primary, data.topic, parts, str(data.records)]
    if tool == "kcat":
        return ["kcat", "-C", "-b", primary, "-t", data.topic, "-o", "beginning", "-e", "-q"]
    if tool in ("backup", "backup (enc)"):
        job = job_name(data, n, tool != "backup")
        return [KAFKA_DR, "--config", str(config), "backup", "run", job, "--json"]
    target = f"{data.topic}.{tool.replace(' ', '-')}-{n}"
    if tool == "raw produce":
        return [
            *me,
            "--child",
            "produce",
            dr,
            target,
            parts,
            str(data.records),
            str(data.value_size),
        ]
    return [
        KAFKA_DR, "--config", str(config), "restore", "latest", "--job", job_name(data, 1, False),
        "--to", "dr", "--rename", f"{data.topic}={target}", "--no-verify", "--yes", "--json",
        "--workers", str(workers),
    ]  # fmt: skip


def run_dataset(
    data: Dataset,
    rounds: int,
    tools: list[str],
    *,
    primary: str,
    dr: str,
    config: Path,
    tmp: Path,
    workers: int = 1,
) -> dict[str, list[Sample]]:
    """Every tool rounds times, interleaved; the order rotates by one each round."""
    from dr.lab.traffic import create_topic

    samples: dict[str, list[Sample]] = {t: [] for t in tools}
    for n in range(1, rounds + 1):
        shift = (n - 1) % len(tools)
        order = tools[shift:] + tools[:shift]
        if n == 1 and "restore" in order:  # it reads the first round's backup
            order.remove("restore")
            order.append("restore")
        for tool in order:
            target = f"{data.topic}.{tool.replace(' ', '-')}-{n}"
            if tool == "raw produce":
                create_topic(dr, target, partitions=4, replication=1)
            log = tmp / f"{data.name}-{tool.replace(' ', '-')}-{n}.log"
            cmd = command(tool, data, n, primary=primary, dr=dr, config=config, workers=workers)
            samples[tool].append(measure(cmd, log))
            if tool in ("backup", "backup (enc)", "restore"):
                records = json.loads(log.read_text())["records"]
                assert records == data.records, (tool, records, data.records)
            if tool in ("raw produce", "restore"):
                delete_topic(dr, target)
            print(f"  {data.name} round {n} {tool:13} {samples[tool][-1].wall_s:6.2f}s", flush=True)
    return samples


def report(data: Dataset, samples: dict[str, list[Sample]]) -> dict[str, float]:
    print(f"\n{data.name}: {data.records} records of {data.value_size} B, 4 partitions "
          f"({data.mb:.0f} MB), median of {len(samples['backup'])} rounds")  # fmt: skip
    print(f"{'tool':13} {'MB/s':>8} {'records/s':>11} {'wall s':>7} {'CPU-s':>7} {'RSS MiB':>8}")
    wall: dict[str, float] = {}
    for tool in samples:
        s = samples[tool]
        wall[tool] = statistics.median(x.wall_s for x in s)
        cpu = statistics.median(x.cpu_s for x in s)
        rss = max(x.rss_mib for x in s)
        print(
            f"{tool:13} {data.mb / wall[tool]:8.1f} {data.records / wall[tool]:11,.0f} "
            f"{wall[tool]:7.2f} {cpu:7.2f} {rss:8.0f}"
        )
    ours = [x.rss_mib for t in ("backup", "backup (enc)", "restore") for x in samples.get(t, [])]
    wall["rss"] = max(ours, default=0.0)
    return wall


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        kind, args = sys.argv[2], sys.argv[3:]
        if kind == "consume":
            raw_consume(args[0], args[1], int(args[2]), int(args[3]))
        else:
            raw_produce(args[0], args[1], int(args[2]), int(args[3]), int(args[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records-1k", type=int, default=1_000_000)
    parser.add_argument("--records-100b", type=int, default=2_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compression", default="zstd", choices=["zstd", "lz4", "none"])
    parser.add_argument(
        "--workers", type=int, default=1, help="the backup jobs' and the restore's workers"
    )
    parser.add_argument(
        "--tools", default=",".join(TOOLS), help="comma-separated subset of: " + ", ".join(TOOLS)
    )
    for kind in ("consumer", "producer"):
        parser.add_argument(
            f"--{kind}",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help=f"the backup jobs' client_overrides.{kind} (repeatable), to measure a setting",
        )
    args = parser.parse_args()
    tools = [t for t in TOOLS if t in args.tools.split(",")]
    if "restore" in tools and "backup" not in tools:
        raise SystemExit("restore reads the first round's backup: keep backup in --tools")
    overrides = {
        kind: dict(kv.split("=", 1) for kv in getattr(args, kind))
        for kind in ("consumer", "producer")
    }
    if shutil.which("kcat") is None:
        raise SystemExit("kcat is missing: make tools (Debian package kcat)")
    datasets = [
        Dataset("1 KiB", "bench.1k", args.records_1k, 1024),
        Dataset("100 B", "bench.100b", args.records_100b, 100),
    ]
    datasets = [d for d in datasets if d.records > 0]
    from dr.lab.lab import Lab, LabOptions
    from dr.lab.traffic import create_topic

    with tempfile.TemporaryDirectory(prefix="kafka-dr-bench-") as name:
        tmp = Path(name)
        lab = Lab(tmp / "lab")
        lab.up(LabOptions(primary_brokers=1, dr_brokers=1, mirror=False))
        results: dict[str, dict[str, float]] = {}
        try:
            from dr.config import load_config

            settings = load_config(lab.config_path).settings
            primary = settings.clusters["primary"].bootstrap_servers
            dr = settings.clusters["dr"].bootstrap_servers
            jobs = [
                job_name(d, n, enc)
                for d in datasets
                for n in range(1, args.rounds + 1)
                for enc in (False, True)
            ]
            config = write_config(
                lab.config_path,
                tmp,
                jobs=jobs,
                compression=args.compression,
                workers=args.workers,
                overrides=overrides,
            )
            started = time.perf_counter()
            version = measure([KAFKA_DR, "--version"], tmp / "version.log")
            for data in datasets:
                # retention.ms=-1: the records are stamped in 2023, and must not be deleted by
                # time while a backup reads them.
                create_topic(primary, data.topic, partitions=4, replication=1,
                             config={"retention.ms": "-1"})  # fmt: skip
                raw_produce(primary, data.topic, 4, data.records, data.value_size)
                samples = run_dataset(
                    data,
                    args.rounds,
                    tools,
                    primary=primary,
                    dr=dr,
                    config=config,
                    tmp=tmp,
                    workers=args.workers,
                )
                results[data.name] = report(data, samples)
        finally:
            lab.down()
    print(f"\nkafka-dr start-up alone (kafka-dr --version): {version.wall_s:.2f}s wall, "
          f"{version.cpu_s:.2f} CPU-s; whole run {time.perf_counter() - started:.0f}s")  # fmt: skip
    targets = {"1 KiB": 0.8, "100 B": 0.6}
    ratios = [
        ("backup / raw consume", "raw consume", "backup", ">= {:.1f}"),
        ("backup / kcat", "kcat", "backup", ""),
        ("encrypted / plain backup", "backup", "backup (enc)", ">= 0.90"),
        ("restore / raw produce", "raw produce", "restore", ">= 0.90"),
    ]
    for name, w in results.items():
        print(f"\n{name}:")
        for label, base, ours, target in ratios:
            if base in w and ours in w:
                goal = target.format(targets[name]) if target else "none, informative"
                print(f"  {label:24} = {w[base] / w[ours]:.2f} (target {goal})")
        print(f"  {'peak RSS of kafka-dr':24} = {w['rss']:.0f} MiB (target <= 512)")


if __name__ == "__main__":
    main()
