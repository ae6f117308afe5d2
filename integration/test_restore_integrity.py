"""Restore never silently loses, mixes or misplaces data: each case ends with exact data or a
one-line error and a non-zero exit. Runs against the real lab (primary -> backup -> dr).

Every test makes its own topics (prefix r7-), backup job, store and state file, so it can run
beside other tests on a shared lab.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType
from kafka import KafkaProducer

from dr.backup.catalog import Manifest, delete_manifest, latest_manifest, write_manifest
from dr.backup.format import decompress_segment, encode_segment, iter_records
from dr.lab.traffic import create_topic
from dr.storage import LocalStore
from integration.backup_dataset import Rec, read_partition
from integration.conftest import RunningLab, run_cli

RUN = uuid.uuid4().hex[:6]
HOUR_MS = 3_600_000
UNLIMITED = "9223372036854775807"


@pytest.fixture(scope="module", autouse=True)
def _remove_this_runs_topics(lab: RunningLab) -> Iterator[None]:
    """The lab is shared and outlives the tests: the topics made here go when they are done
    (their mirrors on dr too)."""
    yield
    for cluster, prefixes in (("primary", ("",)), ("dr", ("", "primary."))):
        admin = AdminClient({"bootstrap.servers": lab.bootstrap(cluster)})
        mine = [
            t
            for t in admin.list_topics(timeout=10).topics
            if any(t.startswith(f"{p}r7-{RUN}-") for p in prefixes)
        ]
        for future in (admin.delete_topics(mine) if mine else {}).values():
            future.exception(30)  # one that is already gone is no concern


@dataclass
class Bench:
    """One backup job of one topic, its own store and state file, and the CLI on them."""

    lab: RunningLab
    topic: str
    config: Path
    store: LocalStore
    job: str = "r7"

    def cli(self, *args: str) -> tuple[int, Any, str]:
        """Exit code, stdout as JSON (or text), stderr."""
        proc = run_cli("--config", str(self.config), *args, timeout=600)
        try:
            out: Any = json.loads(proc.stdout)
        except json.JSONDecodeError:
            out = proc.stdout
        return proc.returncode, out, proc.stderr

    def backup(self) -> dict[str, Any]:
        code, out, err = self.cli("backup", "run", self.job, "--json")
        assert code == 0, f"{out}{err}"
        return dict(out)

    def restore(self, target: str, *args: str) -> tuple[int, Any, str]:
        return self.cli(
            "restore", "latest", "--to", "dr", "--rename", f"{self.topic}={target}", *args
        )

    def manifest(self) -> Manifest:
        manifest = latest_manifest(self.store, self.job)
        assert manifest is not None
        return manifest

    def rewrite(self, manifest: Manifest) -> None:
        """Replace the latest backup's manifest (and its commit) with this one."""
        delete_manifest(self.store, self.manifest())
        write_manifest(self.store, manifest)


def bench(lab: RunningLab, tmp: Path, name: str, **topic: Any) -> Bench:
    """A new source topic on primary (3 partitions) and a backup job for it alone.

    Its retention is unlimited unless asked: the tests write records stamped in 1970 or 2023,
    which a retention check of the broker (30 s after it starts, then every 5 min) would
    delete between the produce and the backup."""
    full = f"r7-{RUN}-{name}"
    topic_config = {"retention.ms": "-1", **topic}
    create_topic(lab.bootstrap("primary"), full, partitions=3, replication=3, config=topic_config)
    config = yaml.safe_load(lab.config.read_text())
    config["storage"] = {"r7": {"url": (tmp / "store").as_uri()}}
    config["backups"] = {
        "r7": {
            "cluster": "primary",
            "topics": [full.replace(".", r"\.")],
            "storage": "r7",
            "segment_max_records": 50,
        }
    }
    config["state"] = str(tmp / "state.db")
    path = tmp / "kafka-dr.yaml"
    path.write_text(yaml.safe_dump(config))
    (tmp / "store").mkdir(exist_ok=True)
    return Bench(lab, full, path, LocalStore(tmp / "store"))


NULL = object()


def _null(value: Any) -> Any:
    return None if value is NULL else value


