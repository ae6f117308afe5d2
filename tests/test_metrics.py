"""The Prometheus metrics: names and labels as documented, on a registry of their own."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

import dr
import dr.metrics
from dr.metrics import Metrics
from dr.mirror.heartbeats import HeartbeatCheck
from dr.objectives.rpo import BackupRpo, FlowRpo, PartitionRpo, RpoReport

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Figures:
    records: int
    bytes: int
    started_at: datetime
    finished_at: datetime


def scrape(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the text exposition, by name and sorted labels, as Prometheus reads it."""
    text = metrics.render().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def job(name: str) -> tuple[tuple[str, str], ...]:
    return (("backup_job", name),)


def a_flow(name: str = "primary->dr") -> tuple[tuple[str, str], ...]:
    return (("flow", name),)


def test_a_successful_backup_counts_records_bytes_duration_and_time() -> None:
    metrics = Metrics()
    second = T0 + timedelta(minutes=15)
    metrics.record_backup_success("orders", Figures(100, 2048, T0, T0 + timedelta(seconds=12)))
    metrics.record_backup_success(
        "orders", Figures(50, 1024, second, second + timedelta(seconds=3))
    )

    samples = scrape(metrics)

    assert samples["kafka_dr_backup_records_total", job("orders")] == 150
    assert samples["kafka_dr_backup_bytes_total", job("orders")] == 3072
    assert samples["kafka_dr_backup_last_duration_seconds", job("orders")] == 3
    last_success = second + timedelta(seconds=3)
    assert samples["kafka_dr_backup_last_success_timestamp_seconds", job("orders")] == (
        last_success.timestamp()
    )


def test_failures_and_the_running_flag_are_per_job() -> None:
    metrics = Metrics()
    metrics.declare_backup_job("orders")
    metrics.declare_backup_job("payments")
    metrics.record_backup_failure("payments")
    metrics.record_backup_failure("payments")
    metrics.set_backup_running("orders", True)

    samples = scrape(metrics)

    assert samples["kafka_dr_backup_failures_total", job("payments")] == 2
    assert samples["kafka_dr_backup_failures_total", job("orders")] == 0
    assert samples["kafka_dr_backup_running", job("orders")] == 1
    assert samples["kafka_dr_backup_running", job("payments")] == 0

    metrics.set_backup_running("orders", False)
    assert scrape(metrics)["kafka_dr_backup_running", job("orders")] == 0


def status(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str) -> str:
    (found,) = [
        dict(labels)["status"]
        for (metric, labels), value in samples.items()
        if metric == "kafka_dr_backup_last_run_status"
        and dict(labels)["backup_job"] == name
        and value == 1
    ]
    return found


def test_a_declared_job_has_its_series_before_its_first_run_with_never_as_zero() -> None:
    metrics = Metrics()

    metrics.declare_backup_job("orders", stale_after_s=1800)

    samples = scrape(metrics)
    assert status(samples, "orders") == "never_run"
    assert samples["kafka_dr_backup_last_success_timestamp_seconds", job("orders")] == 0
    assert samples["kafka_dr_backup_last_failure_timestamp_seconds", job("orders")] == 0
    assert samples["kafka_dr_backup_stale_after_seconds", job("orders")] == 1800
    assert samples["kafka_dr_backup_failures_total", job("orders")] == 0
    assert samples["kafka_dr_backup_rpo_unmeasured", job("orders")] == 1
    assert ("kafka_dr_backup_last_duration_seconds", job("orders")) not in samples


def test_a_declared_job_with_an_earlier_success_shows_it_from_the_start() -> None:
    metrics = Metrics()
    finished = datetime.now(UTC) - timedelta(hours=2)

    metrics.declare_backup_job("orders", last_success=finished)

    samples = scrape(metrics)
    assert samples["kafka_dr_backup_last_success_timestamp_seconds", job("orders")] == (
        finished.timestamp()
    )
    assert "kafka_dr_backup_records_total" in metrics.render().decode()


