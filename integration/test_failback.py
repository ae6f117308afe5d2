"""kafka-dr failover and failback on the lab: the primary killed with a running app, a failover
to dr, the primary back, a failback. The app on dr skips nothing replicated (duplicates
bounded); nothing acknowledged on either cluster is lost: what never reached dr is in the
divergence archive, what was written on dr is on primary, the app ends on primary."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from dr.lab.ledger import read_ledger, reconcile
from dr.lab.traffic import create_topic
from integration.conftest import RunningLab, run_cli, wait_for_heartbeats, wait_until
from integration.test_cutover import (
    app_target,
    count_records,
    keys_of,
    kill_once,
    on,
    run_json,
    scoped_config,
)

pytestmark = pytest.mark.timeout(900)


@pytest.fixture
def primary_and_mirror_back(lab: RunningLab) -> Iterator[None]:
    yield
    lab.lab_cli("start-cluster", "primary")
    if run_cli("lab", "mirror", "status", "--dir", str(lab.lab.dir)).returncode != 0:
        lab.lab_cli("mirror", "start")
    wait_for_heartbeats(lab, timeout_s=180)


def keys_in(bootstrap: str, topic: str, ranges: list[dict[str, Any]]) -> set[str]:
    """The keys of the records in [start_offset, end_offset) of each partition."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"r-{uuid.uuid4().hex}",
                         "enable.auto.commit": False})  # fmt: skip
    keys: set[str] = set()
    for r in ranges:
        consumer.assign([TopicPartition(topic, r["partition"], r["start_offset"])])
        while True:
            msg = consumer.poll(5)
            if msg is None or msg.error() is not None or msg.offset() >= r["end_offset"]:
                break
            keys.add(msg.key().decode())
            if msg.offset() >= r["end_offset"] - 1:
                break
    consumer.close()
    return keys