def produce(bootstrap: str, topic: str, records: Iterable[Rec]) -> None:
    """Produce records in order (timestamp 0 through kafka-python: librdkafka cannot)."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "message.max.bytes": 4_000_000,
        }
    )
    exact: Any = None
    for rec in records:
        if rec.timestamp == 0:
            assert producer.flush(60) == 0
            if exact is None:
                exact = KafkaProducer(
                    bootstrap_servers=bootstrap, acks="all", value_serializer=_null
                )
            exact.send(
                topic,
                value=NULL if rec.value is None else rec.value,
                key=rec.key,
                partition=rec.partition,
                timestamp_ms=0,
                headers=list(rec.headers),  # type: ignore[arg-type]
            ).get(60)
            continue
        producer.produce(
            topic,
            rec.value,
            rec.key,
            partition=rec.partition,
            timestamp=rec.timestamp,
            headers=list(rec.headers) or None,
        )
    assert producer.flush(60) == 0
    if exact is not None:
        exact.close()


def plain(partition: int, i: int, ts: int) -> Rec:
    headers: tuple[tuple[str, bytes | None], ...] = (("n", b"%d" % i),) if i % 3 == 0 else ()
    return Rec(partition, f"k{i}".encode(), f"v{i}".encode() * 3, headers, ts)


def dataset(count: int, ts: int) -> list[Rec]:
    return [plain(i % 3, i, ts + i) for i in range(count)]


def on_dr(lab: RunningLab, topic: str, partition: int) -> list[Rec]:
    return [rec for _, rec in read_partition(lab.bootstrap("dr"), topic, partition)]


def on_primary(lab: RunningLab, topic: str, partition: int) -> list[Rec]:
    return [rec for _, rec in read_partition(lab.bootstrap("primary"), topic, partition)]


def topic_config(bootstrap: str, topic: str) -> dict[str, str]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    resource = ConfigResource(ResourceType.TOPIC, topic)
    entries = admin.describe_configs([resource])[resource].result(30)
    return {k: e.value for k, e in entries.items()}


def alter_topic(bootstrap: str, topic: str, configs: dict[str, str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    resource = ConfigResource(ResourceType.TOPIC, topic, set_config=configs)
    admin.alter_configs([resource])[resource].result(30)


def delete_topic(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.delete_topics([topic])[topic].result(30)
    for _ in range(60):
        if topic not in admin.list_topics(timeout=10).topics:
            return
        time.sleep(0.5)
    raise AssertionError(f"topic {topic} still listed after its deletion")


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def damage_last_segment(b: Bench, partition: int) -> bytes:
    """Make the last segment of a partition undecodable while its checksum still matches the
    manifest (as a backup writer bug would): only a deep check finds it. Returns the original
    object, to repair it with repair_segment."""
    manifest = b.manifest()
    entry = manifest.partition(b.topic, partition)
    assert entry is not None and len(entry.segments) >= 2
    seg = entry.segments[-1]
    original = b.store.get_bytes(seg.key)
    header, payload = decompress_segment(original)
    cut = payload[:-3]  # the last record runs past the end
    damaged = encode_segment(replace(header, payload_bytes=len(cut)), cut)
    b.store.put_bytes(seg.key, damaged)
    _rewrite_segment_ref(b, manifest, partition, damaged)
    return original


def repair_segment(b: Bench, partition: int, original: bytes) -> None:
    manifest = b.manifest()
    entry = manifest.partition(b.topic, partition)
    assert entry is not None
    b.store.put_bytes(entry.segments[-1].key, original)
    _rewrite_segment_ref(b, manifest, partition, original)


def _rewrite_segment_ref(b: Bench, manifest: Manifest, partition: int, data: bytes) -> None:
    entries = []
    for entry in manifest.partitions:
        if entry.topic == b.topic and entry.partition == partition:
            last = replace(
                entry.segments[-1], sha256=hashlib.sha256(data).hexdigest(), bytes=len(data)
            )
            entry = replace(entry, segments=(*entry.segments[:-1], last))
        entries.append(entry)
    b.rewrite(replace(manifest, partitions=tuple(entries)))


def backup_records(b: Bench, partition: int, *, segments: slice = slice(None)) -> list[Rec]:
    """The records a backup holds of one partition (of some of its segments), as a consumer
    would read them."""
    out: list[Rec] = []
    entry = b.manifest().partition(b.topic, partition)
    assert entry is not None
    for seg in entry.segments[segments]:
        _, payload = decompress_segment(b.store.get_bytes(seg.key))
        out += [
            Rec(partition, r.key, r.value, r.headers, r.timestamp) for r in iter_records(payload)
        ]
    return out


# -- item 4: timestamps ----------------------------------------------------------------------


def test_a_log_append_time_topic_is_restored_with_its_original_timestamps(
    lab: RunningLab, tmp_path: Path
) -> None:
    b = bench(lab, tmp_path, "lat", **{"message.timestamp.type": "LogAppendTime"})
    produce(lab.bootstrap("primary"), b.topic, dataset(60, 1_700_000_000_000))
    time.sleep(1.5)  # restored records are written later: a lost timestamp would show
    b.backup()
    target = f"r7-{RUN}-lat-restored"

    code, out, err = b.restore(target, "--yes", "--json")

    assert code == 0, f"{out}{err}"
    for p in range(3):
        source = on_primary(lab, b.topic, p)
        assert source and on_dr(lab, target, p) == source, f"partition {p} differs"
    change = {c["key"]: c for c in out["topics"][0]["config_changes"]}["message.timestamp.type"]
    assert (change["source"], change["restored"]) == ("LogAppendTime", "CreateTime")


def test_timestamps_zero_to_999_ms_and_negative_ones_are_restored_exactly(
    lab: RunningLab, tmp_path: Path
) -> None:
    b = bench(lab, tmp_path, "ts0")
    records = [
        plain(0, 0, 0),
        plain(0, 1, 0),  # a run of zeros
        plain(0, 2, 1),
        plain(0, 3, 1_700_000_000_000),
        Rec(0, None, None, (("h", b"x"),), 0),  # no key, no value: still written exactly
        plain(0, 5, 999),
        plain(0, 6, 1_700_000_000_001),
        plain(1, 7, 0),
        plain(1, 8, -1),
        plain(1, 9, 500),
        plain(2, 10, 1_700_000_000_002),
        plain(2, 11, 0),
    ]
    produce(lab.bootstrap("primary"), b.topic, records)
    b.backup()
    target = f"r7-{RUN}-ts0-restored"

    code, out, err = b.restore(target, "--yes", "--json")

    assert code == 0, f"{out}{err}"
    for p in range(3):
        assert on_dr(lab, target, p) == [r for r in records if r.partition == p], f"partition {p}"


# -- item 5: configs -------------------------------------------------------------------------


def test_a_new_topic_gets_unlimited_retention_and_no_timestamp_limits_and_the_plan_says_so(
    lab: RunningLab, tmp_path: Path
) -> None:
    b = bench(lab, tmp_path, "cfg", **{"retention.ms": str(24 * HOUR_MS)})
    two_hours_ago = int(time.time() * 1000) - 2 * HOUR_MS
    records = dataset(90, two_hours_ago)
    produce(lab.bootstrap("primary"), b.topic, records)
    # Set after the records were written: the source keeps them, a copy of it would not.
    alter_topic(
        lab.bootstrap("primary"),
        b.topic,
        {
            "retention.ms": str(24 * HOUR_MS),
            "retention.bytes": "100000000",
            "message.timestamp.before.max.ms": str(HOUR_MS),
            "message.timestamp.after.max.ms": str(HOUR_MS),
        },
    )
    b.backup()
    target = f"r7-{RUN}-cfg-restored"

    code, out, err = b.restore(target, "--yes", "--json")

    assert code == 0, f"{out}{err}"
    for p in range(3):
        assert on_dr(lab, target, p) == [r for r in records if r.partition == p]
    restored = topic_config(lab.bootstrap("dr"), target)
    assert restored["retention.ms"] == "-1" and restored["retention.bytes"] == "-1"
    assert restored["message.timestamp.before.max.ms"] == UNLIMITED
    assert restored["message.timestamp.after.max.ms"] == UNLIMITED
    changes = {c["key"]: c for c in out["topics"][0]["config_changes"]}
    assert changes["retention.ms"]["source"] == str(24 * HOUR_MS)
    assert changes["retention.ms"]["restored"] == "-1"
    assert changes["message.timestamp.before.max.ms"]["source"] == str(HOUR_MS)
    assert all(c["reason"] for c in changes.values())


def test_config_options_and_keep_source_configs_show_in_the_plan(
    lab: RunningLab, tmp_path: Path
) -> None:
    b = bench(lab, tmp_path, "opt", **{"retention.ms": str(24 * HOUR_MS)})
    produce(lab.bootstrap("primary"), b.topic, dataset(9, 1_700_000_000_000))
    b.backup()

    code, kept, err = b.restore(
        "r7-x", "--keep-source-configs", "--config", "cleanup.policy=compact", "--dry-run", "--json"
    )
    assert code == 0, f"{kept}{err}"
    configs = kept["topics"][0]["configs"]
    assert configs["retention.ms"] == str(24 * HOUR_MS)
    assert configs["cleanup.policy"] == "compact"
    assert configs["message.timestamp.type"] == "CreateTime"

    code, out, err = b.restore(
        "r7-x",
        "--config",
        "retention.ms=3600000",
        "--drop-config",
        "retention.bytes",
        "--dry-run",
        "--json",
    )
    assert code == 0, f"{out}{err}"
    assert out["topics"][0]["configs"]["retention.ms"] == "3600000"
    assert "retention.bytes" not in out["topics"][0]["configs"]
    changes = {c["key"]: c for c in out["topics"][0]["config_changes"]}
    assert "--config" in changes["retention.ms"]["reason"]


@pytest.mark.parametrize("bad", ["retention.ms", "=5", "Retention Ms=5", "retention.ms="])
def test_a_malformed_config_option_is_a_one_line_usage_error(
    lab: RunningLab, tmp_path: Path, bad: str
) -> None:
    b = bench(lab, tmp_path, "bad")

    code, out, err = b.restore("r7-x", "--config", bad, "--dry-run")

    assert code == 2, out
    assert "--config" in one_line(err) and bad in err


def test_a_config_the_cluster_refuses_names_the_topic_and_the_config(
    lab: RunningLab, tmp_path: Path
) -> None:
    b = bench(lab, tmp_path, "refused")
    produce(lab.bootstrap("primary"), b.topic, dataset(9, 1_700_000_000_000))
    b.backup()
    target = f"r7-{RUN}-refused-restored"

    code, out, err = b.restore(target, "--config", "max.message.bytes=lots", "--yes")

    assert code == 2, out
    line = one_line(err)
    assert target in line and "max.message.bytes" in line
    assert "--config" in line and "--drop-config" in line
    assert "resume" not in line


# -- item 6: damage is found before it is written ---------------------------------------------


def test_damage_only_a_deep_check_finds_stops_before_that_segment_and_names_what_is_complete(
    lab: RunningLab, tmp_path: Path
) -> None:
    b = bench(lab, tmp_path, "deep")
    produce(lab.bootstrap("primary"), b.topic, dataset(450, 1_700_000_000_000))
    b.backup()
    damage_last_segment(b, 2)
    target = f"r7-{RUN}-deep-restored"

    code, out, err = b.restore(target, "--yes", "--json")

    assert code == 2, out
    line = one_line(err)
    damaged = b.manifest().partition(b.topic, 2).segments[-1]  # type: ignore[union-attr]
    assert damaged.records > 0
    assert damaged.key in line
    assert f"complete: {target}-0, {target}-1" in line
    assert out["complete_partitions"] == [f"{target}-0", f"{target}-1"]
    assert out["incomplete_partitions"] == [f"{target}-2"]
    for p in (0, 1):
        assert on_dr(lab, target, p) == backup_records(b, p)
    # Partition 2 holds the segments before the damaged one, nothing of the damaged one.
    assert on_dr(lab, target, 2) == backup_records(b, 2, segments=slice(-1))


def test_a_deep_restore_refuses_damage_before_writing_anything(
    lab: RunningLab, tmp_path: Path
) -> None:
    b = bench(lab, tmp_path, "deep2")
    produce(lab.bootstrap("primary"), b.topic, dataset(450, 1_700_000_000_000))
    b.backup()
    damage_last_segment(b, 2)
    target = f"r7-{RUN}-deep2-restored"

    code, out, err = b.restore(target, "--deep", "--yes")

    assert code == 2, out
    line = one_line(err)
    assert "before writing anything" in line
    assert b.manifest().partition(b.topic, 2).segments[-1].key in line  # type: ignore[union-attr]
    admin = AdminClient({"bootstrap.servers": lab.bootstrap("dr")})
    assert target not in admin.list_topics(timeout=10).topics


# -- item 10: resumes check the target, a failed batch stops its partition ---------------------


def interrupted(lab: RunningLab, tmp_path: Path, name: str) -> tuple[Bench, str, bytes]:
    """A restore that stopped at a damaged segment of partition 2; the segment then repaired."""
    b = bench(lab, tmp_path, name)
    produce(lab.bootstrap("primary"), b.topic, dataset(450, 1_700_000_000_000))
    b.backup()
    original = damage_last_segment(b, 2)
    target = f"r7-{RUN}-{name}-restored"
    code, out, err = b.restore(target, "--yes")
    assert code != 0, f"{out}{err}"
    repair_segment(b, 2, original)
    return b, target, original


def test_an_interrupted_restore_resumes_to_exact_data(lab: RunningLab, tmp_path: Path) -> None:
    b, target, _ = interrupted(lab, tmp_path, "resume")

    code, out, err = b.restore(target, "--yes", "--json")

    assert code == 0, f"{out}{err}"
    assert out["already_present"] > 0 and out["resuming"]
    for p in range(3):
        assert on_dr(lab, target, p) == backup_records(b, p)


def test_a_resume_refuses_a_partition_whose_last_record_is_not_the_backups(
    lab: RunningLab, tmp_path: Path
) -> None:
    b, target, _ = interrupted(lab, tmp_path, "mixed")
    produce(lab.bootstrap("dr"), target, [Rec(2, b"intruder", b"x", (), 1_700_000_000_000)])

    code, out, err = b.restore(target, "--yes")

    assert code == 2, out
    line = one_line(err)
    assert f"{target}-2" in line and "resume refused" in line
    # What it advises works: delete the topic and run the same restore again.
    assert "delete the target topic" in line
    delete_topic(lab.bootstrap("dr"), target)
    code, out, err = b.restore(target, "--yes", "--json")
    assert code == 0, f"{out}{err}"
    for p in range(3):
        assert on_dr(lab, target, p) == backup_records(b, p)


def test_a_resume_refuses_a_partition_holding_more_records_than_the_backup(
    lab: RunningLab, tmp_path: Path
) -> None:
    b, target, _ = interrupted(lab, tmp_path, "more")
    last = backup_records(b, 0)[-1]
    produce(lab.bootstrap("dr"), target, [last])  # a copy of the last record: same content

    code, out, err = b.restore(target, "--yes")

    assert code == 2, out
    line = one_line(err)
    assert f"{target}-0" in line and "more records" in line


def test_a_failed_batch_stops_its_partition_and_the_error_names_complete_partitions(
    lab: RunningLab, tmp_path: Path
) -> None:
    b = bench(lab, tmp_path, "big", **{"max.message.bytes": str(4 * 1024 * 1024)})
    records = dataset(300, 1_700_000_000_000)
    big = Rec(1, b"big", os.urandom(2_000_000), (), 1_700_000_000_500)  # not compressible
    records.insert(151, big)  # partition 1: 50 records before it, 50 after it
    produce(lab.bootstrap("primary"), b.topic, records)
    b.backup()
    target = f"r7-{RUN}-big-restored"
    # The target refuses records over 1 MB: the batch holding the big record fails.
    create_topic(
        lab.bootstrap("dr"),
        target,
        partitions=3,
        config={
            "max.message.bytes": "1048588",
            "retention.ms": "-1",
            "retention.bytes": "-1",
            "message.timestamp.after.max.ms": UNLIMITED,
            "message.timestamp.before.max.ms": UNLIMITED,
        },
    )

    code, out, err = b.restore(target, "--yes", "--json")

    assert code == 2, out
    line = one_line(err)
    assert f"writing to {target}-1 failed" in line and "Message size too large" in line
    assert f"{target}-1" in out["incomplete_partitions"]
    assert f"{target}-0" in out["complete_partitions"]
    assert f"complete: {', '.join(out['complete_partitions'])};" in line
    for p in range(3):
        restored = on_dr(lab, target, p)
        expected = [r for r in records if r.partition == p]
        if f"{target}-{p}" in out["complete_partitions"]:
            assert restored == expected, f"partition {p} is reported complete"
        else:  # never a gap: a prefix of the partition's records
            assert restored == expected[: len(restored)], f"partition {p} has a gap"
    assert big not in on_dr(lab, target, 1)


# -- item 11: groups on partitions the restore does not have ------------------------------------


def test_group_offsets_on_a_partition_missing_from_the_backup_are_reported_not_a_crash(
    lab: RunningLab, tmp_path: Path
) -> None:
    b = bench(lab, tmp_path, "grp")
    produce(lab.bootstrap("primary"), b.topic, dataset(90, 1_700_000_000_000))
    group = f"r7-{RUN}-group"
    admin = AdminClient({"bootstrap.servers": lab.bootstrap("primary")})
    request = [
        ConsumerGroupTopicPartitions(group, [TopicPartition(b.topic, p, 10) for p in (0, 1, 2)])
    ]
    admin.alter_consumer_group_offsets(request)[group].result(30)
    b.backup()
    # A partition added while the backup ran: the group's offsets (read last) name partition 3,
    # which neither the topic listing nor the manifest (read first) has.
    manifest = b.manifest()
    metadata = json.loads(b.store.get_bytes(manifest.metadata_key))
    metadata["consumer_groups"][group][b.topic]["3"] = 7
    raw = json.dumps(metadata).encode()
    b.store.put_bytes(manifest.metadata_key, raw)
    b.rewrite(replace(manifest, metadata_sha256=hashlib.sha256(raw).hexdigest()))
    target = f"r7-{RUN}-grp-restored"

    code, out, err = b.restore(target, "--groups", "--yes", "--json")

    assert code == 0, f"{out}{err}"
    assert sorted(out["groups"][group][target]) == ["0", "1", "2"]
    assert out["groups_skipped"] == [
        {
            "group": group,
            "topic": target,
            "partition": 3,
            "offset": 7,
            "reason": "the restored topic has no partition 3",
        }
    ]
    dr_admin = AdminClient({"bootstrap.servers": lab.bootstrap("dr")})
    listed = dr_admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])
    on_target = {  # MirrorMaker 2 may sync the group's offsets of its mirrored topic too
        tp.partition: tp.offset
        for tp in listed[group].result(30).topic_partitions
        if tp.topic == target
    }
    assert on_target == {0: 10, 1: 10, 2: 10}


# -- item 15: mistakes on the command line --------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--rename", "{t}=r7-a", "--rename", "{t}=r7-b"], ["--rename", "r7-a", "r7-b"]),
        (["--rename", "{t}=r7-a", "--rename", "r7-other=r7-a"], ["--rename", "r7-a"]),
        (["--topics", "r7-(unclosed"], ["--topics", "r7-(unclosed"]),
    ],
)
def test_contradictory_renames_and_a_bad_topics_regex_are_one_line_usage_errors(
    lab: RunningLab, tmp_path: Path, args: list[str], names: list[str]
) -> None:
    b = bench(lab, tmp_path, "usage")
    produce(lab.bootstrap("primary"), b.topic, dataset(3, 1_700_000_000_000))
    b.backup()

    code, out, err = b.cli(
        "restore", "latest", "--to", "dr", *[a.format(t=b.topic) for a in args], "--dry-run"
    )

    assert code == 2, out
    line = one_line(err)
    assert all(n in line for n in names), line
    assert "unexpected" not in line