def test_the_status_and_the_last_failure_follow_what_they_are_told() -> None:
    metrics = Metrics()
    metrics.declare_backup_job("orders")

    metrics.set_backup_status("orders", "failed")
    metrics.observe_last_failure("orders", T0)

    samples = scrape(metrics)
    assert status(samples, "orders") == "failed"
    assert samples["kafka_dr_backup_last_failure_timestamp_seconds", job("orders")] == (
        T0.timestamp()
    )


def test_no_series_has_a_created_twin_or_a_label_called_job() -> None:
    metrics = Metrics()
    metrics.declare_backup_job("orders")
    metrics.record_backup_success("orders", Figures(1, 1, T0, T0))
    metrics.observe_drill("weekly", None, last_success_at=None)

    text = metrics.render().decode()
    families = list(text_string_to_metric_families(text))

    assert "_created" not in text
    assert all("job" not in s.labels for f in families for s in f.samples)
    assert {f.type for f in families if f.name.endswith("_total")} <= {"counter"}
    counters = [f.name for f in families if f.type == "counter"]
    assert counters and all(
        s.name.endswith("_total") for f in families if f.type == "counter" for s in f.samples
    )


def test_the_build_info_names_the_version() -> None:
    samples = scrape(Metrics())

    assert samples["kafka_dr_build_info", (("version", dr.__version__),)] == 1


def test_the_exported_names_are_the_names_a_scrape_shows() -> None:
    metrics = Metrics()
    metrics.declare_backup_job("orders")
    metrics.observe_drill("weekly", None, last_success_at=None)

    names = metrics.exported_names()
    scraped = {
        s.name for f in text_string_to_metric_families(metrics.render().decode()) for s in f.samples
    }

    assert scraped <= names
    assert "kafka_dr_backup_failures_total" in names and "kafka_dr_backup_failures" not in names
    assert "kafka_dr_cluster_offline_partitions" in names  # declared, no series yet
    assert not any(n.endswith("_created") for n in names)


def test_the_replication_metrics_are_declared_with_their_labels() -> None:
    metrics = Metrics()
    metrics.mirror_rpo.labels(flow="primary->dr", topic="orders").set(4.5)
    metrics.mirror_lag.labels(flow="primary->dr", topic="orders").set(12)
    metrics.mirror_heartbeat_age.labels(flow="primary->dr").set(2)

    samples = scrape(metrics)

    labels = (("flow", "primary->dr"), ("topic", "orders"))
    assert samples["kafka_dr_mirror_rpo_seconds", labels] == 4.5
    assert samples["kafka_dr_mirror_lag_records", labels] == 12
    assert samples["kafka_dr_mirror_heartbeat_age_seconds", a_flow()] == 2


def test_kafka_dr_metrics_stay_off_the_global_registry() -> None:
    dr.metrics.record_backup_failure("global-check")
    dr.metrics.set_backup_running("global-check", False)

    labels = {"backup_job": "global-check"}
    assert REGISTRY.get_sample_value("kafka_dr_backup_failures_total", labels) is None
    assert b'kafka_dr_backup_failures_total{backup_job="global-check"} 1.0' in dr.metrics.render()


def part(topic: str, partition: int, *, rpo: float, lag: int) -> PartitionRpo:
    return PartitionRpo(topic, partition, f"primary.{topic}", lag, rpo, source_end=1000)


def flow_rpo(partitions: tuple[PartitionRpo, ...], heartbeat_age: float | None = 1.5) -> FlowRpo:
    return FlowRpo(
        flow="primary->dr",
        rpo_seconds=max((p.rpo_seconds for p in partitions), default=0.0),
        lag_messages=sum(p.lag_messages for p in partitions),
        heartbeat_age_seconds=heartbeat_age,
        target_seconds=60.0,
        partitions=partitions,
    )


