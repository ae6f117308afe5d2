"""The daemon's samplers: cluster health, MirrorMaker's health, RPO and the start-up preflight on
the metrics, over fake probes; bounded so that a hanging cluster never slows a scrape."""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from daemon_fakes import FakeWorld, cluster, flow_state
from structlog.testing import capture_logs

from dr.config.schema import Settings
from dr.daemon import Daemon
from dr.daemon.probes import Bounded, ProbeUnfinished, Samplers
from dr.errors import DrError
from dr.metrics import Metrics
from dr.mirror.health import STATES
from dr.preflight import PreflightCheck, PreflightReport
from dr.state import StateStore

FLOW = "primary->dr"


def settings_for(tmp_path: Path) -> Settings:
    return Settings.model_validate(
        {
            "clusters": {
                "primary": {"bootstrap_servers": "kafka-1.prod:9092"},
                "dr": {"bootstrap_servers": "kafka-1.dr:9092"},
            },
            "storage": {"local": {"url": f"file://{tmp_path}/backups"}},
            "backups": {"orders": {"cluster": "primary", "topics": ["orders"], "storage": "local"}},
            "mirror": {"flows": [{"source": "primary", "target": "dr"}]},
            "drills": {"weekly": {"scenarios": {"backup_restore": {"jobs": ["orders"]}}}},
            "daemon": {"listen": "127.0.0.1:0"},
            "state": str(tmp_path / "state.db"),
        }
    )


@pytest.fixture(autouse=True)
def _logs_at_every_level() -> Iterator[None]:
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


def samplers(tmp_path: Path, world: FakeWorld, **probes: Any) -> Samplers:
    return Samplers(
        settings_for(tmp_path),
        probes=world.probes(**probes),
        state=StateStore(tmp_path / "state.db"),
        metrics=Metrics(),
        cancel=threading.Event(),
    )


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


# -- from the start ---------------------------------------------------------------------------


def test_a_daemon_just_started_has_series_for_every_job_flow_and_drill_before_any_run(
    tmp_path: Path,
) -> None:
    daemon = Daemon(
        settings_for(tmp_path),
        runner=lambda *_a, **_k: None,  # type: ignore[arg-type,return-value]
        metrics=Metrics(),
        probes=FakeWorld().probes(),
    )
    daemon.start()
    daemon.stop()

    m = daemon.metrics
    job = {"backup_job": "orders"}
    assert value(m, "kafka_dr_backup_last_run_status", **job, status="never_run") == 1
    assert value(m, "kafka_dr_backup_last_success_timestamp_seconds", **job) == 0
    assert value(m, "kafka_dr_backup_last_failure_timestamp_seconds", **job) == 0
    assert value(m, "kafka_dr_backup_rpo_unmeasured", **job) == 1
    assert value(m, "kafka_dr_backup_rpo_objective_seconds", **job) == 60
    assert value(m, "kafka_dr_backup_stale_after_seconds", **job) is None  # no schedule
    assert value(m, "kafka_dr_mirror_flow_state", flow=FLOW, state="unknown") == 1
    assert value(m, "kafka_dr_mirror_rpo_unmeasured", flow=FLOW) == 1
    assert value(m, "kafka_dr_mirror_rpo_objective_seconds", flow=FLOW) == 60
    assert value(m, "kafka_dr_drill_last_run_status", drill="weekly", status="never_run") == 1
    assert value(m, "kafka_dr_drill_last_success_timestamp_seconds", drill="weekly") == 0
    assert value(m, "kafka_dr_sample_failures_total", sampler="cluster_health") == 0
    assert (value(m, "kafka_dr_daemon_start_time_seconds") or 0) > 0


# -- cluster health ---------------------------------------------------------------------------


def test_each_clusters_health_is_exported_with_its_partition_and_broker_counts(
    tmp_path: Path,
) -> None:
    world = FakeWorld(clusters=(cluster("primary", online=(1, 2), urp=3, under_min=1),))
    s = samplers(tmp_path, world)

    s.sample_cluster_health()

    m = s.metrics
    assert value(m, "kafka_dr_cluster_reachable", cluster="primary") == 1
    assert value(m, "kafka_dr_cluster_healthy", cluster="primary") == 0
    assert value(m, "kafka_dr_cluster_brokers_expected", cluster="primary") == 3
    assert value(m, "kafka_dr_cluster_brokers_online", cluster="primary") == 2
    assert value(m, "kafka_dr_cluster_under_replicated_partitions", cluster="primary") == 3
    assert value(m, "kafka_dr_cluster_under_min_isr_partitions", cluster="primary") == 1
    assert value(m, "kafka_dr_cluster_offline_partitions", cluster="primary") == 0
    assert (value(m, "kafka_dr_sample_timestamp_seconds", sampler="cluster_health") or 0) > 0


