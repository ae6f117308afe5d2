"""The documented ``kafka-dr rpo status --json`` form, and the ``--since`` windows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from dr.cli.rpo import exit_code, parse_window, print_report, report_json
from dr.errors import UsageError
from dr.mirror.heartbeats import HeartbeatCheck
from dr.objectives.rpo import BackupRpo, FlowRpo, PartitionRpo, RpoReport

MEASURED_AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
FLOW_KEYS = {
    "rpo_seconds",
    "unmeasured",
    "lag_messages",
    "heartbeat_age_seconds",
    "target_seconds",
    "breached",
    "partitions",
}
PARTITION_KEYS = {
    "topic",
    "partition",
    "target_topic",
    "lag_messages",
    "rpo_seconds",
    "unmeasured",
}


def partition(topic: str, number: int, *, lag: int, rpo: float) -> PartitionRpo:
    return PartitionRpo(
        topic=topic,
        partition=number,
        target_topic=f"primary.{topic}",
        lag_messages=lag,
        rpo_seconds=rpo,
        source_end=10_000,
    )


def report(*, flow_rpo: float = 12.3456, heartbeat: float | None = 0.8) -> RpoReport:
    return RpoReport(
        measured_at=MEASURED_AT.timestamp(),
        flows=(
            FlowRpo(
                flow="primary->dr",
                rpo_seconds=flow_rpo,
                lag_messages=150,
                heartbeat_age_seconds=heartbeat,
                target_seconds=60.0,
                partitions=(
                    partition("orders", 0, lag=150, rpo=flow_rpo),
                    partition("orders", 1, lag=0, rpo=0.0),
                ),
                missing_topics=("payments",),
            ),
        ),
        backups=(
            BackupRpo(
                job="orders-hourly",
                rpo_seconds=4000.0,
                lag_messages=9000,
                target_seconds=3600.0,
                last_backup_at="2025-03-01T10:53:20+00:00",
            ),
        ),
    )


def test_a_flow_has_the_documented_keys_and_figures() -> None:
    flow = report_json(report())["flows"]["primary->dr"]

    assert flow.keys() >= FLOW_KEYS
    assert flow["rpo_seconds"] == 12.346
    assert flow["lag_messages"] == 150
    assert flow["heartbeat_age_seconds"] == 0.8
    assert flow["target_seconds"] == 60.0
    assert flow["breached"] is False
    assert flow["missing_topics"] == ["payments"]


def test_each_partition_of_a_flow_names_its_source_and_target_topic() -> None:
    partitions = report_json(report())["flows"]["primary->dr"]["partitions"]

    assert all(p.keys() >= PARTITION_KEYS for p in partitions)
    assert partitions == [
        {
            "topic": "orders",
            "partition": 0,
            "target_topic": "primary.orders",
            "lag_messages": 150,
            "rpo_seconds": 12.346,
            "unmeasured": None,
        },
        {
            "topic": "orders",
            "partition": 1,
            "target_topic": "primary.orders",
            "lag_messages": 0,
            "rpo_seconds": 0.0,
            "unmeasured": None,
        },
    ]


def test_a_flow_past_its_target_is_breached() -> None:
    flow = report_json(report(flow_rpo=61.0))["flows"]["primary->dr"]

    assert flow["breached"] is True


def test_a_flow_without_heartbeats_shows_a_null_heartbeat_age() -> None:
    text = json.dumps(report_json(report(heartbeat=None)))

    assert json.loads(text)["flows"]["primary->dr"]["heartbeat_age_seconds"] is None


def test_a_backup_job_shows_its_rpo_breach_and_last_backup() -> None:
    job = report_json(report())["backups"]["orders-hourly"]

    assert job["rpo_seconds"] == 4000.0
    assert job["lag_messages"] == 9000
    assert job["target_seconds"] == 3600.0
    assert job["breached"] is True
    assert job["last_backup_at"] == "2025-03-01T10:53:20+00:00"
    assert job["partitions"] == []


def test_the_report_says_when_it_was_measured_and_what_could_not_be_measured() -> None:
    reason = "cluster 'primary' did not answer within 15s"
    unmeasured = RpoReport(
        measured_at=MEASURED_AT.timestamp(), errors={"primary->dr": reason, "orders": reason}
    )

    doc = json.loads(json.dumps(report_json(unmeasured)))

    assert datetime.fromisoformat(doc["measured_at"]) == MEASURED_AT
    assert doc["errors"] == {"primary->dr": reason, "orders": reason}
    # Listed with its kind, unmeasured: never missing as if it were not configured, never 0.
    for entry in (doc["flows"]["primary->dr"], doc["backups"]["orders"]):
        assert (entry["rpo_seconds"], entry["unmeasured"], entry["breached"]) == (
            None,
            reason,
            False,
        )
    assert list(doc["flows"]) == ["primary->dr"] and list(doc["backups"]) == ["orders"]
    assert set(doc["flows"]["primary->dr"]) >= FLOW_KEYS
    assert doc["backups"]["orders"]["last_backup_at"] is None


REASON = "the record at offset 40 of orders-0 could not be read within 15s"


def unmeasured_report() -> RpoReport:
    return RpoReport(
        measured_at=MEASURED_AT.timestamp(),
        flows=(
            FlowRpo(
                flow="primary->dr",
                rpo_seconds=None,
                lag_messages=60,
                heartbeat_age_seconds=0.5,
                target_seconds=60.0,
                partitions=(
                    PartitionRpo("orders", 0, "primary.orders", 60, None, 100, REASON),
                    partition("orders", 1, lag=0, rpo=0.0),
                ),
                unmeasured=REASON,
            ),
        ),
        backups=(
            BackupRpo(
                job="orders-hourly",
                rpo_seconds=None,
                lag_messages=None,
                target_seconds=3600.0,
                last_backup_at=None,
                unmeasured="the last record of orders-0 could not be read within 15s",
            ),
        ),
    )


def test_an_unmeasured_flow_shows_a_null_rpo_and_the_reason_never_zero() -> None:
    doc = json.loads(json.dumps(report_json(unmeasured_report())))
    flow = doc["flows"]["primary->dr"]

    assert flow["rpo_seconds"] is None
    assert flow["unmeasured"] == REASON
    assert flow["breached"] is False
    assert flow["lag_messages"] == 60
    assert flow["partitions"][0]["rpo_seconds"] is None
    assert flow["partitions"][0]["unmeasured"] == REASON
    assert flow["partitions"][1]["unmeasured"] is None


def test_an_unmeasured_backup_job_shows_a_null_rpo_and_lag_and_the_reason() -> None:
    job = report_json(unmeasured_report())["backups"]["orders-hourly"]

    assert (job["rpo_seconds"], job["lag_messages"]) == (None, None)
    assert job["unmeasured"] == "the last record of orders-0 could not be read within 15s"


def test_a_measured_flow_says_it_is_not_unmeasured() -> None:
    assert report_json(report())["flows"]["primary->dr"]["unmeasured"] is None


def test_the_text_says_unmeasured_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    print_report(unmeasured_report())

    out = capsys.readouterr().out
    assert f"flow primary->dr: RPO unmeasured ({REASON})" in out
    assert "backup orders-hourly: RPO unmeasured (the last record of orders-0" in out
    assert "unknown records not in the store" in out
    assert "RPO 0.0s" not in out


def test_the_text_says_unmeasured_for_a_flow_that_could_not_be_read_at_all(
    capsys: pytest.CaptureFixture[str],
) -> None:
    print_report(RpoReport(measured_at=0.0, errors={"primary->dr": "cluster primary unreachable"}))

    assert "primary->dr: RPO unmeasured (cluster primary unreachable)" in capsys.readouterr().out


def test_status_exits_1_when_anything_is_unmeasured_as_for_a_breach() -> None:
    within = RpoReport(
        measured_at=0.0, backups=(BackupRpo("orders", 1.0, 1, 60.0, last_backup_at=None),)
    )
    failed = RpoReport(measured_at=0.0, errors={"primary->dr": "cluster primary unreachable"})

    assert exit_code(within) == 0
    assert exit_code(report()) == 1  # breached
    assert exit_code(unmeasured_report()) == 1
    assert exit_code(failed) == 1


def idle_flow(heartbeat: HeartbeatCheck) -> RpoReport:
    """A caught-up flow whose source is idle: RPO 0, whatever MirrorMaker does."""
    return RpoReport(
        measured_at=0.0,
        flows=(
            FlowRpo(
                flow="primary->dr",
                rpo_seconds=0.0,
                lag_messages=0,
                heartbeat_age_seconds=heartbeat.age_s,
                target_seconds=60.0,
                heartbeat=heartbeat,
            ),
        ),
    )


def test_a_stale_heartbeat_flags_replication_stalled_and_keeps_the_rpo_as_measured() -> None:
    stalled = idle_flow(HeartbeatCheck("primary", "dr", 1.0, 42.0))

    flow = report_json(stalled)["flows"]["primary->dr"]

    assert (flow["rpo_seconds"], flow["breached"], flow["unmeasured"]) == (0.0, False, None)
    assert flow["replication"] == "stalled"
    assert flow["replication_reason"] == "no heartbeat from primary on dr for 42s (stale after 10s)"
    assert flow["heartbeat_stale_after_seconds"] == 10.0
    assert exit_code(stalled) == 1


def test_a_fresh_heartbeat_says_replication_ok_and_exits_0() -> None:
    fresh = idle_flow(HeartbeatCheck("primary", "dr", 1.0, 0.7))

    flow = report_json(fresh)["flows"]["primary->dr"]

    assert (flow["replication"], flow["replication_reason"]) == ("ok", None)
    assert exit_code(fresh) == 0


def test_with_heartbeats_disabled_replication_is_unmeasured_and_not_a_problem() -> None:
    off = idle_flow(HeartbeatCheck("primary", "dr", None, None))

    flow = report_json(off)["flows"]["primary->dr"]

    assert (flow["replication"], flow["replication_reason"]) == (
        "unmeasured",
        "heartbeats disabled",
    )
    assert exit_code(off) == 0


def test_the_text_says_replication_is_stalled_and_what_the_rpo_means_then(
    capsys: pytest.CaptureFixture[str],
) -> None:
    print_report(idle_flow(HeartbeatCheck("primary", "dr", 1.0, None)))

    out = capsys.readouterr().out
    assert "flow primary->dr: RPO 0.0s (target 60s) ok" in out
    assert "replication STALLED: no heartbeat from primary on dr; the RPO counts only" in out


@pytest.mark.parametrize(
    ("text", "window"),
    [
        ("90m", timedelta(minutes=90)),
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("45s", timedelta(seconds=45)),
        (" 24h ", timedelta(hours=24)),
    ],
)
def test_a_window_is_a_whole_number_and_a_unit(text: str, window: timedelta) -> None:
    assert parse_window(text) == window


@pytest.mark.parametrize("text", ["24", "h", "1.5h", "-5m", "2w", "1d12h", ""])
def test_a_window_that_is_not_a_number_and_a_unit_is_refused_naming_the_flag(text: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_window(text)

    assert "--since" in str(raised.value)
    assert "24h" in str(raised.value)
