"""kafka-dr cutover and cutover rollback on the lab, with a real app producing and consuming:
nothing lost, nothing read twice, the same records on both sides; then the way back."""

from __future__ import annotations

import json
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

pytestmark = pytest.mark.timeout(900)


@pytest.fixture
def mirror_running(lab: RunningLab) -> Iterator[None]:
    """A planned move stops MirrorMaker and the way back starts it: whatever happens in the
    test, it runs again afterwards."""
    yield
    status = run_cli("lab", "mirror", "status", "--dir", str(lab.lab.dir))
    if status.returncode != 0:
        lab.lab_cli("mirror", "start")
    wait_for_heartbeats(lab, timeout_s=180)


def scoped_config(lab: RunningLab, tmp_path: Path, topic: str, group: str) -> Path:
    """The lab's config with the flow narrowed to this test's topic and group (the session's
    lab holds other tests' topics), and a state of its own."""
    settings: dict[str, Any] = yaml.safe_load(lab.config.read_text())
    flow = settings["mirror"]["flows"][0]
    flow["topics"] = [topic.replace(".", r"\.")]
    flow["groups"] = [group]
    settings["state"] = str(tmp_path / "state.db")
    for name in ("cutover", "rollback", "failback"):
        settings["playbooks"][name]["quiet_s"] = 3
    path = tmp_path / "scoped.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


def run_json(config: Path, *args: str) -> tuple[int, dict[str, Any]]:
    proc = run_cli("--config", str(config), *args, "--yes", "--json", timeout=600)
    try:
        return proc.returncode, json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"exit {proc.returncode}: {proc.stdout}{proc.stderr}") from None


def count_records(bootstrap: str, topic: str) -> int:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    meta = admin.list_topics(topic, timeout=30).topics[topic]
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"n-{uuid.uuid4().hex}"})
    total = 0
    for p in meta.partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
        total += high - low
    consumer.close()
    return total


def on(ledger: Path, bootstrap: str, event: str) -> int:
    return sum(
        1 for e in read_ledger(ledger) if e.event == event and e.cluster_bootstrap == bootstrap
    )


