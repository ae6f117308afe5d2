"""The configs a restored topic gets: nothing that would delete, re-stamp or refuse its records."""

from __future__ import annotations

from dr.backup.restore_configs import (
    UNLIMITED,
    ConfigPolicy,
    losing_configs,
    restored_configs,
)

WEEK = "604800000"
SOURCE = {
    "retention.ms": WEEK,
    "retention.bytes": "1073741824",
    "message.timestamp.type": "LogAppendTime",
    "message.timestamp.before.max.ms": "3600000",
    "message.timestamp.difference.max.ms": "3600000",
    "remote.storage.enable": "true",
    "local.retention.ms": "3600000",
    "remote.log.copy.disable": "false",
    "message.format.version": "2.8",
    "cleanup.policy": "compact,delete",
    "max.message.bytes": "4194304",
    "min.insync.replicas": "2",
}


def restored(source: dict[str, str], policy: ConfigPolicy | None = None, rf: int = 3):  # type: ignore[no-untyped-def]
    return restored_configs(source, replication_factor=rf, policy=policy or ConfigPolicy())


def test_a_restored_topic_keeps_every_record_and_its_timestamp_by_default() -> None:
    configs, _ = restored(SOURCE)

    assert configs["retention.ms"] == "-1" and configs["retention.bytes"] == "-1"
    assert configs["message.timestamp.type"] == "CreateTime"
    assert configs["message.timestamp.before.max.ms"] == UNLIMITED
    assert configs["message.timestamp.after.max.ms"] == UNLIMITED


def test_timestamp_limits_tiered_storage_and_removed_configs_are_dropped() -> None:
    configs, _ = restored(SOURCE)

    for key in (
        "message.timestamp.difference.max.ms",
        "remote.storage.enable",
        "local.retention.ms",
        "remote.log.copy.disable",
        "message.format.version",
    ):
        assert key not in configs


def test_configs_that_lose_nothing_are_copied_as_they_were() -> None:
    configs, changes = restored(SOURCE)

    assert configs["cleanup.policy"] == "compact,delete"
    assert configs["max.message.bytes"] == "4194304"
    assert configs["min.insync.replicas"] == "2"
    assert not {"cleanup.policy", "max.message.bytes", "min.insync.replicas"} & {
        c.key for c in changes
    }


def test_every_change_is_reported_with_the_source_value_and_a_reason() -> None:
    _, changes = restored(SOURCE)
    by_key = {c.key: c for c in changes}

    assert (by_key["retention.ms"].source, by_key["retention.ms"].restored) == (WEEK, "-1")
    assert by_key["message.timestamp.type"].source == "LogAppendTime"
    assert by_key["remote.storage.enable"].restored is None
    assert all(c.reason for c in changes)


def test_a_config_the_source_left_to_its_cluster_default_is_reported_as_such() -> None:
    _, changes = restored({})
    by_key = {c.key: c for c in changes}

    assert by_key["retention.ms"].source is None and by_key["retention.ms"].restored == "-1"


def test_keep_source_configs_keeps_retention_and_limits_but_still_writes_create_time() -> None:
    configs, changes = restored(SOURCE, ConfigPolicy(keep_source=True))

    assert configs["retention.ms"] == WEEK
    assert configs["message.timestamp.before.max.ms"] == "3600000"
    assert configs["remote.storage.enable"] == "true"
    assert configs["message.timestamp.type"] == "CreateTime"
    assert [c.key for c in changes] == ["message.timestamp.type"]


def test_config_options_win_over_the_policy_and_say_so() -> None:
    policy = ConfigPolicy(
        overrides={"retention.ms": "3600000", "message.timestamp.type": "LogAppendTime"},
        drops=frozenset({"retention.bytes"}),
    )
    configs, changes = restored(SOURCE, policy)
    by_key = {c.key: c for c in changes}

    assert configs["retention.ms"] == "3600000"
    assert configs["message.timestamp.type"] == "LogAppendTime"
    assert "retention.bytes" not in configs
    assert "--config" in by_key["retention.ms"].reason
    assert "--drop-config" in by_key["retention.bytes"].reason


def test_min_insync_replicas_is_capped_to_the_replication_factor() -> None:
    configs, changes = restored({"min.insync.replicas": "2"}, rf=1)

    assert configs["min.insync.replicas"] == "1"
    assert "min.insync.replicas" in {c.key for c in changes}


def test_an_existing_target_that_would_delete_or_restamp_records_is_named() -> None:
    wanted, _ = restored({})
    effective = {
        "retention.ms": WEEK,
        "retention.bytes": "-1",
        "message.timestamp.type": "LogAppendTime",
        "message.timestamp.before.max.ms": UNLIMITED,
        "message.timestamp.after.max.ms": UNLIMITED,
    }

    found = {key: value for key, value, _ in losing_configs(effective, wanted)}

    assert found == {"retention.ms": WEEK, "message.timestamp.type": "LogAppendTime"}


def test_an_existing_target_is_accepted_with_what_the_restore_itself_asks_for() -> None:
    wanted, _ = restored({}, ConfigPolicy(overrides={"retention.ms": WEEK}))
    effective = {"retention.ms": WEEK, "message.timestamp.type": "CreateTime"}

    assert losing_configs(effective, wanted) == []
