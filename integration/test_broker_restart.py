"""`kafka-dr broker restart` on the lab's 3-node primary (combined KRaft nodes, RF 3, min ISR 2)
under a running producer (acks=all, idempotent, retries) and consumer: nothing fails or is lost,
never more than one node is down, and a run SIGKILLed mid-way is carried on by
`playbook resume` from the node it stopped at."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from dr.lab import processes
from dr.lab.traffic import create_topic
from integration.conftest import RunningLab, run_cli, wait_until

TOPIC = "broker-restart.orders"
PARTITIONS = 6


@pytest.fixture(scope="module")
def topic(lab: RunningLab) -> str:
    create_topic(
        lab.bootstrap("primary"),
        TOPIC,
        partitions=PARTITIONS,
        replication=3,
        config={"min.insync.replicas": "2"},
    )
    return TOPIC


@pytest.fixture(autouse=True)
def primary_all_up(lab: RunningLab) -> Iterator[None]:
    """Whatever happens in a test, every primary node runs afterwards."""
    yield
    for node in lab.lab.state().cluster("primary").nodes:
        if not processes.find_java_by_marker(str(node.spec("primary").config_file)):
            lab.lab_cli("start-node", "primary", str(node.id))


@dataclass
class Traffic:
    """A producer (acks=all, idempotent) and a consumer running in threads, and a sampler
    counting the primary's node processes that are down."""

    lab: RunningLab
    topic: str
    acked: set[str] = field(default_factory=set)
    failed: list[str] = field(default_factory=list)
    consumed: set[str] = field(default_factory=set)
    most_down: int = 0
    samples: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    produced: threading.Event = field(default_factory=threading.Event)  # flushed: acks final

    def produce(self) -> None:
        producer = Producer(
            {
                "bootstrap.servers": self.lab.bootstrap("primary"),
                "acks": "all",
                "enable.idempotence": True,
                "retries": 1_000_000,
                "delivery.timeout.ms": 300_000,
                "linger.ms": 5,
            }
        )

        def delivered(err: Any, msg: Any) -> None:
            key = msg.key().decode()
            if err is not None:
                self.failed.append(f"{key}: {err}")
            else:
                self.acked.add(key)

        seq = 0
        while not self.stop.is_set():
            producer.produce(self.topic, key=f"k{seq}", value=f"v{seq}", on_delivery=delivered)
            seq += 1
            producer.poll(0.01)
        producer.flush(300)
        self.produced.set()

    def consume(self) -> None:
        consumer = Consumer(
            {
                "bootstrap.servers": self.lab.bootstrap("primary"),
                "group.id": f"broker-restart-{uuid.uuid4().hex[:6]}",
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
            }
        )
        consumer.subscribe([self.topic])
        idle_since = None
        try:
            while True:
                msg = consumer.poll(0.5)
                if msg is not None and msg.error() is None:
                    self.consumed.add(msg.key().decode())
                    idle_since = None
                elif msg is not None and msg.error().code() != KafkaError._PARTITION_EOF:
                    continue
                if self.stop.is_set() and self.acked <= self.consumed:
                    return
                if self.stop.is_set():
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since > 120:
                        return
        finally:
            consumer.close()

    def sample(self) -> None:
        nodes = self.lab.lab.state().cluster("primary").nodes
        markers = [str(n.spec("primary").config_file) for n in nodes]
        while not self.stop.is_set():
            down = sum(1 for m in markers if not processes.find_java_by_marker(m))
            self.most_down = max(self.most_down, down)
            self.samples += 1
            time.sleep(0.25)


@pytest.fixture
def traffic(lab: RunningLab, topic: str) -> Iterator[Traffic]:
    running = Traffic(lab, topic)
    threads = [
        threading.Thread(target=f, daemon=True)
        for f in (running.produce, running.consume, running.sample)
    ]
    for t in threads:
        t.start()
    wait_until(lambda: len(running.consumed) > 100, timeout_s=60, what="traffic to flow")
    yield running
    running.stop.set()
    for t in threads:
        t.join(timeout=400)


def keys_in(lab: RunningLab, topic: str) -> set[str]:
    """Every key stored in the topic, read from its beginning to its end offsets."""
    consumer = Consumer(
        {"bootstrap.servers": lab.bootstrap("primary"), "group.id": "broker-restart-check",
         "enable.auto.commit": False, "isolation.level": "read_committed"}
    )  # fmt: skip
    try:
        tps = [TopicPartition(topic, p, 0) for p in range(PARTITIONS)]
        ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=30)[1] for tp in tps}
        consumer.assign(tps)
        keys: set[str] = set()
        positions = dict.fromkeys(ends, 0)
        deadline = time.monotonic() + 300
        while any(positions[p] < ends[p] for p in ends) and time.monotonic() < deadline:
            msg = consumer.poll(1)
            if msg is None or msg.error() is not None:
                continue
            keys.add(msg.key().decode())
            positions[msg.partition()] = msg.offset() + 1
        return keys
    finally:
        consumer.close()


