"""Backups never silently lose, mix or misplace data: each case on the real lab.

Every test here failed on the code before the integrity work: old CreateTimes dropped by
keep_days, a re-created topic mixed with its old self, leaderless partitions written as empty
ranges, deleted topics carried forward without configs, manifests without integrity.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from dr.backup.catalog import encode_manifest, manifest_from_dict
from dr.lab.traffic import count_records, create_topic
from integration.conftest import RunningLab, run_cli, wait_until

pytestmark = pytest.mark.timeout(900)

YEAR_2001_MS = 978_307_200_000
P = f"int{uuid.uuid4().hex[:6]}"  # topics of this run: a reused development lab keeps topics


def config_for(lab: RunningLab, tmp: Path, topics: list[str], **job: Any) -> Path:
    config = yaml.safe_load(lab.config.read_text())
    config["storage"] = {"local": {"url": (tmp / "store").as_uri()}}
    config["backups"] = {"job": {"cluster": "primary", "topics": topics, "storage": "local"} | job}
    config["state"] = str(tmp / "state.db")
    path = tmp / "kafka-dr.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def cli(config: Path, *args: str) -> tuple[int, Any]:
    proc = run_cli("--config", str(config), *args, timeout=600)
    try:
        return proc.returncode, json.loads(proc.stdout)
    except json.JSONDecodeError:
        return proc.returncode, proc.stdout + proc.stderr


def produce(
    bootstrap: str, topic: str, count: int, *, timestamp_ms: int | None = None, prefix: str = "k"
) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for i in range(count):
        kwargs: dict[str, Any] = {"timestamp": timestamp_ms + i} if timestamp_ms else {}
        producer.produce(topic, key=f"{prefix}{i}".encode(), value=f"v{i}".encode(), **kwargs)
        producer.poll(0)
    assert producer.flush(60) == 0


def seeded(lab: RunningLab, tmp: Path, name: str, records: int, **job: Any) -> Path:
    """A one-partition topic P.name holding records, and the config of a job backing it up."""
    primary = lab.bootstrap("primary")
    create_topic(primary, f"{P}.{name}", partitions=1, replication=3)
    if records:
        produce(primary, f"{P}.{name}", records)
    return config_for(lab, tmp, [re.escape(f"{P}.{name}")], **job)


def delete_topic(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.delete_topics([topic], operation_timeout=30)[topic].result(timeout=60)
    wait_until(
        lambda: topic not in admin.list_topics(timeout=10).topics,
        timeout_s=60,
        what=f"topic {topic} deleted",
    )


def backup_ok(config: Path, *extra: str) -> dict[str, Any]:
    code, out = cli(config, "backup", "run", "job", "--json", *extra)
    assert code == 0, out
    assert isinstance(out, dict)
    return out


def restore_ok(config: Path, backup_id: str, rename: str, *, to: str = "dr", **opts: str) -> None:
    """Restore backup_id onto cluster `to` with one --rename SRC=DST; it must succeed."""
    extra = [a for k, v in opts.items() for a in (f"--{k}", v)]
    code, out = cli(
        config, "restore", backup_id, "--to", to, "--rename", rename, *extra, "--yes", "--json"
    )
    assert code == 0, out


def records_in(config: Path, backup_id: str) -> int:
    code, out = cli(config, "backup", "verify", backup_id, "--deep", "--json")
    assert code == 0, out
    return int(out["records"])


# -- 1. retention of backups never decides which records still in Kafka are backed up -------


def test_records_with_old_create_times_are_backed_up_whatever_keep_days_says(
    lab: RunningLab, tmp_path: Path
) -> None:
    primary = lab.bootstrap("primary")
    create_topic(
        primary,
        f"{P}.old-times",
        partitions=1,
        replication=3,
        config={"cleanup.policy": "compact"},
    )
    produce(primary, f"{P}.old-times", 300, timestamp_ms=YEAR_2001_MS)
    config = config_for(
        lab, tmp_path, [f"{P}\\.old-times"], retention={"keep_days": 1}, segment_max_records=50
    )

    first = backup_ok(config)
    assert first["records"] == 300
    assert records_in(config, first["backup_id"]) == 300
    produce(primary, f"{P}.old-times", 10, timestamp_ms=YEAR_2001_MS + 10_000, prefix="n")
    second = backup_ok(config)

    assert records_in(config, second["backup_id"]) == 310
    _, listing = cli(config, "backup", "list", "--json")
    assert [b["records"] for b in listing["backups"]] == [300, 310]


# -- 2. a deleted and re-created topic is a new lineage, never mixed -------------------------


def test_a_recreated_topic_starts_a_new_lineage_and_its_old_self_stays_restorable(
    lab: RunningLab, tmp_path: Path
) -> None:
    primary, dr = lab.bootstrap("primary"), lab.bootstrap("dr")
    create_topic(primary, f"{P}.reborn", partitions=1, replication=3)
    produce(primary, f"{P}.reborn", 500, prefix="old")
    config = config_for(lab, tmp_path, [f"{P}\\.reborn"])
    old = backup_ok(config)
    delete_topic(primary, f"{P}.reborn")
    create_topic(primary, f"{P}.reborn", partitions=1, replication=3)
    produce(primary, f"{P}.reborn", 40, prefix="new")

    new = backup_ok(config)  # shorter than its old self: no wedge

    assert new["records"] == 40
    assert [r["topic"] for r in new["retired_topics"]] == [f"{P}.reborn"]
    assert new["retired_topics"][0]["held_by"] == old["backup_id"]
    assert records_in(config, new["backup_id"]) == 40
    _, shown = cli(config, "backup", "show", new["backup_id"], "--json")
    [entry] = shown["partitions"]
    assert entry["start_offset"] == 0 and entry["end_offset"] == 40
    assert all(
        f"/{P}.reborn/" in s["key"] and entry["topic_id"] in s["key"] for s in entry["segments"]
    )
    # The old lineage restores whole from the backup that holds it, the new one from latest.
    for backup_id, target, expected in (
        (old["backup_id"], f"{P}.reborn.old", 500),
        (new["backup_id"], f"{P}.reborn.new", 40),
    ):
        restore_ok(config, backup_id, f"{P}.reborn={target}")
        assert count_records(dr, target) == expected
    produce(primary, f"{P}.reborn", 5, prefix="more")
    assert backup_ok(config)["records"] == 5


# -- 9. deleted topics are not carried forward; they stay restorable with their configs -----


def test_a_deleted_topic_leaves_later_backups_and_restores_from_the_one_that_holds_it(
    lab: RunningLab, tmp_path: Path
) -> None:
    primary = lab.bootstrap("primary")
    create_topic(
        primary,
        f"{P}.doomed",
        partitions=2,
        replication=3,
        config={"cleanup.policy": "compact", "max.message.bytes": "200000"},
    )
    create_topic(primary, f"{P}.survivor", partitions=1, replication=3)
    produce(primary, f"{P}.doomed", 100)
    produce(primary, f"{P}.survivor", 10)
    config = config_for(lab, tmp_path, [f"{P}\\.doomed", f"{P}\\.survivor"])
    holder = backup_ok(config)
    delete_topic(primary, f"{P}.doomed")

    later = backup_ok(config)

    _, shown = cli(config, "backup", "show", later["backup_id"], "--json")
    assert {p["topic"] for p in shown["partitions"]} == {f"{P}.survivor"}
    assert shown["retired_topics"] == [
        {
            "topic": f"{P}.doomed",
            "topic_id": shown["retired_topics"][0]["topic_id"],
            "reason": "deleted from the cluster",
            "held_by": holder["backup_id"],
        }
    ]
    restore_ok(
        config,
        holder["backup_id"],
        f"{P}.doomed={P}.doomed.back",
        to="primary",
        topics=f"{P}\\.doomed",
    )
    assert count_records(primary, f"{P}.doomed.back") == 100
    admin = AdminClient({"bootstrap.servers": primary})
    meta = admin.list_topics(f"{P}.doomed.back", timeout=10).topics[f"{P}.doomed.back"]
    assert len(meta.partitions) == 2
    assert {len(p.replicas) for p in meta.partitions.values()} == {3}
    from confluent_kafka.admin import ConfigResource, ResourceType

    resource = ConfigResource(ResourceType.TOPIC, f"{P}.doomed.back")
    configs = admin.describe_configs([resource])[resource].result(timeout=30)
    assert configs["cleanup.policy"].value == "compact"
    assert configs["max.message.bytes"].value == "200000"


# -- 8. manifests have integrity of their own ------------------------------------------------


def manifest_path(tmp: Path, backup_id: str) -> Path:
    return tmp / "store" / "job" / "manifests" / f"{backup_id}.json"


def test_a_deleted_newest_manifest_is_reported_by_verify_not_skipped(
    lab: RunningLab, tmp_path: Path
) -> None:
    primary = lab.bootstrap("primary")
    config = seeded(lab, tmp_path, "chain-del", 20)
    first = backup_ok(config)
    produce(primary, f"{P}.chain-del", 20, prefix="b")
    second = backup_ok(config)
    manifest_path(tmp_path, second["backup_id"]).unlink()

    code, out = cli(config, "backup", "verify", "latest", "--json")

    assert code == 1
    assert out["backup_id"] == first["backup_id"]
    assert any(
        second["backup_id"] in p["object"] and "missing" in p["message"] for p in out["problems"]
    ), out
    # ... and it blocks neither restore latest nor the next backup.
    restore_ok(config, "latest", f"{P}.chain-del={P}.chain-del.back")
    assert count_records(lab.bootstrap("dr"), f"{P}.chain-del.back") == 20
    produce(primary, f"{P}.chain-del", 5, prefix="c")
    third = backup_ok(config)
    assert records_in_manifest(tmp_path, third["backup_id"]) == 45


def records_in_manifest(tmp: Path, backup_id: str) -> int:
    raw = json.loads(manifest_path(tmp, backup_id).read_text())
    return sum(s["records"] for p in raw["partitions"] for s in p["segments"])


def test_a_cut_tail_and_a_segment_disguised_as_a_gap_are_reported_as_what_they_are(
    lab: RunningLab, tmp_path: Path
) -> None:
    primary = lab.bootstrap("primary")
    config = seeded(lab, tmp_path, "chain-cut", 100, segment_max_records=25)
    backup_ok(config)
    produce(primary, f"{P}.chain-cut", 50, prefix="b")
    second = backup_ok(config)
    path = manifest_path(tmp_path, second["backup_id"])
    original = path.read_text()

    raw = json.loads(original)
    entry = raw["partitions"][0]
    removed = entry["segments"].pop(1)  # a segment the parent held, now a "gap"
    entry["gaps"].append(
        {
            "start_offset": removed["start_offset"],
            "end_offset": removed["end_offset"],
            "reason": "deleted by retention before backup",
            "detected_at": raw["started_at"],
            "backup_id": raw["backup_id"],
        }
    )
    path.write_text(json.dumps(raw))
    code, out = cli(config, "backup", "verify", second["backup_id"], "--json")
    assert code == 1
    assert any("altered" in p["message"] for p in out["problems"]), out

    # Resealed by a forger who knows the format: the chain still tells.
    _, data = encode_manifest(manifest_from_dict(dict(raw, sha256="")))
    path.write_bytes(data)
    code, out = cli(config, "backup", "verify", second["backup_id"], "--json")
    assert code == 1
    messages = " | ".join(p["message"] for p in out["problems"])
    assert "recorded as a gap" in messages, messages
    assert "not the manifest committed" in messages, messages

    raw = json.loads(original)
    entry = raw["partitions"][0]
    entry["segments"] = entry["segments"][:2]
    entry["end_offset"] = entry["segments"][-1]["end_offset"]
    _, data = encode_manifest(manifest_from_dict(dict(raw, sha256="")))
    path.write_bytes(data)
    code, out = cli(config, "backup", "verify", second["backup_id"], "--json")
    assert code == 1
    assert any("tail cut" in p["message"] for p in out["problems"]), out


def test_a_garbage_manifest_blocks_neither_backups_nor_restore_latest_nor_prune(
    lab: RunningLab, tmp_path: Path
) -> None:
    primary, dr = lab.bootstrap("primary"), lab.bootstrap("dr")
    create_topic(primary, f"{P}.chain-junk", partitions=1, replication=3)
    config = config_for(lab, tmp_path, [f"{P}\\.chain-junk"], retention={"keep_last": 2})
    ids = []
    for n in range(3):
        produce(primary, f"{P}.chain-junk", 10, prefix=f"r{n}-")
        ids.append(backup_ok(config)["backup_id"])
    manifest_path(tmp_path, ids[0]).write_text("this is not a manifest {")

    produce(primary, f"{P}.chain-junk", 10, prefix="r3-")
    latest = backup_ok(config)
    assert latest["records"] == 10
    code, listing = cli(config, "backup", "list", "--json")
    assert code == 0
    assert [b["backup_id"] for b in listing["backups"]] == [*ids[1:], latest["backup_id"]]
    restore_ok(config, "latest", f"{P}.chain-junk={P}.junk.back")
    assert count_records(dr, f"{P}.junk.back") == 40
    code, pruned = cli(config, "backup", "prune", "job", "--yes", "--json")
    assert code == 0, pruned
    assert pruned["prune"] == [ids[1]]
    assert any(ids[0] in p for p in pruned["problems"])
    assert records_in(config, "latest") == 40


# -- 3. leaderless partitions are never written as data ranges -------------------------------


def leader_of(bootstrap: str, topic: str) -> dict[int, int]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    meta = admin.list_topics(topic, timeout=10).topics[topic]
    return {p: m.leader for p, m in meta.partitions.items()}


@pytest.mark.lab_teardown
def test_a_broker_down_fails_the_backup_naming_partitions_or_makes_a_partial_one(
    lab: RunningLab, tmp_path: Path
) -> None:
    primary = lab.bootstrap("primary")
    create_topic(primary, f"{P}.offline", partitions=3, replication=1)
    produce(primary, f"{P}.offline", 300)
    config = config_for(lab, tmp_path, [f"{P}\\.offline"], leader_wait_s=3)
    backup_ok(config)
    produce(primary, f"{P}.offline", 30, prefix="b")
    leaders = leader_of(primary, f"{P}.offline")
    victim = leaders[0]
    lost = sorted(p for p, node in leaders.items() if node == victim)
    lab.lab_cli("stop-node", "primary", str(victim), "--kill")
    try:
        # At once: the cluster still names the dead broker as leader for a few seconds.
        code, out = cli(config, "backup", "run", "job")
        assert code == 2
        [error] = [line for line in out.splitlines() if line.startswith("error:")]
        assert f"{P}.offline-{lost[0]} (" in error, out
        assert "no leader" in error or f"broker {victim}" in error, error
        wait_until(
            lambda: leader_of(lab.bootstrap("primary"), f"{P}.offline")[0] == -1,
            timeout_s=60,
            what="partition 0 to lose its leader",
        )
        code, out = cli(config, "backup", "run", "job")
        assert code == 2
        [error] = [line for line in out.splitlines() if line.startswith("error:")]
        assert f"{P}.offline-{lost[0]} (no leader)" in error, out

        code, partial = cli(config, "backup", "run", "job", "--allow-partial", "--json")
        assert code == 1, partial
        assert partial["status"] == "PARTIAL"
        assert sorted(m["partition"] for m in partial["missing_partitions"]) == lost
        _, listing = cli(config, "backup", "list", "--json")
        assert listing["backups"][-1]["status"] == "PARTIAL"
        code, verified = cli(config, "backup", "verify", "latest", "--json")
        assert code == 1 and verified["status"] == "PARTIAL" and verified["problems"] == []
        _, shown = cli(config, "backup", "show", "latest", "--json")
        for entry in shown["partitions"]:
            assert entry["start_offset"] >= 0 and entry["end_offset"] >= 0
    finally:
        lab.lab_cli("start-node", "primary", str(victim))
    wait_until(
        lambda: all(n >= 0 for n in leader_of(lab.bootstrap("primary"), f"{P}.offline").values()),
        timeout_s=120,
        what="every partition to have a leader again",
    )
    done = backup_ok(config)
    assert done["status"] == "DONE"
    assert records_in(config, done["backup_id"]) == 330
    delete_topic(lab.bootstrap("primary"), f"{P}.offline")  # RF 1: it would stay under min ISR


# -- 15. small ones --------------------------------------------------------------------------


def test_acls_are_recorded_as_unavailable_on_a_cluster_without_authorizer(
    lab: RunningLab, tmp_path: Path
) -> None:
    primary = lab.bootstrap("primary")
    create_topic(primary, f"{P}.acls", partitions=1, replication=3)
    config = config_for(lab, tmp_path, [f"{P}\\.acls"])
    done = backup_ok(config)

    meta = json.loads(
        (tmp_path / "store" / "job" / "metadata" / f"{done['backup_id']}.json").read_text()
    )

    assert isinstance(meta["acls"], str) and meta["acls"].startswith("unavailable: "), meta["acls"]
    assert "authorizer" in meta["acls"]


def test_temporary_files_of_a_killed_run_are_cleaned_by_the_next_run(
    lab: RunningLab, tmp_path: Path
) -> None:
    config = seeded(lab, tmp_path, "tmp", 5)
    backup_ok(config)
    leftovers = _leave_temporaries(tmp_path / "store" / "job" / "data")

    backup_ok(config)

    assert [p for p in leftovers if p.exists()] == []


def _leave_temporaries(directory: Path) -> list[Path]:
    """Temp files as a run SIGKILLed in the middle of an atomic write leaves them."""
    from dr.storage.local import TEMP_PREFIX  # the store's own naming

    directory.mkdir(parents=True, exist_ok=True)
    made = []
    for n in range(3):
        path = directory / f"{TEMP_PREFIX}killed-{n}"
        path.write_bytes(b"half a segment")
        old = time.time() - 7200
        os.utime(path, (old, old))
        made.append(path)
    return made


# -- 7 and 14. one run per job across hosts; every run recorded, a skipped one as skipped ----

GHOST = """
import sys, time
from pathlib import Path
from dr.storage import LocalStore, StoreLease
lease = StoreLease(LocalStore(Path(sys.argv[1])), "job/locks/backup", purpose="backup of job job",
                   ttl_s=float(sys.argv[2]), host="host-b")
