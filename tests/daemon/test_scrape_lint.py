"""A real scrape of the daemon's /metrics, with every kind of series in it, passes
`promtool check metrics` and holds only the names dr.metrics declares."""

from __future__ import annotations

import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog
from daemon_fakes import busy_world
from prometheus_client.parser import text_string_to_metric_families

from dr.config.schema import Settings
from dr.daemon import Daemon
from dr.errors import KafkaError
from dr.metrics import Metrics
from dr.operation import operation
from dr.state import StateStore

sys.path.insert(0, str(Path(__file__).parent.parent))  # tests/: the promtool helper
from promtool_run import run_promtool


def settings_for(tmp_path: Path) -> Settings:
    return Settings.model_validate(
        {
            "clusters": {
                "primary": {"bootstrap_servers": "kafka-1.prod:9092"},
                "dr": {"bootstrap_servers": "kafka-1.dr:9092"},
            },
            "storage": {"local": {"url": f"file://{tmp_path}/backups"}},
            "backups": {
                name: {
                    "cluster": "primary",
                    "topics": [name],
                    "storage": "local",
                    "schedule": "*/15 * * * *",
                }
                for name in ("orders", "payments")
            },
            "mirror": {"flows": [{"source": "primary", "target": "dr"}]},
            "drills": {
                "weekly": {
                    "scenarios": {"backup_restore": {"jobs": ["orders"]}},
                    "schedule": "0 4 * * 1",
                }
            },
            "daemon": {"listen": "127.0.0.1:0"},
            "state": str(tmp_path / "state.db"),
        }
    )


@pytest.fixture(autouse=True)
def _quiet_logs() -> Iterator[None]:
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


def record_history(state: StateStore) -> None:
    """A success of orders and a failure of payments, as `backup run` records them; a failed
    drill with its figures, as `drill run` records it."""
    with operation(state, kind="backup", name="orders") as op:
        op.succeeded(backup_id="b1", records=10, bytes=1000)
    try:
        with operation(state, kind="backup", name="payments"):
            raise KafkaError("cluster primary unreachable")
    except KafkaError:
        pass
    state.start_drill_run(
        "d1", "weekly", started_at=datetime.now(UTC) - timedelta(minutes=5), summary={}
    )
    summary = {"checks_failed": 2, "objectives_missed": 1, "rto_seconds": 42.0}
    state.finish_drill_run("d1", "failed", summary=summary)


def scrape_when_sampled(daemon: Daemon) -> str:
    deadline = time.monotonic() + 10
    while True:
        with urllib.request.urlopen(f"http://127.0.0.1:{daemon.port}/metrics", timeout=5) as r:
            text = r.read().decode()
        sampled = [
            f'kafka_dr_sample_timestamp_seconds{{sampler="{sampler}"}}'
            for sampler in ("rpo", "cluster_health", "mirror_health")
        ]
        if all(s in text for s in sampled) and "kafka_dr_preflight_check_ok{" in text:
            return text
        assert time.monotonic() < deadline, "the samplers did not run"
        time.sleep(0.05)


def test_a_scrape_with_every_kind_of_series_passes_promtool_check_metrics(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    record_history(StateStore(tmp_path / "state.db"))
    daemon = Daemon(
        settings,
        runner=lambda *_a, **_k: None,  # type: ignore[arg-type,return-value]
        metrics=Metrics(),
        probes=busy_world().probes(),
    )
    daemon.start()
    try:
        text = scrape_when_sampled(daemon)
    finally:
        daemon.stop()

    lint = run_promtool("check", "metrics", stdin=text)

    assert lint.strip() == ""
    scraped = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    assert scraped <= daemon.metrics.exported_names()
    for expected in (
        "kafka_dr_build_info",
        "kafka_dr_backup_last_failure_timestamp_seconds",
        "kafka_dr_mirror_rpo_seconds",
        "kafka_dr_mirror_connector_tasks",
        "kafka_dr_cluster_quorum_max_voter_lag_records",
        "kafka_dr_drill_rto_seconds",
        "kafka_dr_preflight_check_ok",
    ):
        assert expected in scraped
