"""The failover's offsets step for 1,000 consumer groups x 10 partitions, beside Kafka's own
kafka-consumer-groups --reset-offsets run once per group.

Starts its own lean lab (one broker per cluster, no MirrorMaker) unless --lab-dir names a
running one. On the dr cluster it creates a replica topic ``primary.bench-<run>`` (10
partitions, 200 records each) and writes MirrorMaker 2 checkpoints for every group and
partition into ``primary.checkpoints.internal``, in the exact bytes MirrorMaker writes
(encode_checkpoint): --checkpoint-rounds of them (default 2), the newer with other offsets,
as the topic holds after a few checkpoint intervals. Then it measures:

  offsets step  the failover playbook's own commit_offsets step, run alone as after an assess
                that found the primary lost: read the checkpoints topic, translate every
                group, ask the groups' members on dr, commit every group's offsets on dr (the
                run's groups, by the failover's --groups regex, so that a reused lab's earlier
                checkpoints are read, as they would be, but not committed)
  baseline      kafka-consumer-groups --reset-offsets --from-file F --execute, one JVM per
                group (as a shell runbook does it), for --baseline-sample fresh groups given the
                same offsets; its mean time per call is extrapolated to all the groups

Nothing is taken on trust: every group's committed offsets (the step's and the baseline's) are
read back from dr and must equal the newest checkpoint's downstream offsets. Prints both
times, the target (step < 10 s) and the ratio baseline / step, and where the step's time goes
(a second pass of the same calls, timed one by one).

    python bench/failover_groups.py [--groups 1000] [--partitions 10] [--baseline-sample 20]
                                    [--checkpoint-rounds 2] [--lab-dir DIR]
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from dr.config.load import parse_config
from dr.config.schema import Settings
from dr.errors import KafkaError
from dr.kafka import admin as kadmin
from dr.kafka.client import admin_client
from dr.kafka.jars import KafkaJars
from dr.kafka.java import run_tool
from dr.lab.lab import Lab, LabOptions
from dr.mirror.offsets import load_translation
from dr.mirror.records import Checkpoint, checkpoints_topic, encode_checkpoint
from dr.playbooks.failover import failover_playbook
from dr.steps import StepContext

SOURCE, TARGET = "primary", "dr"
RECORDS_PER_PARTITION = 200
TARGET_S = 10.0
TIMEOUT_S = 60.0
CONSUMER_GROUPS = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"
Offsets = dict[str, dict[tuple[str, int], int]]  # group -> (target topic, partition) -> offset


@contextmanager
def lab_at(lab_dir: str | None) -> Iterator[Lab]:
    """The running lab in lab_dir, or a lean one of our own, stopped on the way out."""
    if lab_dir is not None:
        lab = Lab(Path(lab_dir))
        if not lab.is_up():
            raise SystemExit(f"no lab is running in {lab_dir}: start one with 'kafka-dr lab up'")
        yield lab
        return
    with tempfile.TemporaryDirectory(prefix="kafka-dr-bench-") as tmp:
        lab = Lab(Path(tmp) / "lab")
        lab.up(LabOptions(primary_brokers=1, dr_brokers=1, mirror=False))
        try:
            yield lab
        finally:
            lab.down()


def settings_for(lab: Lab) -> Settings:
    """The lab's config, with the flow primary->dr the failover needs when the lab has none
    (a lab started without MirrorMaker)."""
    config: dict[str, Any] = yaml.safe_load(lab.config_path.read_text())
    mirror = config.setdefault("mirror", {})
    if not any(f["source"] == SOURCE and f["target"] == TARGET for f in mirror.get("flows") or []):
        mirror.setdefault("flows", []).append({"source": SOURCE, "target": TARGET})
    return parse_config(yaml.safe_dump(config), source="bench", base_dir=lab.config_path.parent)


def create_topics(bootstrap: str, replica: str, partitions: int) -> None:
    """The replica topic, and the checkpoints topic as MirrorMaker creates it (one compacted
    partition) unless MirrorMaker already has."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    wanted = [NewTopic(replica, num_partitions=partitions, replication_factor=1)]
    internal = checkpoints_topic(SOURCE)
    if internal not in admin.list_topics(timeout=30).topics:
        compacted = {"cleanup.policy": "compact"}
        wanted.append(NewTopic(internal, num_partitions=1, replication_factor=1, config=compacted))
    for future in admin.create_topics(wanted, operation_timeout=60).values():
        future.result(90)