def test_a_cluster_that_stops_answering_loses_its_figures_rather_than_keeping_old_ones(
    tmp_path: Path,
) -> None:
    world = FakeWorld(clusters=(cluster("primary", urp=3),))
    s = samplers(tmp_path, world)
    s.sample_cluster_health()

    world.clusters = (cluster("primary", reachable=False),)
    s.sample_cluster_health()

    m = s.metrics
    assert value(m, "kafka_dr_cluster_reachable", cluster="primary") == 0
    assert value(m, "kafka_dr_cluster_under_replicated_partitions", cluster="primary") is None
    assert value(m, "kafka_dr_cluster_brokers_online", cluster="primary") is None


# -- MirrorMaker's health ---------------------------------------------------------------------


def test_a_failed_task_shows_in_the_flow_state_and_the_task_counts(tmp_path: Path) -> None:
    world = FakeWorld(mirror=(flow_state(FLOW, "failed", tasks=("RUNNING", "FAILED")),))
    s = samplers(tmp_path, world)

    s.sample_mirror_health()

    m = s.metrics
    states = {st: value(m, "kafka_dr_mirror_flow_state", flow=FLOW, state=st) for st in STATES}
    assert states == {st: (1.0 if st == "failed" else 0.0) for st in STATES}
    connector = {"flow": FLOW, "connector": "primary-dr-source"}
    assert value(m, "kafka_dr_mirror_connector_tasks", **connector, state="FAILED") == 1
    assert value(m, "kafka_dr_mirror_connector_tasks", **connector, state="RUNNING") == 1
    assert value(m, "kafka_dr_mirror_connector_state", **connector, state="RUNNING") == 1
    assert value(m, "kafka_dr_mirror_connector_state", **connector, state="FAILED") == 0


def test_when_mirrormaker_cannot_be_read_every_flow_is_unknown_and_the_failure_counted(
    tmp_path: Path,
) -> None:
    world = FakeWorld(mirror=(flow_state(FLOW, "running"),))
    s = samplers(tmp_path, world)
    s.sample_mirror_health()
    world.mirror_error = DrError("Kafka Connect at http://connect:8083 did not answer")

    with capture_logs() as events:
        s.sample_mirror_health()

    m = s.metrics
    assert value(m, "kafka_dr_mirror_flow_state", flow=FLOW, state="unknown") == 1
    assert value(m, "kafka_dr_mirror_flow_state", flow=FLOW, state="running") == 0
    connector = {"flow": FLOW, "connector": "primary-dr-source", "state": "RUNNING"}
    assert value(m, "kafka_dr_mirror_connector_state", **connector) is None
    assert value(m, "kafka_dr_sample_failures_total", sampler="mirror_health") == 1
    assert [(e["event"], e["error"]) for e in events] == [
        ("mirror_health_sample_failed", "Kafka Connect at http://connect:8083 did not answer")
    ]


# -- RPO --------------------------------------------------------------------------------------


def test_an_rpo_sampler_that_fails_flags_every_flow_and_job_unmeasured(tmp_path: Path) -> None:
    def broken(_settings: Settings) -> Any:
        raise DrError("cluster 'primary' (kafka-1.prod:9092) is unreachable")

    s = samplers(tmp_path, FakeWorld(), rpo=broken)
    s.metrics.mirror_rpo_unmeasured.labels(FLOW).set(0)
    s.metrics.backup_rpo_unmeasured.labels("orders").set(0)

    s.sample_rpo()

    assert value(s.metrics, "kafka_dr_mirror_rpo_unmeasured", flow=FLOW) == 1
    assert value(s.metrics, "kafka_dr_backup_rpo_unmeasured", backup_job="orders") == 1
    assert value(s.metrics, "kafka_dr_sample_failures_total", sampler="rpo") == 1


# -- the preflight ----------------------------------------------------------------------------