def topic(name: str) -> tuple[tuple[str, str], ...]:
    return (("flow", "primary->dr"), ("topic", name))


def test_an_rpo_report_sets_each_topics_worst_partition_and_total_lag() -> None:
    metrics = Metrics()
    partitions = (
        part("orders", 0, rpo=3.0, lag=40),
        part("orders", 1, rpo=42.5, lag=900),
        part("orders", 2, rpo=0.0, lag=0),
        part("payments", 0, rpo=0.0, lag=0),
    )

    metrics.record_rpo(RpoReport(measured_at=T0.timestamp(), flows=(flow_rpo(partitions),)))

    samples = scrape(metrics)
    assert samples["kafka_dr_mirror_rpo_seconds", topic("orders")] == 42.5
    assert samples["kafka_dr_mirror_lag_records", topic("orders")] == 940
    assert samples["kafka_dr_mirror_rpo_seconds", topic("payments")] == 0
    assert samples["kafka_dr_mirror_lag_records", topic("payments")] == 0
    assert samples["kafka_dr_mirror_heartbeat_age_seconds", a_flow()] == 1.5


def test_an_rpo_report_sets_each_backup_jobs_rpo() -> None:
    metrics = Metrics()
    report = RpoReport(
        measured_at=T0.timestamp(),
        backups=(
            BackupRpo("orders", 4000.0, 9000, target_seconds=3600.0, last_backup_at=None),
            BackupRpo("audit", 12.0, 3, target_seconds=3600.0, last_backup_at=None),
        ),
    )

    metrics.record_rpo(report)

    text = metrics.render().decode()
    assert 'kafka_dr_backup_rpo_seconds{backup_job="orders"} 4000.0' in text
    assert 'kafka_dr_backup_rpo_seconds{backup_job="audit"} 12.0' in text
    assert 'kafka_dr_backup_lag_records{backup_job="orders"} 9000.0' in text


def test_a_later_rpo_report_replaces_the_figures_rather_than_adding_to_them() -> None:
    metrics = Metrics()
    behind = (part("orders", 0, rpo=30.0, lag=500),)
    caught_up = (part("orders", 0, rpo=0.0, lag=0),)

    metrics.record_rpo(RpoReport(measured_at=T0.timestamp(), flows=(flow_rpo(behind),)))
    metrics.record_rpo(
        RpoReport(measured_at=T0.timestamp() + 60, flows=(flow_rpo(caught_up, 0.4),))
    )

    samples = scrape(metrics)
    assert samples["kafka_dr_mirror_rpo_seconds", topic("orders")] == 0
    assert samples["kafka_dr_mirror_lag_records", topic("orders")] == 0
    assert samples["kafka_dr_mirror_heartbeat_age_seconds", a_flow()] == 0.4


def test_a_flow_never_heard_from_has_no_heartbeat_age_series() -> None:
    metrics = Metrics()
    partitions = (part("orders", 0, rpo=1.0, lag=1),)

    metrics.record_rpo(RpoReport(measured_at=T0.timestamp(), flows=(flow_rpo(partitions, None),)))

    assert "kafka_dr_mirror_rpo_seconds{" in metrics.render().decode()
    assert "kafka_dr_mirror_heartbeat_age_seconds{" not in metrics.render().decode()


def test_a_flow_with_a_stale_heartbeat_is_flagged_stalled_and_keeps_its_rpo() -> None:
    metrics = Metrics()
    partitions = (part("orders", 0, rpo=0.0, lag=0),)
    stale = replace(
        flow_rpo(partitions, 42.0), heartbeat=HeartbeatCheck("primary", "dr", 1.0, 42.0)
    )
    fresh = replace(flow_rpo(partitions, 0.5), heartbeat=HeartbeatCheck("primary", "dr", 1.0, 0.5))

    metrics.record_rpo(RpoReport(measured_at=T0.timestamp(), flows=(stale,)))
    stalled = scrape(metrics)
    metrics.record_rpo(RpoReport(measured_at=T0.timestamp() + 60, flows=(fresh,)))

    assert stalled["kafka_dr_mirror_stalled", a_flow()] == 1
    assert stalled["kafka_dr_mirror_rpo_seconds", topic("orders")] == 0
    assert scrape(metrics)["kafka_dr_mirror_stalled", a_flow()] == 0