def fill_replica(bootstrap: str, replica: str, partitions: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    for p in range(partitions):
        for i in range(RECORDS_PER_PARTITION):
            producer.produce(replica, b"record-%d" % i, b"%d" % i, partition=p)
        producer.poll(0)
    if producer.flush(120) != 0:
        raise SystemExit(f"could not fill {replica} on {TARGET}")


def checkpoint_rounds(
    groups: list[str], replica: str, partitions: int, rounds: int
) -> list[Offsets]:
    """Each round's downstream offsets per group and partition (within the replica's records);
    the last round is what the failover must commit."""
    rng = random.Random(9)
    return [
        {
            g: {(replica, p): rng.randint(1, RECORDS_PER_PARTITION) for p in range(partitions)}
            for g in groups
        }
        for _ in range(rounds)
    ]


def write_checkpoints(bootstrap: str, rounds: list[Offsets]) -> int:
    """Produce the rounds into the checkpoints topic, oldest first; returns the records written.
    The upstream offset is the downstream one shifted, as if the source log had been trimmed."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "acks": "all"})
    topic, written = checkpoints_topic(SOURCE), 0
    for offsets in rounds:
        for group, by_tp in offsets.items():
            for (replica, p), downstream in by_tp.items():
                record = encode_checkpoint(
                    Checkpoint(group, replica, p, downstream + 5_000, downstream, "")
                )
                producer.produce(topic, record.value, record.key, partition=0)
                written += 1
            producer.poll(0)
    if producer.flush(120) != 0:
        raise SystemExit(f"could not write the checkpoints into {topic} on {TARGET}")
    return written


def warm_group_coordinator(settings: Settings) -> None:
    """Have dr create __consumer_offsets, as any group does: a real DR cluster has it (the
    MirrorMaker workers' own group lives there), a fresh lab does not, and its creation is no
    part of the step (the first describe answers NOT_COORDINATOR while it is created)."""
    admin = admin_client(settings.clusters[TARGET])
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        try:
            kadmin.group_members(admin, ["bench.warm-up"], 10)
            return
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def run_offsets_step(settings: Settings, pattern: str) -> tuple[float, Mapping[str, Any]]:
    """The failover's commit_offsets step alone, after an assess that found the source lost;
    returns its seconds and outputs."""
    playbook = failover_playbook(settings, source=SOURCE, target=TARGET, groups=pattern, force=True)
    step = next(s for s in playbook.steps if s.name == "commit_offsets")
    assessed = {
        "target_cluster_id": kadmin.cluster_id(admin_client(settings.clusters[TARGET]), 10),
        "source_reachable": False,
        "source_cluster_id": None,
        "source_unreachable": "bench: the source is declared lost",
        "topics": {},
    }
    ctx = StepContext("bench", "failover", playbook.params, {"assess": assessed})
    started = time.perf_counter()
    outputs = step.run(ctx)
    return time.perf_counter() - started, outputs or {}


def time_calls(settings: Settings, pattern: str) -> dict[str, float]:
    """The step's calls one by one (a second pass: the commit writes the same offsets again)."""
    admin = admin_client(settings.clusters[TARGET])
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    translation = load_translation(settings, SOURCE, TARGET, source_lost="bench")
    seconds["read checkpoints"] = time.perf_counter() - started
    chosen = [g for g in translation.groups if re.fullmatch(pattern, g)]
    started = time.perf_counter()
    results = [translation.translate(g) for g in chosen]
    seconds["translate"] = time.perf_counter() - started
    started = time.perf_counter()
    kadmin.group_members(admin, chosen, TIMEOUT_S)
    seconds["describe groups"] = time.perf_counter() - started
    wanted = {r.group: {(p.topic, p.partition): p.offset for p in r.partitions} for r in results}
    started = time.perf_counter()
    failed = kadmin.alter_groups_offsets(admin, wanted, TIMEOUT_S)
    seconds["commit"] = time.perf_counter() - started
    if failed:
        raise SystemExit(f"second pass: {len(failed)} group(s) failed to commit: {failed}")
    return seconds


def check_step_outputs(outputs: Mapping[str, Any], expected: Offsets) -> None:
    """The step's own report must name every group, with the newest checkpoints' offsets."""
    committed: Offsets = {}
    for group, by_tp in outputs["committed"].items():
        for key, offset in by_tp.items():
            topic, partition = key.rsplit(":", 1)  # the step reports "topic:partition"
            committed.setdefault(group, {})[(topic, int(partition))] = offset
    if outputs["skipped"] or outputs["missing"] or committed != expected:
        right = sum(committed.get(g) == offsets for g, offsets in expected.items())
        raise SystemExit(
            f"the step reports {right} of {len(expected)} groups with the newest checkpoints' "
            f"offsets ({len(committed)} committed); skipped {len(outputs['skipped'])}, "
            f"missing {len(outputs['missing'])} partitions"
        )


def check_committed(settings: Settings, expected: Offsets, what: str) -> None:
    """Read the groups' committed offsets back from dr; exits naming the first difference."""
    admin = admin_client(settings.clusters[TARGET])
    found = kadmin.committed_offsets_of(admin, list(expected), TIMEOUT_S)
    wrong = [g for g in expected if found.get(g) != expected[g]]
    if wrong:
        g = wrong[0]
        raise SystemExit(
            f"{what}: {len(wrong)} of {len(expected)} groups hold other offsets on {TARGET} "
            f"than checkpointed; first {g}: found {found.get(g)}, expected {expected[g]}"
        )


def run_baseline(jars: KafkaJars, bootstrap: str, offsets: Offsets, tmp: Path) -> list[float]:
    """kafka-consumer-groups --reset-offsets --execute, one call (one JVM) per group, each
    given its translated offsets in a CSV as a shell runbook would; returns each call's time."""
    times = []
    for group, by_tp in offsets.items():
        plan = tmp / f"{group}.csv"
        plan.write_text("".join(f"{t},{p},{o}\n" for (t, p), o in sorted(by_tp.items())))
        args = ["--bootstrap-server", bootstrap, "--group", group, "--reset-offsets"]
        started = time.perf_counter()
        run_tool(jars, CONSUMER_GROUPS, [*args, "--from-file", str(plan), "--execute"])
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--groups", type=int, default=1000, help="consumer groups")
    parser.add_argument("--partitions", type=int, default=10, help="partitions per group")
    parser.add_argument(
        "--baseline-sample", type=int, default=20, help="kafka-consumer-groups calls measured"
    )
    parser.add_argument(
        "--checkpoint-rounds", type=int, default=2, help="checkpoints per group and partition"
    )
    parser.add_argument("--lab-dir", help="a running lab to use (default: start a lean one)")
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    replica = f"{SOURCE}.bench-{run}"
    groups = [f"bench.{run}.group-{i:04d}" for i in range(args.groups)]
    pattern = re.escape(f"bench.{run}.group-") + ".*"
    with lab_at(args.lab_dir) as lab, tempfile.TemporaryDirectory() as tmp:
        settings = settings_for(lab)
        dr = settings.clusters[TARGET].bootstrap_servers
        started = time.perf_counter()
        create_topics(dr, replica, args.partitions)
        fill_replica(dr, replica, args.partitions)
        rounds = checkpoint_rounds(groups, replica, args.partitions, args.checkpoint_rounds)
        written = write_checkpoints(dr, rounds)
        warm_group_coordinator(settings)
        expected = rounds[-1]
        print(
            f"setup: {replica} ({args.partitions} x {RECORDS_PER_PARTITION} records) and "
            f"{written} checkpoints ({args.checkpoint_rounds} rounds) for {args.groups} groups "
            f"on {TARGET} in {time.perf_counter() - started:.1f}s"
        )

        step_s, outputs = run_offsets_step(settings, pattern)
        check_step_outputs(outputs, expected)
        check_committed(settings, expected, "offsets step")
        calls = time_calls(settings, pattern)

        state = lab.state()
        jars = KafkaJars(state.kafka_version, Path(state.libs), "lab")
        sample = {
            f"bench.{run}.cli-{i:04d}": offsets
            for i, offsets in enumerate(list(expected.values())[: args.baseline_sample])
        }
        times = run_baseline(jars, dr, sample, Path(tmp))
        check_committed(settings, sample, "baseline")
    report(args, step_s, calls, times, state.kafka_version)


def report(
    args: argparse.Namespace,
    step_s: float,
    calls: Mapping[str, float],
    times: list[float],
    version: str,
) -> None:
    per_call = statistics.mean(times)
    baseline_s = per_call * args.groups
    print(
        f"offsets step: {args.groups} groups x {args.partitions} partitions in {step_s:.2f} s "
        f"(target < {TARGET_S:.0f} s: {'met' if step_s < TARGET_S else 'MISSED'}); "
        "committed offsets read back from dr: all equal the newest checkpoints"
    )
    print(
        "  second pass (the groups now exist on dr), call by call: "
        + ", ".join(f"{k} {v:.2f} s" for k, v in calls.items())
    )
    print(
        f"baseline kafka-consumer-groups --reset-offsets --execute (Kafka {version}), one group "
        f"per call: {per_call:.2f} s/group, mean of {len(times)} measured calls "
        f"(min {min(times):.2f}, max {max(times):.2f}) -> {baseline_s:.0f} s for "
        f"{args.groups} groups (extrapolated from the {len(times)} measured calls)"
    )
    print(f"ratio baseline / offsets step: {baseline_s / step_s:.0f}x")


if __name__ == "__main__":
    main()
