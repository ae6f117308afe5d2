"""`kafka-dr snapshot` on the lab's dr cluster (one node, so the primary is untouched): a
snapshot, then the cluster destroyed (killed, every log dir wiped) and restored from it —
every record back, end offsets equal to the recorded ones; verify names a damaged object.

MirrorMaker writes into dr (its Connect worker keeps its own topics there): it is stopped
for the whole test, so that nothing writes to dr between the offsets recorded and the stop,
and started again at the end."""

from __future__ import annotations

import json
import shutil
import time
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from dr.lab.traffic import create_topic, produce_records
from integration.conftest import RunningLab, wait_for_heartbeats, wait_until

TOPIC = "snapshot.data"
PARTITIONS = 3
RECORDS = 3000
Record = tuple[int, int, bytes | None, bytes | None, int]


def read_all(lab: RunningLab) -> list[Record]:
    """Every record of the topic on dr: partition, offset, key, value, timestamp."""
    consumer = Consumer({"bootstrap.servers": lab.bootstrap("dr"), "group.id": "snapshot-reader",
                         "enable.auto.commit": False})  # fmt: skip
    try:
        ends = {p: consumer.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=30)[1]
                for p in range(PARTITIONS)}  # fmt: skip
        consumer.assign([TopicPartition(TOPIC, p, 0) for p in range(PARTITIONS)])
        out: list[Record] = []
        done = {p for p, end in ends.items() if end == 0}
        deadline = time.monotonic() + 120
        while len(done) < PARTITIONS and time.monotonic() < deadline:
            msg = consumer.poll(5)
            if msg is None or msg.error() is not None:
                continue
            p, offset = msg.partition(), msg.offset()
            out.append((p, offset, msg.key(), msg.value(), msg.timestamp()[1]))
            if offset + 1 >= ends[p]:
                done.add(p)
        return sorted(out)
    finally:
        consumer.close()


def run_json(lab: RunningLab, *args: str, timeout: float = 900) -> tuple[int, dict[str, Any]]:
    proc = lab.cli(*args, "--json", timeout=timeout)
    try:
        return proc.returncode, json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(
            f"not JSON (exit {proc.returncode}): {proc.stdout}{proc.stderr}"
        ) from None


def test_a_destroyed_cluster_comes_back_from_its_snapshot_with_every_record(
    lab: RunningLab,
) -> None:
    bootstrap = lab.bootstrap("dr")
    create_topic(bootstrap, TOPIC, partitions=PARTITIONS, replication=1)
    produce_records(bootstrap, TOPIC, RECORDS, value_size=200)
    lab.lab_cli("mirror", "stop")
    try:
        before = read_all(lab)
        assert len(before) == RECORDS

        started = time.monotonic()
        code, run = run_json(lab, "snapshot", "run", "--cluster", "dr", "--offline-ok", "--yes")
        snapshot_s = time.monotonic() - started
        assert code == 0 and run["status"] == "completed", run
        sid = run["snapshot_id"]
        code, listed = run_json(lab, "snapshot", "list", "--cluster", "dr")
        assert {"snapshot_id": sid, "complete": True}.items() <= next(
            s for s in listed["snapshots"] if s["snapshot_id"] == sid).items()  # fmt: skip
        code, manifest = run_json(lab, "snapshot", "show", sid, "--cluster", "dr")
        recorded = manifest["nodes"][0]["end_offsets"][TOPIC]
        assert sum(recorded.values()) == RECORDS
        code, verified = run_json(lab, "snapshot", "verify", sid, "--cluster", "dr")
        assert code == 0 and verified["ok"], verified

        # Total loss: every dr node killed and every log dir wiped.
        dr_nodes = lab.lab.state().cluster("dr").nodes
        for node in dr_nodes:
            lab.lab_cli("stop-node", "dr", str(node.id), "--kill")
            shutil.rmtree(node.spec("dr").log_dir)
        assert lab.cli("status", "--cluster", "dr").returncode != 0

        started = time.monotonic()
        code, restored = run_json(lab, "snapshot", "restore", "latest", "--cluster", "dr", "--yes")
        restore_s = time.monotonic() - started
        assert code == 0 and restored["status"] == "completed", restored
        assert restored["snapshot_id"] == sid
        offsets = restored["offsets"]
        assert offsets["equal"] and offsets["differences"] == [], offsets
        assert offsets["partitions"] == sum(len(p) for p in manifest["end_offsets"].values())

        after = read_all(lab)
        assert after == before  # every record: partition, offset, key, value, timestamp
        ends = {str(p): max((r[1] + 1 for r in after if r[0] == p), default=0)
                for p in range(PARTITIONS)}  # fmt: skip
        assert ends == recorded

        # A flipped byte in the stored object: verify names it.
        obj = lab.lab.dir / "store" / manifest["nodes"][0]["key"]
        raw = bytearray(obj.read_bytes())
        raw[len(raw) // 2] ^= 0x01
        obj.write_bytes(bytes(raw))
        code, damaged = run_json(lab, "snapshot", "verify", sid, "--cluster", "dr")
        assert code == 1 and not damaged["ok"]
        assert damaged["objects"][0]["problem"].startswith(f"{manifest['nodes'][0]['key']}: SHA")
        raw[len(raw) // 2] ^= 0x01
        obj.write_bytes(bytes(raw))
        print(
            f"\nsnapshot of dr ({manifest['nodes'][0]['size'] / 1e3:.1f} kB stored, tar "
            f"{manifest['nodes'][0]['tar_bytes'] / 1e3:.1f} kB): run {snapshot_s:.1f}s, node "
            f"down {run['down_s']}s; restore {restore_s:.1f}s, RTO {restored['rto_seconds']}s"
        )
    finally:
        for node in lab.lab.state().cluster("dr").nodes:  # best effort when a step failed
            lab.cli("lab", "start-node", "--dir", str(lab.lab.dir), "dr", str(node.id))
        lab.lab_cli("mirror", "start")

    def whole() -> bool:
        status = lab.cli("status", "--cluster", "dr", "--json")
        return status.returncode == 0 and json.loads(status.stdout)["clusters"]["dr"]["healthy"]

    wait_until(whole, timeout_s=120, what="dr to be healthy")
    wait_for_heartbeats(lab, timeout_s=180)
