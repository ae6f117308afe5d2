"""Restores (and a job's RPO) against what a hostile user or cluster does: source configs that
would refuse restored records, a topic re-created after its backup. Each ends with exact data,
a true figure, or one line naming the thing at fault and a non-zero exit.

Runs against the real lab (primary -> backup -> dr), on topics of its own (r7-<run>-...).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from dr.lab.traffic import create_topic
from integration.backup_dataset import Rec
from integration.conftest import RunningLab
from integration.test_restore_integrity import (
    RUN,
    _remove_this_runs_topics,  # noqa: F401  (autouse: the topics made here go when done)
    alter_topic,
    backup_records,
    bench,
    dataset,
    delete_topic,
    interrupted,
    on_dr,
    on_primary,
    one_line,
    produce,
)


def test_a_compacted_topic_holding_records_without_a_key_is_refused_before_any_write(
    lab: RunningLab, tmp_path: Path
) -> None:
    b = bench(lab, tmp_path, "keyless")
    records = [
        Rec(i % 3, None if i % 4 == 1 else b"k%d" % i, b"v%d" % i, (), 1_700_000_000_000 + i)
        for i in range(60)
    ]
    produce(lab.bootstrap("primary"), b.topic, records)
    # Records without a key, then the topic made compacted: the cleaner has not run yet.
    alter_topic(lab.bootstrap("primary"), b.topic, {"cleanup.policy": "compact"})
    b.backup()
    target = f"r7-{RUN}-keyless-restored"

    dry_code, _, dry_err = b.restore(target, "--dry-run")
    code, out, err = b.restore(target, "--yes")

    assert (dry_code, code) == (2, 2), f"{out}{err}"
    line = one_line(err)
    assert one_line(dry_err) == line
    assert "before writing anything" in line and "without a key" in line
    assert f"'{target}'" in line and "--config cleanup.policy=delete" in line
    admin = AdminClient({"bootstrap.servers": lab.bootstrap("dr")})
    assert target not in admin.list_topics(timeout=10).topics
    # What it advises works.
    code, out, err = b.restore(target, "--yes", "--json", "--config", "cleanup.policy=delete")
    assert code == 0, f"{out}{err}"
    for p in range(3):
        assert on_dr(lab, target, p) == [r for r in records if r.partition == p]


def test_a_topic_whose_max_message_bytes_is_smaller_than_a_batch_is_restored_exactly(
    lab: RunningLab, tmp_path: Path
) -> None:
    b = bench(lab, tmp_path, "mmb", **{"max.message.bytes": "4000"})
    # Incompressible values: a batch of them is as large as its records.
    records = [
        Rec(i % 3, b"k%d" % i, os.urandom(300), (), 1_700_000_000_000 + i) for i in range(600)
    ]
    producer = Producer({"bootstrap.servers": lab.bootstrap("primary"), "batch.size": 3000})
    for rec in records:
        producer.produce(b.topic, rec.value, rec.key, rec.partition, timestamp=rec.timestamp)
    assert producer.flush(60) == 0
    for p in range(3):
        assert on_primary(lab, b.topic, p) == [r for r in records if r.partition == p]
    b.backup()
    target = f"r7-{RUN}-mmb-restored"

    code, out, err = b.restore(target, "--yes", "--json")

    assert code == 0, f"{out}{err}"
    for p in range(3):
        assert on_dr(lab, target, p) == [r for r in records if r.partition == p]


def test_a_job_whose_topic_was_re_created_since_its_backup_is_not_reported_caught_up(
    lab: RunningLab, tmp_path: Path
) -> None:
    b = bench(lab, tmp_path, "recreated")
    produce(lab.bootstrap("primary"), b.topic, dataset(90, 1_700_000_000_000))
    b.backup()
    assert sum(len(backup_records(b, p)) for p in range(3)) == 90
    delete_topic(lab.bootstrap("primary"), b.topic)
    primary = lab.bootstrap("primary")
    create_topic(primary, b.topic, partitions=3, replication=3, config={"retention.ms": "-1"})
    # Shorter than what the backup holds: offsets alone would call it backed up.
    produce(lab.bootstrap("primary"), b.topic, dataset(30, 1_700_000_000_000))

    code, out, _ = b.cli("rpo", "status", "--json")

    job = out["backups"][b.job]
    assert job["lag_messages"] == 30, job
    assert job["rpo_seconds"] is not None and job["rpo_seconds"] > 0, job
    assert job["breached"] and code == 1, json.dumps(job)


def test_a_forced_restore_onto_a_topic_with_kafkas_default_limits_appends_the_backup(
    lab: RunningLab, tmp_path: Path
) -> None:
    b = bench(lab, tmp_path, "onto")
    produce(lab.bootstrap("primary"), b.topic, dataset(30, 1_700_000_000_000))
    b.backup()
    target = f"r7-{RUN}-onto-restored"
    # Created as an operator would, with the cluster's defaults but for retention (Kafka 4's
    # message.timestamp.after.max.ms is an hour: it refuses no record of the past).
    create_topic(lab.bootstrap("dr"), target, partitions=3, config={"retention.ms": "-1"})
    intruder = Rec(0, b"there-before", b"x", (), 1_700_000_000_000)
    produce(lab.bootstrap("dr"), target, [intruder])

    refused, _, refused_err = b.restore(target, "--yes")
    code, out, err = b.restore(target, "--yes", "--force", "--json")

    assert refused == 2 and "already holds 1 records" in one_line(refused_err)
    assert code == 0, f"{out}{err}"
    assert on_dr(lab, target, 0) == [intruder, *backup_records(b, 0)]
    for p in (1, 2):
        assert on_dr(lab, target, p) == backup_records(b, p)


def test_a_target_whose_timestamp_limit_refuses_the_backups_records_is_refused_naming_it(
    lab: RunningLab, tmp_path: Path
) -> None:
    b = bench(lab, tmp_path, "limit")
    produce(lab.bootstrap("primary"), b.topic, dataset(30, 1_700_000_000_000))
    b.backup()
    target = f"r7-{RUN}-limit-restored"
    create_topic(
        lab.bootstrap("dr"),
        target,
        partitions=3,
        config={"retention.ms": "-1", "message.timestamp.before.max.ms": "3600000"},
    )

    code, out, err = b.restore(target, "--yes")

    assert code == 2, out
    line = one_line(err)
    assert f"'{target}' has message.timestamp.before.max.ms=3600000" in line
    assert "refuses records of the backup" in line
    assert on_dr(lab, target, 0) == []


def test_a_resume_onto_a_partition_ending_in_someone_elses_transaction_is_refused_at_once(
    lab: RunningLab, tmp_path: Path
) -> None:
    b, target, _ = interrupted(lab, tmp_path, "txn")
    producer = Producer({"bootstrap.servers": lab.bootstrap("dr"), "transactional.id": target})
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(target, b"intruder", b"x", 1)
    producer.commit_transaction(30)  # partition 1 now ends with a commit marker
    started = time.monotonic()

    code, out, err = b.restore(target, "--yes")

    assert code == 2, out
    line = one_line(err)
    assert f"{target}-1" in line and "resume refused" in line
    assert time.monotonic() - started < 60  # not a read waiting out its timeout
