"""The configs a restored topic gets: nothing that would delete, re-stamp or refuse its records."""

from __future__ import annotations

from dr.backup.restore_configs import (
    UNLIMITED,
    ConfigPolicy,
    losing_configs,
    refused_stamps,
    restored_configs,
    timestamp_window,
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


NOW_MS = 1_800_000_000_000
HOUR = 3_600_000


def test_a_timestamp_limit_refuses_only_records_outside_it() -> None:
    configs = {"message.timestamp.after.max.ms": str(HOUR)}  # Kafka 4.0's default

    assert refused_stamps(configs, (1_700_000_000_000, NOW_MS), NOW_MS) == []
    assert refused_stamps(configs, (NOW_MS, NOW_MS + 2 * HOUR), NOW_MS) == [
        f"message.timestamp.after.max.ms={HOUR}"
    ]


def test_a_before_limit_refuses_old_records_and_difference_bounds_both_ways() -> None:
    before = {"message.timestamp.before.max.ms": str(HOUR)}
    difference = {"message.timestamp.difference.max.ms": str(HOUR)}
    old = (NOW_MS - 2 * HOUR, NOW_MS)

    assert refused_stamps(before, old, NOW_MS) == [f"message.timestamp.before.max.ms={HOUR}"]
    assert refused_stamps(difference, old, NOW_MS) == [
        f"message.timestamp.difference.max.ms={HOUR}"
    ]
    assert refused_stamps(difference, (NOW_MS, NOW_MS + 2 * HOUR), NOW_MS) != []


def test_no_limit_log_append_time_or_no_known_timestamp_refuses_nothing() -> None:
    stamps = (0, NOW_MS + 100 * HOUR)
    unlimited = {"message.timestamp.after.max.ms": UNLIMITED}
    stamped_by_broker = {"message.timestamp.type": "LogAppendTime", **SOURCE}

    assert refused_stamps(unlimited, stamps, NOW_MS) == []
    assert refused_stamps(stamped_by_broker, stamps, NOW_MS) == []
    assert refused_stamps(SOURCE, None, NOW_MS) == []


def test_a_record_without_a_timestamp_is_never_refused() -> None:
    window = timestamp_window({"message.timestamp.before.max.ms": "1"}, NOW_MS)

    assert window is not None and window.refusal(-1) is None and window.refusal(0) is not None


def test_an_existing_targets_timestamp_limits_are_not_a_blanket_refusal() -> None:
    wanted, _ = restored({})
    effective = {"message.timestamp.after.max.ms": str(HOUR), "retention.ms": "-1"}

    assert losing_configs(effective, wanted) == []