def unmeasured_part(topic: str, partition: int, *, lag: int | None) -> PartitionRpo:
    return PartitionRpo(
        topic,
        partition,
        f"primary.{topic}",
        lag,
        None,
        source_end=1000,
        unmeasured=f"the record at offset 10 of {topic}-{partition} could not be read within 15s",
    )


def test_an_unmeasured_topic_keeps_its_last_rpo_and_is_flagged_never_set_to_zero() -> None:
    metrics = Metrics()
    before = (part("orders", 0, rpo=30.0, lag=500), part("payments", 0, rpo=2.0, lag=1))
    metrics.record_rpo(RpoReport(measured_at=T0.timestamp(), flows=(flow_rpo(before),)))
    partitions = (unmeasured_part("orders", 0, lag=700), part("payments", 0, rpo=0.0, lag=0))
    flow = FlowRpo(
        flow="primary->dr",
        rpo_seconds=None,
        lag_messages=700,
        heartbeat_age_seconds=1.0,
        target_seconds=60.0,
        partitions=partitions,
        unmeasured=partitions[0].unmeasured,
    )

    metrics.record_rpo(RpoReport(measured_at=T0.timestamp() + 60, flows=(flow,)))

    samples = scrape(metrics)
    assert samples["kafka_dr_mirror_rpo_seconds", topic("orders")] == 30.0
    assert samples["kafka_dr_mirror_lag_records", topic("orders")] == 700
    assert samples["kafka_dr_mirror_rpo_seconds", topic("payments")] == 0
    assert samples["kafka_dr_mirror_rpo_unmeasured", a_flow()] == 1


def test_a_topic_first_seen_unmeasured_has_no_rpo_series_rather_than_a_zero() -> None:
    metrics = Metrics()
    partitions = (unmeasured_part("orders", 0, lag=None),)
    flow = FlowRpo("primary->dr", None, None, None, 60.0, partitions, unmeasured="unreadable")

    metrics.record_rpo(RpoReport(measured_at=T0.timestamp(), flows=(flow,)))

    text = metrics.render().decode()
    assert "kafka_dr_mirror_rpo_seconds{" not in text
    assert "kafka_dr_mirror_lag_records{" not in text
    assert scrape(metrics)["kafka_dr_mirror_rpo_unmeasured", a_flow()] == 1


def test_an_unmeasured_backup_job_keeps_its_last_rpo_and_is_flagged() -> None:
    metrics = Metrics()
    measured = BackupRpo("orders", 40.0, 9, target_seconds=3600.0, last_backup_at=None)
    unmeasured = BackupRpo(
        "orders", None, 12, target_seconds=3600.0, last_backup_at=None, unmeasured="deadline"
    )

    metrics.record_rpo(RpoReport(measured_at=T0.timestamp(), backups=(measured,)))
    metrics.record_rpo(RpoReport(measured_at=T0.timestamp() + 60, backups=(unmeasured,)))

    samples = scrape(metrics)
    assert samples["kafka_dr_backup_rpo_seconds", job("orders")] == 40.0
    assert samples["kafka_dr_backup_rpo_unmeasured", job("orders")] == 1

    metrics.record_rpo(RpoReport(measured_at=T0.timestamp() + 120, backups=(measured,)))
    assert scrape(metrics)["kafka_dr_backup_rpo_unmeasured", job("orders")] == 0