def primary_whole(lab: RunningLab) -> dict[str, Any]:
    def healthy() -> dict[str, Any] | None:
        proc = lab.cli("status", "--cluster", "primary", "--json")
        state: dict[str, Any] = json.loads(proc.stdout)["clusters"]["primary"]
        return state if proc.returncode == 0 and state["healthy"] else None

    found: dict[str, Any] = wait_until(healthy, timeout_s=180, what="primary to be healthy")
    return found


def config_with_hooks(lab: RunningLab, tmp_path: Path, hooks: dict[str, Any]) -> Path:
    settings = yaml.safe_load(lab.config.read_text())
    settings["playbooks"] = {"broker-restart": {"hooks": hooks}}
    path = tmp_path / f"restart-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


def test_a_rolling_restart_under_traffic_killed_mid_way_resumes_at_its_node_and_loses_nothing(
    lab: RunningLab, topic: str, tmp_path: Path, traffic: Traffic
) -> None:
    """One rolling restart, SIGKILLed with its second node stopped and carried on by
    `playbook resume`, under traffic throughout: nothing fails or is lost, never more than one
    node down, leaders balanced and nothing under-replicated at the end."""
    primary_whole(lab)
    planned = lab.cli("broker", "restart", "--cluster", "primary", "--dry-run", "--json")
    order = [int(s["name"].split("_")[1]) for s in json.loads(planned.stdout)["steps"]
             if s["name"].startswith("stop_")]  # fmt: skip
    second = order[1]
    once = tmp_path / "killed"
    kill_once = ["sh", "-c", f"test -e {once} || {{ touch {once}; kill -9 $PPID; }}"]
    # Killed with the second node stopped, before it is started again.
    config = config_with_hooks(lab, tmp_path, {f"start_{second}": {"before": [kill_once]}})
    args = ("broker", "restart", "--cluster", "primary", "--yes", "--json")

    started = time.monotonic()
    killed = run_cli("--config", str(config), *args, timeout=900)
    assert killed.returncode == -9, killed.stdout + killed.stderr
    listed = json.loads(run_cli("--config", str(config), "playbook", "list", "--json").stdout)
    run = listed["runs"][0]
    assert run["playbook"] == "broker-restart" and run["status"] == "interrupted"

    resumed = run_cli(
        "--config", str(config), "playbook", "resume", run["run_id"], "--yes", "--json",
        timeout=900,
    )  # fmt: skip
    took = time.monotonic() - started
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["status"] == "completed" and report["run_id"] == run["run_id"]
    traffic.stop.set()
    assert traffic.produced.wait(300), "the producer did not flush"
    # Lost means acknowledged yet absent from the topic: read it whole, after the fact.
    stored = keys_in(lab, traffic.topic)
    lost = sorted(traffic.acked - stored)
    assert not lost, f"{len(lost)} acknowledged records missing, e.g. {lost[:5]}"
    stopped = [
        s["name"].removeprefix("stop_") for s in report["steps"] if s["name"].startswith("stop_")
    ]
    assert len(stopped) == 3
    assert traffic.failed == []
    assert traffic.acked and len(traffic.consumed) > 100  # the consumer ran throughout
    assert traffic.samples > 100 and traffic.most_down == 1
    verify = next(s for s in report["steps"] if s["name"] == "verify")["detail"]
    assert verify["not_preferred_leaders"] == 0  # leaders balanced
    state_db = yaml.safe_load(config.read_text())["state"]
    with sqlite3.connect(state_db) as db:
        rows = db.execute(
            "SELECT step, event FROM playbook_events WHERE run_id = ? ORDER BY rowid",
            (run["run_id"],),
        ).fetchall()
    done = [step for step, event in rows if event == "step_done"]
    assert len(done) == len(set(done)) == 3 * 5 + 1  # no step done twice
    resumed_at = next(i for i, (_, event) in enumerate(rows) if event == "run_resumed")
    first_after = next(step for step, event in rows[resumed_at:] if event == "step_started")
    assert first_after == f"start_{second}"  # carried on with the node it was stopped at
    before = [step for step, event in rows[:resumed_at] if event == "step_done"]
    assert f"await_{order[0]}" in before and f"stop_{second}" in before
    assert primary_whole(lab)["under_replicated_partitions"] == 0
    print(  # the figures for the report (pytest -s)
        f"\nrolling restart (killed once, resumed): {took:.1f}s total, "
        f"{len(traffic.acked)} records acked, {len(traffic.consumed)} consumed, "
        f"{traffic.samples} samples, most down at once {traffic.most_down}"
    )