lease.acquire()
print("held", flush=True)
time.sleep(600)
"""


def test_a_run_on_another_host_holding_the_jobs_lease_makes_this_one_skip_never_both_commit(
    lab: RunningLab, tmp_path: Path
) -> None:
    from dr.state import StateStore
    from dr.storage import LocalStore, StoreLease

    config = seeded(lab, tmp_path, "lease", 20, lock_ttl_s=5)
    store = LocalStore(tmp_path / "store")
    other_host = StoreLease(
        store, "job/locks/backup", purpose="backup of job job", ttl_s=5, host="host-b"
    ).acquire()
    try:
        code, out = cli(config, "backup", "run", "job")
    finally:
        other_host.release()

    assert code == 2, out
    [error] = [line for line in out.splitlines() if line.startswith("error:")]
    assert "host-b" in error and "job/locks/backup" in error, error
    assert not (tmp_path / "store" / "job" / "sequence").exists()
    state = StateStore(tmp_path / "state.db")
    [skipped] = state.runs("job")
    assert skipped.status == "skipped"

    done = backup_ok(config)  # released: this host runs, and the CLI run is recorded
    last = state.runs("job")[0]
    assert (last.status, last.backup_id, last.records) == ("succeeded", done["backup_id"], 20)


def test_a_lease_left_by_a_host_that_died_is_taken_over_after_its_ttl(
    lab: RunningLab, tmp_path: Path
) -> None:
    import signal
    import subprocess
    import sys

    config = seeded(lab, tmp_path, "ghost", 15, lock_ttl_s=5)
    ghost = subprocess.Popen(
        [sys.executable, "-c", GHOST, str(tmp_path / "store"), "5"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert ghost.stdout is not None
    while ghost.stdout.readline().strip() != "held":
        pass
    ghost.send_signal(signal.SIGKILL)  # host-b dies holding the lease
    ghost.wait()

    started = time.monotonic()
    done = backup_ok(config)

    assert done["records"] == 15
    assert time.monotonic() - started >= 5  # only once unchanged for the whole ttl
