"""`offsets translate` tells the truth (issue 8, items 1 and 7), on the lab's real MirrorMaker 2.

A checkpoint describes one commit. A group that rewound after it must not be handed the stale
checkpoint (it would skip the records it rewound to); the commit goes through the offset-syncs
instead. Partitions that cannot be translated are missing with the reason, and when the source
cannot be read the output says the translation rests on the last checkpoints, and their age.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from dr.config import load_config
from dr.kafka.reader import read_range
from dr.lab.traffic import create_topic, produce_records, wait_for_records
from integration.conftest import RunningLab, run_cli, wait_for_heartbeats, wait_until

pytestmark = pytest.mark.timeout(600)


def commit(bootstrap: str, group: str, topic: str, offset: int) -> None:
    """Commit, waiting for the group coordinator: on a fresh lab the first commit creates
    __consumer_offsets, which can take a minute on a busy machine."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    request = [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0, offset)])]

    def committed() -> bool:
        done = admin.alter_consumer_group_offsets(request)[group].result(30)
        return all(tp.error is None for tp in done.topic_partitions)

    wait_until(committed, timeout_s=150, what=f"a commit of group {group}")


def translate(
    lab: RunningLab, group: str, config: Path | None = None, *, code: int = 0
) -> dict[str, Any]:
    """The --json translation; ``code`` 1 when no partition has one (nothing to translate)."""
    args = ("offsets", "translate", "--group", group, "--from", "primary", "--to", "dr", "--json")
    proc = run_cli("--config", str(config or lab.config), *args)
    assert proc.returncode == code, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def key_on_dr(lab: RunningLab, topic: str, offset: int) -> int:
    """The source offset of the record at `offset` of the replica (produce_records keys are i)."""
    dr = load_config(lab.config).settings.clusters["dr"]
    [rec] = list(read_range(dr, (f"primary.{topic}", 0), offset, offset + 1, timeout_s=30))
    assert rec.key is not None
    return int(rec.key)


@pytest.fixture
def mirror_stopped(lab: RunningLab) -> Iterator[None]:
    """MirrorMaker stopped for the test, started again afterwards with a fresh heartbeat."""
    lab.lab_cli("mirror", "stop")
    try:
        yield
    finally:
        lab.lab_cli("mirror", "start")
        wait_for_heartbeats(lab)


@pytest.fixture
def rewound(lab: RunningLab) -> tuple[str, str]:
    """A group that committed 1990 (checkpointed by MirrorMaker), 2000 records replicated."""
    topic, group = f"rewind.{uuid.uuid4().hex[:6]}", f"g-{uuid.uuid4().hex[:6]}"
    primary = lab.bootstrap("primary")
    create_topic(primary, topic, partitions=1, replication=3)
    produce_records(primary, topic, 2000)
    wait_for_records(lab.bootstrap("dr"), f"primary.{topic}", 2000, timeout_s=120)
    commit(primary, group, topic, 1990)

    def checkpointed() -> bool:
        parts = translate(lab, group)["partitions"]
        return bool(parts) and parts[0]["basis"] == "checkpoint"

    wait_until(checkpointed, timeout_s=120, what="MirrorMaker's checkpoint of 1990")
    return topic, group


def test_a_rewound_group_is_translated_from_its_commit_not_from_the_stale_checkpoint(
    lab: RunningLab, rewound: tuple[str, str], mirror_stopped: None, tmp_path: Path
) -> None:
    topic, group = rewound
    [stale] = translate(lab, group)["partitions"]
    assert stale["upstream_offset"] == 1990 and stale["basis"] == "checkpoint"
    # MirrorMaker is stopped: it checkpoints nothing for the rewind.
    commit(lab.bootstrap("primary"), group, topic, 101)

    [part] = translate(lab, group)["partitions"]

    assert part["basis"] == "offset-sync", part
    assert part["upstream_offset"] == part["source_committed"] == 101
    assert part["checkpoint_upstream_offset"] == 1990
    first = key_on_dr(lab, topic, part["offset"])
    assert first <= 101, f"resuming at {part['offset']} skips records {first}..."
    assert 101 - first <= part["max_redelivered"]

    # Moved on past the checkpoint: the commit, rounded down through the syncs.
    commit(lab.bootstrap("primary"), group, topic, 1500)
    [ahead] = translate(lab, group)["partitions"]
    assert ahead["basis"] == "offset-sync" and ahead["upstream_offset"] == 1500
    first = key_on_dr(lab, topic, ahead["offset"])
    assert first <= 1500 and 1500 - first <= ahead["max_redelivered"]

    # The source is lost: the translation rests on the checkpoint, and says so with its age.
    settings = yaml.safe_load(lab.config.read_text())
    settings["clusters"]["primary"]["bootstrap_servers"] = "127.0.0.1:1"
    lost = tmp_path / "primary-lost.yaml"
    lost.write_text(yaml.safe_dump(settings))
    result = translate(lab, group, lost)
    assert result["source_reachable"] is False
    assert "'primary'" in result["source_unreachable"]
    [cp] = result["partitions"]
    assert cp["basis"] == "checkpoint" and cp["upstream_offset"] == 1990
    assert cp["checkpoint_age_seconds"] > 0
    assert result["newest_checkpoint_age_seconds"] == cp["checkpoint_age_seconds"]
    args = ("offsets", "translate", "--group", group, "--from", "primary", "--to", "dr")
    text = run_cli("--config", str(lost), *args)
    assert text.returncode == 0, text.stderr
    assert "rests on the last checkpoints" in text.stdout and "s old" in text.stdout


def test_a_console_consumer_group_is_missing_because_of_mirrormakers_group_filter(
    lab: RunningLab,
) -> None:
    topic, group = f"console.{uuid.uuid4().hex[:6]}", f"console-consumer-{uuid.uuid4().hex[:6]}"
    primary = lab.bootstrap("primary")
    create_topic(primary, topic, partitions=1, replication=3)
    produce_records(primary, topic, 50)
    wait_for_records(lab.bootstrap("dr"), f"primary.{topic}", 50, timeout_s=120)
    commit(primary, group, topic, 40)

    result = translate(lab, group, code=1)

    assert result["partitions"] == []
    [missing] = result["missing"]
    assert (missing["topic"], missing["partition"], missing["source_committed"]) == (topic, 0, 40)
    assert missing["kind"] == "group-excluded"
    assert "groups.exclude 'console-consumer-.*'" in missing["reason"], missing


def test_a_group_behind_the_oldest_offset_sync_is_missing_with_the_reason(
    lab: RunningLab, mirror_stopped: None
) -> None:
    topic, group = f"behind.{uuid.uuid4().hex[:6]}", f"g-{uuid.uuid4().hex[:6]}"
    primary = lab.bootstrap("primary")
    create_topic(primary, topic, partitions=1, replication=3)
    produce_records(primary, topic, 500)
    admin = AdminClient({"bootstrap.servers": primary})
    [done] = admin.delete_records([TopicPartition(topic, 0, 300)]).values()
    done.result(30)
    commit(primary, group, topic, 100)  # a group left behind by retention
    lab.lab_cli("mirror", "start")  # replicates from the log start, 300: the first sync

    def reason() -> str | None:
        result = translate(lab, group, code=1)
        assert result["partitions"] == [], result
        [missing] = result["missing"]
        text: str = missing["reason"]
        return text if missing["kind"] == "behind-oldest-sync" else None

    text = wait_until(reason, timeout_s=120, what="MirrorMaker's first offset-sync")
    assert "older than the oldest offset-sync" in text and "upstream 300" in text, text
