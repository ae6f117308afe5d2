"""The `mirror` drill scenario on the lab's real MirrorMaker 2: a checkpointed group's translation
is checked record by record and passes, with the flow's RPO measured; a wrong translation
injected into MirrorMaker's checkpoints topic is caught, naming the group and the partition.

MirrorMaker writes a group's checkpoint again only when the group commits elsewhere or its
translation moves forward. Group b commits offset 1 of partition 0: MirrorMaker's first offset
sync (upstream 0) translates it exactly, and no later sync can change that, so a checkpoint
injected for that very commit stays the newest until the test puts the true one back.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from dr.config import load_config
from dr.config.drills import DrillScenarios, DrillSettings, MirrorScenario
from dr.config.schema import Settings
from dr.drill.context import DrillContext, Recorder
from dr.drill.mirror import run_mirror
from dr.drill.model import Check
from dr.kafka import admin as kadmin
from dr.kafka.client import admin_client
from dr.kafka.reader import read_range
from dr.lab.traffic import create_topic, produce_records, wait_for_records
from dr.mirror.offsets import load_translation
from dr.mirror.records import Checkpoint, checkpoints_topic, encode_checkpoint
from dr.state import StateStore
from integration.conftest import RunningLab, wait_until

pytestmark = pytest.mark.timeout(300)
FLOW = "primary->dr"


@dataclass(frozen=True)
class Committed:
    topic: str
    a: str  # committed half-way on both partitions
    b: str  # committed 1 on partition 0, half-way on partition 1
    commits: dict[str, dict[int, int]]
    config: Path  # the lab's config, its flow narrowed to this topic and these groups


def commit(bootstrap: str, group: str, topic: str, offsets: dict[int, int]) -> None:
    """Commit, waiting for the group coordinator (a fresh lab creates __consumer_offsets)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    parts = [TopicPartition(topic, p, o) for p, o in offsets.items()]
    request = [ConsumerGroupTopicPartitions(group, parts)]

    def done() -> bool:
        result = admin.alter_consumer_group_offsets(request)[group].result(30)
        return all(tp.error is None for tp in result.topic_partitions)

    wait_until(done, timeout_s=150, what=f"a commit of group {group}")


def checkpointed(settings: Settings, groups: dict[str, dict[int, int]], replica: str) -> bool:
    """True once MirrorMaker's checkpoint translates each group's commit on each partition."""
    loaded = load_translation(settings, "primary", "dr", wanted=list(groups))
    for group, offsets in groups.items():
        found = {
            t.partition: t.upstream_offset
            for t in loaded.translate(group).partitions
            if t.topic == replica and t.basis == "checkpoint"
        }
        if found != offsets:
            return False
    return True