def replica_keys(bootstrap: str, topic: str) -> set[str]:
    """The keys of the records in the topic up to its current ends (it may be written to)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    partitions = admin.list_topics(topic, timeout=30).topics[topic].partitions
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"w-{uuid.uuid4().hex}"})
    ranges = []
    for p in partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
        if high > low:
            ranges.append({"partition": p, "start_offset": low, "end_offset": high})
    consumer.close()
    return keys_in(bootstrap, topic, ranges)


def test_a_failover_and_failback_skip_nothing_archive_what_never_reached_dr_and_bring_the_app_home(
    lab: RunningLab, tmp_path: Path, primary_and_mirror_back: None
) -> None:
    app = f"fb-{uuid.uuid4().hex[:6]}"
    topic, group = f"fb.{uuid.uuid4().hex[:6]}", f"{app}-group"
    primary, dr = lab.bootstrap("primary"), lab.bootstrap("dr")
    create_topic(primary, topic, partitions=3, replication=3)
    config = scoped_config(lab, tmp_path, topic, group)
    lab.lab_cli("app", "start", app, "--produce", "40", "--consume", group, "--topic", topic)
    ledger = lab.lab.dir / "apps" / f"{app}.ledger"
    try:

        def checkpointed() -> bool:
            proc = run_cli("--config", str(config), "offsets", "translate", "--group", group,
                           "--from", "primary", "--to", "dr", "--json")  # fmt: skip
            parts = json.loads(proc.stdout)["partitions"] if proc.returncode == 0 else []
            return len(parts) == 3 and all(
                p["basis"] == "checkpoint" or p["checkpoint_upstream_offset"] is not None
                for p in parts
            )

        wait_until(checkpointed, timeout_s=120, what="checkpoints of the app's group")
        lab.lab_cli("stop-cluster", "primary", "--kill")
        killed_at = time.time()
        code, over = run_json(config, "failover", "--from", "primary", "--to", "dr")
        assert code in (0, 1) and over["status"] == "completed", over.get("error")
        assert over["rpo"]["seconds"] is None  # the primary is gone: unmeasured, not 0
        assert group in over["groups"]["offsets"]
        wait_until(lambda: on(ledger, dr, "acked") > 100 and on(ledger, dr, "consumed") > 50,
                   timeout_s=120, what="the app producing and consuming on dr")  # fmt: skip
        _skips_nothing_on_dr(ledger, over, primary=primary, dr=dr, topic=topic,
                             killed_at=killed_at)  # fmt: skip

        lab.lab_cli("start-cluster", "primary")
        # Killed once MirrorMaker was started again, before that step was journaled: the
        # resume must not move its positions again (that would skip what it copied since).
        hooked = yaml.safe_load(config.read_text())
        hooked["playbooks"]["failback"]["hooks"]["restore_flow"] = {
            "after": [kill_once(tmp_path, "restore-flow")]
        }
        config.write_text(yaml.safe_dump(hooked))
        killed = run_cli("--config", str(config), "failback", "--from", "dr", "--to", "primary",
                         "--yes", "--json", timeout=600)  # fmt: skip
        assert killed.returncode == -9, killed.stdout + killed.stderr
        listed = json.loads(run_cli("--config", str(config), "playbook", "list", "--json").stdout)
        code, back = run_json(config, "playbook", "resume", listed["runs"][0]["run_id"])
        assert code == 0, back.get("error") or back
        assert back["steps"][-1]["detail"].get("already_started") is True
        assert back["status"] == "completed" and back["playbook"] == "failback"
        divergence = back["divergence"]
        archive = divergence["archive"]
        assert archive["records"] == divergence["records"]
        assert back["copied_back"] >= on(ledger, dr, "acked") - 40 * 10
        assert back["records_compared"] == back["copied_back"]
        assert back["write_unavailable_seconds"] is not None
        wait_until(lambda: on(ledger, primary, "consumed") > 0
                   and app_target(lab, app) == (primary, topic), timeout_s=120,
                   what="the app back on primary, on its topic")  # fmt: skip
        before = on(ledger, primary, "acked")
        wait_until(lambda: on(ledger, primary, "acked") > before + 40, timeout_s=60,
                   what="the app producing on primary again")  # fmt: skip
    finally:
        lab.lab_cli("app", "stop", app)
    entries = read_ledger(ledger)
    diverged = keys_in(primary, topic, divergence["partitions"])
    assert len(diverged) == divergence["records"]
    final = reconcile(entries, group=group)
    # Lost = acknowledged, never consumed: only the diverged records (archived, skipped by the
    # moved consumers) and those acknowledged in the app's last moment before it stopped.
    unexplained = set(final.lost) - diverged
    assert len(unexplained) <= 80, sorted(unexplained)[:5]
    # Everything acknowledged on dr is on primary now, once.
    on_primary = keys_of(primary, topic)
    acked_dr = {e.key for e in entries if e.event == "acked" and e.cluster_bootstrap == dr}
    assert acked_dr <= set(on_primary)
    assert len(on_primary) == len(set(on_primary)), "a record copied back twice"
    # The flow runs again from primary's end: dr gets what primary holds, minus the divergence.
    wait_until(
        lambda: (
            count_records(primary, topic)
            == count_records(dr, f"primary.{topic}") + divergence["records"]
        ),
        timeout_s=180,
        what="the replica to catch up with primary after the failback",
    )
    # The archive is an ordinary backup: listed under its job.
    proc = run_cli("--config", str(config), "backup", "list", archive["job"], "--json")
    assert proc.returncode == 0, proc.stderr
    assert archive["backup_id"] in proc.stdout


def _skips_nothing_on_dr(
    ledger: Path, over: dict[str, Any], *, primary: str, dr: str, topic: str, killed_at: float
) -> None:
    """The app moved to dr by the failover: every record acknowledged on primary and
    replicated is consumed (on primary before the kill or on dr after), duplicates bounded."""
    # The failover stopped MirrorMaker: what is replicated stays as it is, the app adds its own.
    replica = replica_keys(dr, f"primary.{topic}")
    entries = read_ledger(ledger)
    replicated = {
        e.key for e in entries if e.event == "acked" and e.cluster_bootstrap == primary
    } & replica
    assert replicated, "nothing was replicated before the kill"

    def caught_up() -> bool:
        nonlocal entries
        entries = read_ledger(ledger)
        return replicated <= {e.key for e in entries if e.event == "consumed"}

    # A skipped record is never consumed: this waits only for the app to read the backlog.
    wait_until(caught_up, timeout_s=60, interval_s=0.5,
               what="the app to consume every replicated record")  # fmt: skip
    consumed = [e for e in entries if e.event == "consumed"]
    # Duplicates: records consumed on primary after the group's last checkpoint, re-read on
    # dr. Bounded by what the app consumed in the last checkpoint interval before the kill
    # (5 s here) plus its commit delay, and never more than MirrorMaker's offset.lag.max
    # per partition on top.
    dups = len(consumed) - len({e.key for e in consumed})
    recent = [e for e in consumed if e.cluster_bootstrap != dr
              and e.time.timestamp() >= killed_at - 15]  # fmt: skip
    assert dups <= len(recent) + 3 * 100, (dups, len(recent))
    # The report's per-partition replica ends are the replica as it was at the failover.
    ends = sum(p["replicated_records_end"] for p in over["rpo"]["partitions"]
               if p["topic"] == topic)  # fmt: skip
    assert ends >= len(replicated)
