"""The Grafana dashboard (configs/grafana/kafka-dr.json): every panel queries only series the
daemon exports, every query is valid PromQL, and the panels the issue asks for are there."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from promql_names import metric_names
from promtool_run import run_promtool

from dr.metrics import Metrics

DASHBOARD = Path(__file__).parent.parent / "configs" / "grafana" / "kafka-dr.json"
PROMETHEUS_OWN = {"up"}
# Grafana's variables, as Prometheus would see them once Grafana has put them in.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$instance": ".*"}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def exprs() -> list[str]:
    return [t["expr"] for p in panels() for t in p["targets"]]


def test_every_panel_queries_only_series_the_daemon_exports() -> None:
    exported = Metrics().exported_names() | PROMETHEUS_OWN

    unknown = {
        (panel["title"], name)
        for panel in panels()
        for target in panel["targets"]
        for name in metric_names(target["expr"])
        if name not in exported
    }

    assert unknown == set()


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    rules = []
    for n, expr in enumerate(exprs()):
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        rules.append({"record": f"dashboard:query_{n}", "expr": expr})
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))

    out = run_promtool("check", "rules", str(path))

    assert f"SUCCESS: {len(rules)} rules found" in out


def test_the_dashboard_shows_rpo_with_objectives_backups_rto_clusters_and_mirror_lag() -> None:
    used = {name for expr in exprs() for name in metric_names(expr)}

    assert {
        "kafka_dr_mirror_rpo_seconds",
        "kafka_dr_mirror_rpo_objective_seconds",
        "kafka_dr_backup_rpo_seconds",
        "kafka_dr_backup_rpo_objective_seconds",
        "kafka_dr_backup_last_success_timestamp_seconds",
        "kafka_dr_backup_bytes_total",
        "kafka_dr_drill_rto_seconds",
        "kafka_dr_cluster_brokers_online",
        "kafka_dr_cluster_under_replicated_partitions",
        "kafka_dr_cluster_offline_partitions",
        "kafka_dr_cluster_quorum_max_voter_lag_records",
        "kafka_dr_mirror_lag_records",
        "kafka_dr_mirror_flow_state",
    } <= used


def test_every_panel_reads_the_chosen_prometheus_and_says_what_it_shows() -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}

    assert variables["datasource"]["type"] == "datasource"
    for panel in panels():
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["description"], panel["title"]
        assert panel["targets"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]


def test_the_panels_have_unique_ids_and_do_not_overlap() -> None:
    every = dashboard()["panels"]
    ids = [p["id"] for p in every]
    cells: set[tuple[int, int]] = set()
    overlaps = []
    for panel in every:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        mine = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        if mine & cells:
            overlaps.append(panel["title"])
        cells |= mine

    assert len(ids) == len(set(ids))
    assert overlaps == []
    assert dashboard()["uid"] == "kafka-dr"