def test_a_cutover_and_its_rollback_lose_and_repeat_nothing_with_a_running_app(
    lab: RunningLab, tmp_path: Path, mirror_running: None
) -> None:
    app = f"co-{uuid.uuid4().hex[:6]}"
    topic, group = f"cut.{uuid.uuid4().hex[:6]}", f"{app}-group"
    primary, dr = lab.bootstrap("primary"), lab.bootstrap("dr")
    create_topic(primary, topic, partitions=3, replication=3)
    config = scoped_config(lab, tmp_path, topic, group)
    lab.lab_cli("app", "start", app, "--produce", "40", "--consume", group, "--topic", topic)
    ledger = lab.lab.dir / "apps" / f"{app}.ledger"
    try:
        wait_until(lambda: on(ledger, primary, "consumed") > 100, timeout_s=60,
                   what="the app consuming on primary")  # fmt: skip
        code, report = run_json(config, "cutover", "--from", "primary", "--to", "dr")
        assert code == 0, report.get("error") or report
        assert report["status"] == "completed"
        assert [s["name"] for s in report["steps"]] == [
            "preflight", "stop_producers", "wait_quiet", "drain", "stop_replication",
            "verify", "commit_offsets", "switch_clients", "prepare_rollback",
        ]  # fmt: skip
        assert report["write_unavailable_seconds"] is not None
        assert report["write_unavailable_seconds"] > 0
        assert report["topics"] == {topic: f"primary.{topic}"}
        assert group in report["groups"]["offsets"]
        assert report["records_compared"] > 100  # the whole partitions: fewer than verify_records
        # The app moved: it produces and consumes on dr.
        wait_until(lambda: on(ledger, dr, "consumed") > 50, timeout_s=90,
                   what="the app consuming on dr")  # fmt: skip
        # Nothing read twice across the move, nothing skipped.
        moved = reconcile(read_ledger(ledger), group=group)
        assert moved.duplicates == 0, dict(list(moved.duplicated.items())[:5])

        # The rollback is killed twice (after its copy, before its commits) and resumed:
        # nothing is copied twice, nothing is missed.
        hooked = yaml.safe_load(config.read_text())
        hooks = hooked["playbooks"]["rollback"]["hooks"]
        hooks["copy_back"] = {"after": [kill_once(tmp_path, "copy")]}
        hooks["commit_offsets"] = {"before": [kill_once(tmp_path, "commit")]}
        config.write_text(yaml.safe_dump(hooked))
        killed = run_cli("--config", str(config), "cutover", "rollback", report["run_id"],
                         "--yes", "--json", timeout=600)  # fmt: skip
        assert killed.returncode == -9, killed.stdout + killed.stderr
        listed = json.loads(run_cli("--config", str(config), "playbook", "list", "--json").stdout)
        rollback_id = listed["runs"][0]["run_id"]
        assert listed["runs"][0]["status"] == "interrupted"
        again = run_cli("--config", str(config), "playbook", "resume", rollback_id, "--yes",
                        "--json", timeout=600)  # fmt: skip
        assert again.returncode == -9, again.stdout + again.stderr
        code, back = run_json(config, "playbook", "resume", rollback_id)
        assert code == 0, back.get("error") or back
        # A rollback done is never done twice (it would copy the same records again).
        code, twice = run_json(config, "cutover", "rollback", report["run_id"])
        assert code == 2 and twice["status"] == "failed"
        assert "undone already" in twice["error"], twice["error"]
        assert back["status"] == "completed" and back["playbook"] == "rollback"
        assert back["copied_back"] > 0
        assert back["records_compared"] == back["copied_back"]
        assert group in back["groups"]["offsets"]
        wait_until(lambda: app_target(lab, app)[0] == primary, timeout_s=60,
                   what="the app back on primary")  # fmt: skip
        before = on(ledger, primary, "consumed")
        wait_until(lambda: on(ledger, primary, "consumed") > before + 50, timeout_s=90,
                   what="the app consuming on primary again")  # fmt: skip
    finally:
        lab.lab_cli("app", "stop", app)
    entries = read_ledger(ledger)
    final = reconcile(entries, group=group)
    assert final.duplicates == 0, dict(list(final.duplicated.items())[:5])
    # Every acknowledged record was consumed, except those acknowledged in the app's last
    # moments before it stopped (it stops consuming and producing at once).
    last_acks = {e.key for e in entries if e.event == "acked"}
    assert len(final.lost) <= 40 * 2, final.lost[:5]
    assert set(final.lost) <= last_acks
    # Both sides hold the same records once MirrorMaker, started again, has caught up.
    wait_until(
        lambda: count_records(primary, topic) == count_records(dr, f"primary.{topic}"),
        timeout_s=120,
        what="the replica to hold as many records as the topic",
    )
    # The records written on dr during the cutover are on primary once, not twice.
    keys = keys_of(primary, topic)
    assert len(keys) == len(set(keys)), "a record copied back twice"


def kill_once(tmp_path: Path, name: str) -> dict[str, Any]:
    """A hook that kills kafka-dr (its parent) the first time it runs."""
    once = tmp_path / f"killed-{name}"
    return {"command": ["sh", "-c", f"test -e {once} || {{ touch {once}; kill -9 $PPID; }}"]}


def app_target(lab: RunningLab, app: str) -> tuple[str, str]:
    """Where the app points now: bootstrap servers and topic."""
    proc = lab.lab_cli("app", "list", "--json")
    for entry in json.loads(proc.stdout):
        if entry["name"] == app:
            return entry["bootstrap"], entry["topic"]
    raise AssertionError(f"no app {app}")


def keys_of(bootstrap: str, topic: str) -> list[str]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"read-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    keys: list[str] = []
    idle = 0
    while idle < 5:
        batch = consumer.consume(num_messages=500, timeout=1)
        idle = idle + 1 if not batch else 0
        keys += [m.key().decode() for m in batch if m.error() is None and m.key()]
    consumer.close()
    return keys


def test_a_cutover_dry_run_changes_nothing_and_a_bad_run_id_is_refused(
    lab: RunningLab, tmp_path: Path
) -> None:
    proc = lab.cli("cutover", "--from", "primary", "--to", "dr", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "DRY RUN" in proc.stdout and "stop_producers" in proc.stdout
    proc = lab.cli("cutover", "rollback", "cutover-nope")
    assert proc.returncode == 2
    assert "no cutover run 'cutover-nope'" in proc.stderr
    assert "Traceback" not in proc.stderr
