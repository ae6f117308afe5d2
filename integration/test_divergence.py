"""The failback's data core on the lab: the records the old primary holds that never reached dr
are found exactly (per partition, by reading), archived as a backup, and restored by the
ordinary `kafka-dr restore` to what they were: 0 lost, 0 extra."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from dr.backup.catalog import sequence_numbers
from dr.config import load_config
from dr.config.schema import Settings
from dr.kafka import admin as kadmin
from dr.kafka.client import admin_client
from dr.kafka.reader import RecordAt, read_range
from dr.lab.traffic import count_records, create_topic, wait_for_records
from dr.mirror.offsets import flow_between
from dr.playbooks.divergence import find_divergence, replica_key
from dr.playbooks.divergence_archive import archive_divergence, archive_job
from dr.storage import open_store
from integration.conftest import RunningLab, wait_for_heartbeats, wait_until

pytestmark = pytest.mark.timeout(900)
PARTITIONS = 3
REPLICATED = {0: 40, 1: 25, 2: 30}  # records per partition MirrorMaker copies
DIVERGED = {0: 7, 1: 1, 2: 12}  # records per partition written after it stopped
Shape = tuple[int, bytes | None, bytes | None, tuple[tuple[str, bytes | None], ...], int]


def produce(
    bootstrap: str,
    topic: str,
    counts: dict[int, int],
    tag: str,
    *,
    transactional: bool = False,
) -> None:
    """counts[p] records with keys, values and headers into each partition p, all acked. With
    transactional, each partition's records are one committed transaction, followed by one
    aborted record (a marker on each side of it, and a record no reader may count)."""
    conf = {"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True}
    if transactional:
        conf["transactional.id"] = f"div-{uuid.uuid4().hex[:8]}"
    producer = Producer(conf)
    failures: list[str] = []

    def acked(err: object, _msg: object) -> None:
        if err is not None:
            failures.append(str(err))

    if transactional:
        producer.init_transactions(60)
    for partition, count in counts.items():
        if transactional:
            producer.begin_transaction()
        for i in range(count):
            producer.produce(
                topic,
                key=f"{tag}-{partition}-{i}".encode(),
                value=None if i == 3 else f"value {tag} {i}".encode() * 3,
                headers=[("tag", tag.encode()), ("i", str(i).encode()), ("empty", None)],
                partition=partition,
                on_delivery=acked,
            )
        if transactional:
            producer.commit_transaction(60)
            producer.begin_transaction()
            producer.produce(topic, key=b"aborted", value=b"never", partition=partition)
            producer.abort_transaction(60)
    assert producer.flush(60) == 0
    assert not failures, failures


def shape(records: list[RecordAt]) -> list[Shape]:
    return [(0, r.key, r.value, r.headers, r.timestamp_ms) for r in records]


@pytest.fixture
def topic(lab: RunningLab) -> Iterator[str]:
    """A fresh topic on primary (RF 3, 3 partitions) replicated to dr, MirrorMaker stopped; at
    the end MirrorMaker replicates again and the test's topics are gone."""
    name = f"div.{uuid.uuid4().hex[:6]}"
    primary = lab.bootstrap("primary")
    create_topic(primary, name, partitions=PARTITIONS, replication=3)
    produce(primary, name, {0: 20, 1: 25, 2: 10}, "a")
    produce(primary, name, {0: 20, 2: 20}, "b", transactional=True)
    replica, dr = f"primary.{name}", lab.bootstrap("dr")
    wait_for_records(dr, replica, sum(REPLICATED.values()))
    # A MirrorMaker reading uncommitted copies the two aborted records too: wait until still.
    seen = [count_records(dr, replica)]
    wait_until(
        lambda: seen.append(count_records(dr, replica)) or seen[-1] == seen[-2],
        timeout_s=60,
        interval_s=3,
        what="the replica to stop growing",
    )
    lab.lab_cli("mirror", "stop")
    try:
        yield name
    finally:
        for cluster, names in (("primary", [name]), ("dr", [f"primary.{name}", f"back.{name}"])):
            AdminClient({"bootstrap.servers": lab.bootstrap(cluster)}).delete_topics(names)
        lab.lab_cli("mirror", "start")
        wait_for_heartbeats(lab)


