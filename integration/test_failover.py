"""kafka-dr failover on the lab: the source lost, groups moved without skipping a record, hooks
told where to go, and a run killed at every step boundary resumed to the same end state. (The
whole primary killed under a running app, then failed over: test_failback.py, whose failback
follows that same failover.)"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from dr.lab.traffic import create_topic, produce_records, wait_for_records
from integration.conftest import RunningLab, run_cli, wait_for_heartbeats, wait_until

pytestmark = pytest.mark.timeout(900)
STEPS = [
    "assess",
    "record_loss",
    "stop_replication",
    "commit_offsets",
    "verify_target",
    "switch_clients",
]
COMMITS = {0: 150, 1: 120, 2: 90}


@pytest.fixture
def mirror_restarted(lab: RunningLab) -> Iterator[None]:
    """A failover stops MirrorMaker: start it again afterwards, with fresh heartbeats."""
    yield
    lab.lab_cli("mirror", "start")
    wait_for_heartbeats(lab)


def checkpointed_group(lab: RunningLab) -> tuple[str, str]:
    """A topic of 600 records replicated to dr, and a group whose commits MirrorMaker has
    checkpointed."""
    topic, group = f"fo.{uuid.uuid4().hex[:6]}", f"fo-{uuid.uuid4().hex[:6]}"
    primary = lab.bootstrap("primary")
    create_topic(primary, topic, partitions=3, replication=3)
    produce_records(primary, topic, 600)
    wait_for_records(lab.bootstrap("dr"), f"primary.{topic}", 600, timeout_s=120)
    admin = AdminClient({"bootstrap.servers": primary})
    tps = [TopicPartition(topic, p, o) for p, o in COMMITS.items()]

    def committed() -> bool:
        done = admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, tps)])
        return all(tp.error is None for tp in done[group].result(30).topic_partitions)

    wait_until(committed, timeout_s=150, what="the group's commit")

    def checkpoints() -> bool:
        proc = lab.cli(
            "offsets", "translate", "--group", group, "--from", "primary", "--to", "dr", "--json"
        )
        parts = json.loads(proc.stdout)["partitions"] if proc.returncode == 0 else []
        return len(parts) == 3 and all(p["basis"] == "checkpoint" for p in parts)

    wait_until(checkpoints, timeout_s=120, what="MirrorMaker's checkpoints of the group")
    return topic, group


def config_with(lab: RunningLab, tmp_path: Path, *, lost: bool, hooks: dict[str, Any]) -> Path:
    settings = yaml.safe_load(lab.config.read_text())
    if lost:  # the primary is gone: nothing answers where it was
        settings["clusters"]["primary"]["bootstrap_servers"] = "127.0.0.1:1"
    settings["playbooks"] = {"failover": {"hooks": hooks}}
    # A state of its own: a completed failover keeps the lab's `mirror restart` refused.
    settings["state"] = str(tmp_path / "state.db")
    path = tmp_path / f"failover-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


def dr_offsets(lab: RunningLab, group: str, topic: str) -> dict[int, int]:
    admin = AdminClient({"bootstrap.servers": lab.bootstrap("dr")})
    found = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])
    return {
        tp.partition: tp.offset
        for tp in found[group].result(30).topic_partitions
        if tp.topic == f"primary.{topic}"
    }


def first_keys_on_dr(lab: RunningLab, group: str, topic: str) -> dict[int, int]:
    """What the moved group reads first on dr, per partition (keys are source sequence numbers
    given round-robin, so a key is comparable only to its own partition's keys)."""
    consumer = Consumer(
        {
            "bootstrap.servers": lab.bootstrap("dr"),
            "group.id": group,
            "auto.offset.reset": "latest",  # a group without an offset would read nothing
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([f"primary.{topic}"])
    first: dict[int, int] = {}
    deadline = time.monotonic() + 60
    while len(first) < 3 and time.monotonic() < deadline:
        for msg in consumer.consume(num_messages=100, timeout=1):
            if msg.error() is None:
                first.setdefault(msg.partition(), int(msg.key()))
    consumer.close()
    return first


def source_keys(lab: RunningLab, topic: str) -> dict[int, list[int]]:
    consumer = Consumer(
        {"bootstrap.servers": lab.bootstrap("primary"), "group.id": f"read-{uuid.uuid4().hex}"}
    )
    keys: dict[int, list[int]] = {}
    for p in COMMITS:
        consumer.assign([TopicPartition(topic, p, 0)])
        while len(keys.get(p, [])) < 200:
            msg = consumer.poll(5)
            if msg is None:
                break
            if msg.error() is None and msg.partition() == p:
                keys.setdefault(p, []).append(int(msg.key()))
    consumer.close()
    return keys


def test_a_failover_from_a_lost_primary_moves_groups_without_skipping_and_tells_the_hooks(
    lab: RunningLab, tmp_path: Path, mirror_restarted: None
) -> None:
    topic, group = checkpointed_group(lab)
    seen = tmp_path / "hook-stdin.json"
    env_seen = tmp_path / "hook-env.txt"
    hook = [
        sys.executable,
        "-c",
        "import os, sys; open(sys.argv[1], 'w').write(sys.stdin.read()); "
        "open(sys.argv[2], 'w').write(os.environ['KAFKA_DR_TO_BOOTSTRAP'])",
        str(seen),
        str(env_seen),
    ]
    config = config_with(lab, tmp_path, lost=True, hooks={"switch_clients": {"after": [hook]}})

    proc = run_cli("--config", str(config), "failover", "--from", "primary", "--to", "dr",
                   "--yes", "--json")  # fmt: skip

    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["status"] == "completed"
    assert [s["name"] for s in report["steps"]] == STEPS
    assert all(s["status"] in ("done", "already-done") for s in report["steps"])
    assert report["topics"][topic] == f"primary.{topic}"
    assert report["rpo"]["seconds"] is None and "cannot be read" in report["rpo"]["unmeasured"]
    assert report["rto_seconds"] > 0
    committed = report["groups"]["offsets"][group]
    on_dr = dr_offsets(lab, group, topic)
    assert on_dr == {int(k.split(":")[1]): v for k, v in committed.items()}
    # Never a skip: what the group reads first on dr is at or before its commit on primary.
    keys = source_keys(lab, topic)
    for p, key in first_keys_on_dr(lab, group, topic).items():
        assert key in keys[p][: COMMITS[p] + 1], f"partition {p}: resumes at key {key}"
    told = json.loads(seen.read_text())
    assert told["step"] == "switch_clients" and told["to"] == "dr"
    assert told["topics"][topic] == f"primary.{topic}"
    assert group in told["groups"]
    assert env_seen.read_text() == lab.bootstrap("dr")
    # The flow stays stopped: restarting it would copy a returning primary into dr.
    again = run_cli("--config", str(config), "mirror", "restart")
    assert again.returncode == 2 and "stopped by failover" in again.stderr, again.stderr


def test_a_failover_killed_at_every_step_boundary_resumes_each_time_to_the_same_end(
    lab: RunningLab, tmp_path: Path, mirror_restarted: None
) -> None:
    topic, group = checkpointed_group(lab)

    def kill_once(name: str) -> list[str]:
        once = tmp_path / f"killed-{name}"
        return ["sh", "-c", f"test -e {once} || {{ touch {once}; kill -9 $PPID; }}"]

    hooks: dict[str, Any] = {step: {"before": [kill_once(step)]} for step in STEPS}
    hooks["switch_clients"]["after"] = [kill_once("after-switch")]
    config = config_with(lab, tmp_path, lost=False, hooks=hooks)
    args = ("failover", "--from", "primary", "--to", "dr", "--force", "--yes", "--json")

    killed = run_cli("--config", str(config), *args)
    assert killed.returncode == -9, killed.stdout + killed.stderr
    run_id = json.loads(run_cli("--config", str(config), "playbook", "list", "--json").stdout)[
        "runs"
    ][0]["run_id"]
    for boundary in [*STEPS[1:], "after switch_clients"]:
        listed = json.loads(run_cli("--config", str(config), "playbook", "list", "--json").stdout)
        assert listed["runs"][0]["status"] == "interrupted", boundary
        again = run_cli("--config", str(config), "playbook", "resume", run_id, "--yes", "--json")
        assert again.returncode == -9, f"not killed at {boundary}: {again.stderr}"

    resumed = run_cli("--config", str(config), "playbook", "resume", run_id, "--yes", "--json")

    # 1 is "completed with an objective breached": the whole flow's RPO counts, and older
    # tests leave topics with records from 2001 on the lab.
    assert resumed.returncode in (0, 1), resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["status"] == "completed" and report["run_id"] == run_id
    assert report["rto_seconds"] is not None
    committed = report["groups"]["offsets"][group]
    assert dr_offsets(lab, group, topic) == {int(k.split(":")[1]): v for k, v in committed.items()}
    keys = source_keys(lab, topic)
    for p, key in first_keys_on_dr(lab, group, topic).items():
        assert key in keys[p][: COMMITS[p] + 1], f"partition {p}: resumes at key {key}"
    # Each step was journaled done once: none was repeated after the kill that followed it.
    state = yaml.safe_load(config.read_text())["state"]
    with sqlite3.connect(state) as db:
        done = db.execute(
            "SELECT step, COUNT(*) FROM playbook_events WHERE run_id = ? AND event = "
            "'step_done' GROUP BY step",
            (run_id,),
        ).fetchall()
    assert dict(done) == dict.fromkeys(STEPS, 1)


def test_a_failover_refuses_while_the_source_answers(lab: RunningLab) -> None:
    proc = lab.cli("failover", "--from", "primary", "--to", "dr", "--yes")
    assert proc.returncode == 2
    assert "answers" in proc.stdout + proc.stderr and "cutover" in proc.stdout + proc.stderr


def test_a_dry_run_changes_nothing(lab: RunningLab) -> None:
    proc = lab.cli("failover", "--from", "primary", "--to", "dr", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "DRY RUN" in proc.stdout and "stop_replication: DESTRUCTIVE" in proc.stdout
    status = subprocess.run(
        [sys.executable, "-m", "dr", "lab", "mirror", "status", "--dir", str(lab.lab.dir)],
        capture_output=True,
        check=False,
    )
    assert status.returncode == 0, "a dry run stopped MirrorMaker"