def test_a_job_that_could_not_be_measured_at_all_is_flagged() -> None:
    metrics = Metrics()

    metrics.record_rpo(
        RpoReport(measured_at=T0.timestamp(), errors={"orders": "cluster primary unreachable"})
    )

    assert scrape(metrics)["kafka_dr_backup_rpo_unmeasured", job("orders")] == 1
    assert "kafka_dr_backup_rpo_seconds{" not in metrics.render().decode()


def test_a_job_caught_up_then_unmeasured_exports_no_rpo_rather_than_a_stale_zero() -> None:
    metrics = Metrics()
    caught_up = BackupRpo("orders", 0.0, 0, target_seconds=3600.0, last_backup_at=None)
    unmeasured = BackupRpo(
        "orders", None, 12, target_seconds=3600.0, last_backup_at=None, unmeasured="deadline"
    )
    metrics.record_rpo(RpoReport(measured_at=T0.timestamp(), backups=(caught_up,)))

    metrics.record_rpo(RpoReport(measured_at=T0.timestamp() + 60, backups=(unmeasured,)))

    assert 'kafka_dr_backup_rpo_seconds{backup_job="orders"}' not in metrics.render().decode()
    assert scrape(metrics)["kafka_dr_backup_rpo_unmeasured", job("orders")] == 1


def test_a_topic_caught_up_then_unmeasured_exports_no_rpo_rather_than_a_stale_zero() -> None:
    metrics = Metrics()
    before = (part("orders", 0, rpo=0.0, lag=0), part("payments", 0, rpo=0.0, lag=0))
    metrics.record_rpo(RpoReport(measured_at=T0.timestamp(), flows=(flow_rpo(before),)))
    partitions = (unmeasured_part("orders", 0, lag=3), part("payments", 0, rpo=0.0, lag=0))
    flow = FlowRpo("primary->dr", None, 3, 1.0, 60.0, partitions, unmeasured="unreadable")

    metrics.record_rpo(RpoReport(measured_at=T0.timestamp() + 60, flows=(flow,)))

    samples = scrape(metrics)
    assert ("kafka_dr_mirror_rpo_seconds", topic("orders")) not in samples
    assert samples["kafka_dr_mirror_rpo_seconds", topic("payments")] == 0  # measured: 0
    assert samples["kafka_dr_mirror_rpo_unmeasured", a_flow()] == 1


def test_a_flow_and_a_job_that_fail_to_be_measured_at_all_drop_a_stale_zero() -> None:
    metrics = Metrics()
    caught_up = BackupRpo("orders", 0.0, 0, target_seconds=3600.0, last_backup_at=None)
    flows = (flow_rpo((part("orders", 0, rpo=0.0, lag=0),)),)
    metrics.record_rpo(RpoReport(measured_at=T0.timestamp(), flows=flows, backups=(caught_up,)))

    metrics.record_rpo(
        RpoReport(
            measured_at=T0.timestamp() + 60,
            errors={"orders": "store unreachable", "primary->dr": "cluster unreachable"},
        )
    )
    metrics.mark_rpo_unmeasured(flows=["primary->dr"], jobs=["orders"])

    text = metrics.render().decode()
    assert "kafka_dr_backup_rpo_seconds{" not in text
    assert "kafka_dr_mirror_rpo_seconds{" not in text
    assert scrape(metrics)["kafka_dr_backup_rpo_unmeasured", job("orders")] == 1


def test_the_last_success_only_moves_forward_whoever_reports_it() -> None:
    metrics = Metrics()
    newer, older = T0 + timedelta(minutes=10), T0

    metrics.observe_last_success("orders", newer, duration_s=12.0)
    metrics.observe_last_success("orders", older, duration_s=99.0)

    samples = scrape(metrics)
    assert samples["kafka_dr_backup_last_success_timestamp_seconds", job("orders")] == (
        newer.timestamp()
    )
    assert samples["kafka_dr_backup_last_duration_seconds", job("orders")] == 12.0