def test_the_records_that_never_reached_dr_are_found_archived_and_restored_exactly(
    lab: RunningLab, topic: str
) -> None:
    settings = load_config(lab.config).settings
    flow = flow_between(settings, "primary", "dr")
    assert flow is not None
    replica = f"primary.{topic}"
    dr_admin = admin_client(settings.clusters["dr"])
    tps = [(replica, p) for p in range(PARTITIONS)]
    ends = kadmin.offsets(dr_admin, tps, "latest", 30)
    replica_ends = {replica_key(t, p): end for (t, p), end in ends.items()}
    # After the stop: plain records on 0 and 1, a transaction (and an aborted one) on 2.
    primary = lab.bootstrap("primary")
    produce(primary, topic, {0: 7, 1: 1}, "c")
    produce(primary, topic, {2: 12}, "d", transactional=True)

    found = find_divergence(settings, flow, {topic: replica}, replica_ends)

    by_partition = {p.partition: p for p in found.partitions}
    assert {p: by_partition[p].records for p in range(PARTITIONS)} == DIVERGED
    assert found.records == sum(DIVERGED.values())
    diverged = {}
    for p, part in by_partition.items():
        assert (part.topic, part.replica_topic) == (topic, replica)
        assert part.found_by.startswith(("offset-sync", "log start")), part.found_by
        records = read_range(
            settings.clusters["primary"], (topic, p), part.start_offset, part.end_offset, whole=True
        )
        assert len(records) == DIVERGED[p]  # no record before start_offset is left out...
        assert records[0].key == f"{'d' if p == 2 else 'c'}-{p}-0".encode()  # ...or added
        assert part.first_timestamp is not None and part.last_timestamp is not None
        stamps = [r.timestamp_ms for r in records]
        assert int(part.first_timestamp.timestamp() * 1000) == min(stamps)
        assert int(part.last_timestamp.timestamp() * 1000) == max(stamps)
        diverged[p] = shape(records)

    run_id = f"failback-test-{uuid.uuid4().hex[:6]}"
    store = open_store(settings.storage["lab"])
    job = archive_job(run_id)
    # What a run killed before its commit leaves: a segment and a manifest no entry names.
    store.put_bytes(f"{job}/data/{topic}/x/0/00000000000000000000.seg", b"half")
    store.put_bytes(f"{job}/manifests/{job}-20260101T000000000000Z.json", b"{}")

    archive = archive_divergence(settings, "lab", run_id, "primary", found.partitions)

    assert archive.records == sum(DIVERGED.values()) and archive.bytes > 0
    assert {p.partition: p.records for p in archive.partitions} == DIVERGED
    assert archive.prefix == f"{job}/" and not archive.already_archived
    assert archive.first_timestamp == min(p.first_timestamp for p in found.diverged)
    again = archive_divergence(settings, "lab", run_id, "primary", found.partitions)
    assert again.already_archived and again.backup_id == archive.backup_id
    assert sequence_numbers(store, job) == [1]
    keys = {i.key for i in store.list(job + "/") if "/locks/" not in i.key}
    assert f"{job}/manifests/{job}-20260101T000000000000Z.json" not in keys
    assert not any("/x/" in k for k in keys)
    assert _restores_exactly(lab, settings, archive.backup_id, job, topic, diverged)


def _restores_exactly(
    lab: RunningLab,
    settings: Settings,
    backup_id: str,
    job: str,
    topic: str,
    diverged: dict[int, list[Shape]],
) -> bool:
    """The ordinary restore puts the archive under a new name on dr: the same records."""
    restored = f"back.{topic}"
    args = ("restore", backup_id, "--job", job, "--to", "dr", "--rename", f"{topic}={restored}")
    proc = lab.cli(*args, "--yes", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["records"] == sum(DIVERGED.values())
    dr = settings.clusters["dr"]
    for p, expected in diverged.items():
        got = read_range(dr, (restored, p), 0, 10_000, timeout_s=30)
        assert shape(got) == expected, f"partition {p}"
    # And by its id alone, as `backup show` prints it.
    shown = lab.cli("backup", "show", backup_id, "--json")
    assert shown.returncode == 0, shown.stderr
    return True