def scoped_config(lab: RunningLab, directory: Path, topic: str, groups: list[str]) -> Path:
    """The lab's config with the flow narrowed to this test's topic and groups: the drill's
    figures are then this test's, and its sample these groups, whatever other tests left in the
    session's lab. MirrorMaker keeps running with the lab's own config."""
    config: dict[str, Any] = yaml.safe_load(lab.config.read_text())
    [flow] = config["mirror"]["flows"]
    flow["topics"] = [re.escape(topic)]
    flow["groups"] = [re.escape(g) for g in groups]
    config["state"] = str(directory / "kafka-dr.db")
    path = directory / "kafka-dr.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def committed(lab: RunningLab, tmp_path_factory: pytest.TempPathFactory) -> Committed:
    """Two groups committed on a fresh topic, both checkpointed by MirrorMaker."""
    topic = f"drill.{uuid.uuid4().hex[:6]}"
    primary = lab.bootstrap("primary")
    create_topic(primary, topic, partitions=2, replication=3)
    produce_records(primary, topic, 1200)
    wait_for_records(lab.bootstrap("dr"), f"primary.{topic}", 1200, timeout_s=120)
    settings = load_config(lab.config).settings
    ends = kadmin.offsets(
        admin_client(settings.clusters["primary"]),
        [(topic, 0), (topic, 1)],
        "latest",
        15,
        committed=False,
    )
    assert min(ends.values()) > 410, ends  # room for a translation wrong by 400
    tag = uuid.uuid4().hex[:6]
    a, b = f"drill-{tag}-a", f"drill-{tag}-b"
    commits = {
        a: {0: ends[(topic, 0)] // 2, 1: ends[(topic, 1)] // 2},
        b: {0: 1, 1: ends[(topic, 1)] // 2},
    }
    for group, offsets in commits.items():
        commit(primary, group, topic, offsets)
    wait_until(
        lambda: checkpointed(settings, commits, f"primary.{topic}"),
        timeout_s=120,
        what="MirrorMaker's checkpoints of both groups",
        interval_s=2,
    )
    config = scoped_config(lab, tmp_path_factory.mktemp("drill-mirror"), topic, [a, b])
    return Committed(topic, a, b, commits, config)


def run_drill(config: Path) -> tuple[DrillContext, dict[tuple[str, str], Check]]:
    """run_mirror on a context built as `drill run` builds it; its checks by (name, subject)."""
    settings = load_config(config).settings
    assert settings.state is not None
    scenario = MirrorScenario(flows=[FLOW], sample_groups=2, sample_partitions=4)
    ctx = DrillContext(
        settings=settings,
        state=StateStore(settings.state),
        drill="lab",
        drill_id=f"test-{uuid.uuid4().hex[:4]}",
        spec=DrillSettings(scenarios=DrillScenarios(mirror=scenario)),
        destructive=False,
        recorder=Recorder(),
    )
    run_mirror(ctx, scenario)
    return ctx, {(c.name, c.subject): c for c in ctx.recorder.checks}


def test_a_mirror_drill_finds_a_checkpointed_groups_records_where_it_left_off(
    lab: RunningLab, committed: Committed
) -> None:
    ctx, checks = run_drill(committed.config)

    check = checks[("translation", committed.a)]
    assert check.outcome == "passed", check.summary
    parts = {p["partition"]: p for p in check.evidence["partitions"]}
    assert set(parts) == {0, 1}
    for partition, part in parts.items():
        assert part["topic"] == committed.topic and part["basis"] == "checkpoint"
        assert part["committed"] == committed.commits[committed.a][partition]
        assert part["verdict"] in ("exact", "redelivered"), part
        # The digest of the source record at C was found on dr, at or after T.
        assert part["source_digest"] and part["target_offset_found"] >= part["translated"]
    assert checks[("translation", committed.b)].outcome == "passed"

    [rpo] = [o for o in ctx.recorder.objectives if o.kind == "rpo" and o.subject == FLOW]
    assert rpo.measured_seconds is not None and rpo.unmeasured is None, rpo
    assert checks[("rpo", FLOW)].evidence["rpo_seconds"] == rpo.measured_seconds
    for name in ("topic_drift", "connectors"):
        assert checks[(name, FLOW)].outcome == "passed", checks[(name, FLOW)].summary
    clusters = ctx.recorder.clusters
    assert set(clusters) == {"primary", "dr"} and all(c.cluster_id for c in clusters.values())
    assert [s.name for s in ctx.recorder.steps] == [f"flow {FLOW}"]


@contextmanager
def wrong_checkpoint(lab: RunningLab, committed: Committed, downstream: int) -> Iterator[None]:
    """Group b's checkpoint of commit 1 on partition 0 replaced by one translating it to
    ``downstream`` (the copy of source offset 1 is at 1 on dr); the true one is written back."""
    settings = load_config(lab.config).settings
    replica = f"primary.{committed.topic}"
    source = read_range(settings.clusters["primary"], (committed.topic, 0), 1, 2, timeout_s=30)
    copy = read_range(settings.clusters["dr"], (replica, 0), 1, 2, timeout_s=30)
    assert [r.digest() for r in source] == [r.digest() for r in copy], "offsets differ on dr"
    loaded = load_translation(settings, "primary", "dr", wanted=[committed.b])
    [true] = [t for t in loaded.translate(committed.b).partitions if t.partition == 0]
    assert (true.upstream_offset, true.basis) == (1, "checkpoint")

    def write(offset: int) -> None:
        record = encode_checkpoint(Checkpoint(committed.b, replica, 0, 1, offset, ""))
        producer = Producer({"bootstrap.servers": lab.bootstrap("dr"), "acks": "all"})
        producer.produce(
            checkpoints_topic("primary"), value=record.value, key=record.key, partition=0
        )
        assert producer.flush(30) == 0

    write(downstream)
    try:
        yield
    finally:
        write(true.offset)


def test_a_mirror_drill_detects_a_wrongly_translated_offset(
    lab: RunningLab, committed: Committed
) -> None:
    with wrong_checkpoint(lab, committed, 6):
        _, checks = run_drill(committed.config)

    check = checks[("translation", committed.b)]
    assert check.outcome == "failed", check.summary
    assert check.summary == (
        f"group {committed.b}: {committed.topic}-0 committed 1 translated to 6, but the record at "
        "6 on dr is not source offset 1's record (it is source offset 6's); that record is at 1 "
        "on dr: resuming at 6 skips 5 records"
    )
    [wrong] = [p for p in check.evidence["partitions"] if p["partition"] == 0]
    assert (wrong["verdict"], wrong["target_offset_found"], wrong["skipped"]) == ("skipped", 1, 5)
    assert wrong["source_digest"] != wrong["target_digest"]
    assert checks[("translation", committed.a)].outcome == "passed"


def test_a_translation_wrong_by_more_than_the_records_read_is_found_by_timestamp(
    lab: RunningLab, committed: Committed
) -> None:
    with wrong_checkpoint(lab, committed, 401):
        _, checks = run_drill(committed.config)

    check = checks[("translation", committed.b)]
    assert check.outcome == "failed", check.summary
    assert check.summary.startswith(
        f"group {committed.b}: {committed.topic}-0 committed 1 translated to 401, but the record "
        "at 401 on dr is not source offset 1's record"
    )
    assert check.summary.endswith(
        "that record is at 1 on dr: resuming at 401 skips about 400 records"
    )
    [wrong] = [p for p in check.evidence["partitions"] if p["partition"] == 0]
    assert wrong["found_by_timestamp"] is True and wrong["target_offset_found"] == 1