def check(name: str, status: str, subject: str = "clusters.primary") -> PreflightCheck:
    hint = None if status == "ok" else f"fix {name}"
    return PreflightCheck(name, subject, status, f"{name}: {status}", hint)  # type: ignore[arg-type]


def test_the_preflight_logs_each_failed_check_and_a_summary_and_exports_each_check(
    tmp_path: Path,
) -> None:
    report = PreflightReport(
        checks=(
            check("cluster primary reachable", "ok"),
            check("store s3 writable", "fail", "storage.s3"),
            check("java found", "warn", "tools"),
        )
    )
    s = samplers(tmp_path, FakeWorld(preflight=report))

    with capture_logs() as events:
        s.run_preflight()

    failed = [e for e in events if e["event"] == "preflight_check_failed"]
    assert [(e["check"], e["subject"], e["hint"]) for e in failed] == [
        ("store s3 writable", "storage.s3", "fix store s3 writable")
    ]
    assert [e["event"] for e in events].count("preflight_check_warned") == 1
    (done,) = [e for e in events if e["event"] == "preflight_done"]
    assert (done["ok"], done["failed"], done["checks"]) == (False, ["store s3 writable"], 3)
    m = s.metrics
    reachable = {"check": "cluster primary reachable", "subject": "clusters.primary"}
    assert value(m, "kafka_dr_preflight_check_ok", **reachable) == 1
    assert (
        value(m, "kafka_dr_preflight_check_ok", check="store s3 writable", subject="storage.s3")
        == 0
    )
    assert value(m, "kafka_dr_preflight_check_ok", check="java found", subject="tools") == 1
    assert value(m, "kafka_dr_preflight_warnings") == 1
    assert (value(m, "kafka_dr_preflight_timestamp_seconds") or 0) > 0


def test_a_preflight_that_crashes_is_a_failed_check_not_a_dead_daemon(tmp_path: Path) -> None:
    s = samplers(tmp_path, FakeWorld(preflight_error=ZeroDivisionError("division by zero")))

    with capture_logs() as events:
        s.run_preflight()

    assert "preflight_crashed" in [e["event"] for e in events]
    crashed = {"check": "preflight ran", "subject": "kafka-dr"}
    assert value(s.metrics, "kafka_dr_preflight_check_ok", **crashed) == 0
    assert s.preflight is not None and not s.preflight.ok


# -- bounded ----------------------------------------------------------------------------------


def test_a_call_that_hangs_is_given_up_after_its_timeout_and_not_started_twice() -> None:
    release = threading.Event()
    bounded = Bounded("cluster_health", timeout_s=0.2, cancel=threading.Event())

    started = time.monotonic()
    with pytest.raises(ProbeUnfinished, match="did not finish within 0s"):
        bounded(lambda: release.wait(10))
    waited = time.monotonic() - started
    with pytest.raises(ProbeUnfinished, match="previous run has not finished"):
        bounded(lambda: True)
    release.set()
    time.sleep(0.1)

    assert 0.2 <= waited < 2
    assert bounded(lambda: 42) == 42


def test_a_call_raises_its_own_error() -> None:
    bounded = Bounded("rpo", timeout_s=5, cancel=threading.Event())

    with pytest.raises(KeyError):
        bounded(lambda: {}["missing"])


def test_a_scrape_answers_at_once_while_a_cluster_check_hangs_and_stop_does_not_wait(
    tmp_path: Path,
) -> None:
    world = FakeWorld(hang=threading.Event())
    daemon = Daemon(
        settings_for(tmp_path),
        runner=lambda *_a, **_k: None,  # type: ignore[arg-type,return-value]
        metrics=Metrics(),
        probes=world.probes(timeout_s=30),
    )
    daemon.start()
    try:
        deadline = time.monotonic() + 5
        while world.calls.get("clusters", 0) == 0:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        started = time.monotonic()
        with urllib.request.urlopen(f"http://127.0.0.1:{daemon.port}/metrics", timeout=5) as r:
            assert r.status == 200
        scrape_s = time.monotonic() - started
    finally:
        stopping = time.monotonic()
        daemon.stop()
        stop_s = time.monotonic() - stopping
        world.hang.set()  # type: ignore[union-attr]

    assert scrape_s < 1.0
    assert stop_s < 3.0
