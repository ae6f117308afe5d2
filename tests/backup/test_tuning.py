"""The backup consumer's and restore producer's settings: tuned defaults, a job's
client_overrides merged over them, and the overrides refused because they break exactness."""

from __future__ import annotations

from pathlib import Path

import pytest

from dr.backup.tuning import TuningError, consumer_settings, producer_settings
from dr.config import parse_config
from dr.config.schema import Settings
from dr.errors import ConfigError

MIB = 1024 * 1024
CONFIG = """\
clusters:
  primary:
    bootstrap_servers: kafka-1.prod:9092
storage:
  lab:
    url: file:///tmp/store
backups:
  orders:
    cluster: primary
    topics: [orders]
    storage: lab
"""


def load(tmp_path: Path, overrides: str = "") -> Settings:
    text = CONFIG + (f"    client_overrides:\n{overrides}" if overrides else "")
    return parse_config(text, source="kafka-dr.yaml", base_dir=tmp_path)


def problems(tmp_path: Path, overrides: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, overrides)
    return caught.value.problems


def test_the_backup_consumer_is_tuned_and_exact_by_default(tmp_path: Path) -> None:
    job = load(tmp_path).backups["orders"]

    conf = consumer_settings("orders", job.client_overrides.consumer, fetch_queue_bytes=64 * MIB)

    assert conf["fetch.queue.backoff.ms"] == 10
    assert conf["queued.max.messages.kbytes"] == 64 * 1024
    assert conf["fetch.max.bytes"] <= 64 * MIB
    assert conf["isolation.level"] == "read_committed"
    assert conf["enable.auto.commit"] is False
    assert conf["auto.offset.reset"] == "error"
    assert conf["group.id"] == "kafka-dr-backup-orders"


def test_the_fetch_queue_follows_a_small_memory_budget(tmp_path: Path) -> None:
    conf = consumer_settings("orders", {}, fetch_queue_bytes=8 * MIB)
    tiny = consumer_settings("orders", {}, fetch_queue_bytes=MIB)

    assert conf["queued.max.messages.kbytes"] == 8 * 1024
    assert conf["fetch.max.bytes"] == 8 * MIB
    assert conf["max.partition.fetch.bytes"] == 2 * MIB
    assert tiny["fetch.max.bytes"] == tiny["max.partition.fetch.bytes"] == MIB


def test_consumer_overrides_replace_the_defaults_and_keep_the_rest(tmp_path: Path) -> None:
    job = load(
        tmp_path,
        "      consumer:\n        fetch.wait.max.ms: 50\n        fetch.queue.backoff.ms: 0\n",
    ).backups["orders"]

    conf = consumer_settings("orders", job.client_overrides.consumer, fetch_queue_bytes=64 * MIB)

    assert conf["fetch.wait.max.ms"] == 50
    assert conf["fetch.queue.backoff.ms"] == 0
    assert conf["fetch.min.bytes"] == 1
    assert conf["isolation.level"] == "read_committed"


def test_a_fetch_queue_override_past_the_memory_budget_is_refused_naming_it() -> None:
    with pytest.raises(TuningError) as caught:
        consumer_settings(
            "orders", {"queued.max.messages.kbytes": 131072}, fetch_queue_bytes=64 * MIB
        )

    assert "backups.orders.client_overrides.consumer.queued.max.messages.kbytes" in str(
        caught.value
    )
    assert "memory_budget_mb" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_smaller_fetch_queue_override_is_taken() -> None:
    conf = consumer_settings(
        "orders", {"queued.max.messages.kbytes": 1024}, fetch_queue_bytes=64 * MIB
    )

    assert conf["queued.max.messages.kbytes"] == 1024


def test_restore_producer_overrides_merge_over_the_defaults(tmp_path: Path) -> None:
    job = load(
        tmp_path, "      producer:\n        linger.ms: 50\n        compression.type: zstd\n"
    ).backups["orders"]

    conf = producer_settings(job.client_overrides.producer)

    assert conf["linger.ms"] == 50
    assert conf["compression.type"] == "zstd"
    assert conf["batch.size"] == 1_000_000
    assert conf["enable.idempotence"] is True
    assert conf["enable.gapless.guarantee"] is True
    assert conf["acks"] == "all"


@pytest.mark.parametrize(
    ("kind", "setting", "named"),
    [
        ("consumer", "enable.auto.commit: true", "enable.auto.commit"),
        ("consumer", "isolation.level: read_uncommitted", "isolation.level"),
        ("consumer", "group.id: shared", "group.id"),
        ("consumer", "auto.offset.reset: earliest", "auto.offset.reset"),
        ("producer", "enable.idempotence: false", "enable.idempotence"),
        ("producer", "acks: 1", "acks"),
        ("producer", "enable.gapless.guarantee: false", "enable.gapless.guarantee"),
        ("producer", "delivery.report.only.error: true", "delivery.report.only.error"),
        ("producer", "sasl.password: x", "clusters.<name>.client"),
    ],
)
def test_overrides_that_break_exactness_are_refused_in_one_line_naming_the_key(
    tmp_path: Path, kind: str, setting: str, named: str
) -> None:
    found = problems(tmp_path, f"      {kind}:\n        {setting}\n")

    assert len(found) == 1
    assert f"backups.orders.client_overrides.{kind}" in found[0]
    assert named in found[0]
    assert "\n" not in found[0]


def test_overrides_that_keep_exactness_are_accepted(tmp_path: Path) -> None:
    job = load(tmp_path, "      producer:\n        acks: all\n        enable.idempotence: true\n")

    assert producer_settings(job.backups["orders"].client_overrides.producer)["acks"] == "all"
