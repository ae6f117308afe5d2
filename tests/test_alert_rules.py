"""The Prometheus alert rules (configs/prometheus/kafka-dr-rules.yml): their promtool unit tests
pass, each rule is complete (for, severity, summary, description, a runbook anchor that exists
in docs/monitoring.md), and they select only series the daemon exports."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from promql_names import metric_names
from promtool_run import run_promtool

from dr.metrics import Metrics

ROOT = Path(__file__).parent.parent
RULES = ROOT / "configs" / "prometheus" / "kafka-dr-rules.yml"
RULE_TESTS = ROOT / "configs" / "prometheus" / "tests" / "kafka-dr-rules.test.yml"
MONITORING_DOC = ROOT / "docs" / "monitoring.md"
# Series Prometheus makes itself, not the daemon.
PROMETHEUS_OWN = {"up"}
REQUIRED = {
    "KafkaDrDaemonDown",
    "KafkaDrBackupNeverSucceeded",
    "KafkaDrBackupStale",
    "KafkaDrBackupFailed",
    "KafkaDrMirrorRpoBreached",
    "KafkaDrBackupRpoBreached",
    "KafkaDrRpoUnmeasured",
    "KafkaDrReplicationStopped",
    "KafkaDrMirrorTaskFailed",
    "KafkaDrUnderReplicatedPartitions",
    "KafkaDrOfflinePartitions",
    "KafkaDrDrillFailed",
}


def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def rule_tests() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    return cases


def test_promtool_accepts_the_rules() -> None:
    out = run_promtool("check", "rules", str(RULES))

    assert f"SUCCESS: {len(rules())} rules found" in out


def test_each_alert_fires_on_its_series_and_stays_quiet_on_the_others() -> None:
    out = run_promtool("test", "rules", RULE_TESTS.name, cwd=str(RULE_TESTS.parent))

    assert "SUCCESS" in out


def test_every_alert_has_a_case_where_it_fires_and_one_where_it_does_not() -> None:
    fired: set[str] = set()
    quiet: set[str] = set()
    for case in rule_tests():
        for check in case.get("alert_rule_test", []):
            (fired if check["exp_alerts"] else quiet).add(check["alertname"])

    alerts = {rule["alert"] for rule in rules()}
    assert alerts - fired == set()
    assert alerts - quiet == set()


def test_the_alerts_the_issue_asks_for_are_all_there() -> None:
    assert REQUIRED - {rule["alert"] for rule in rules()} == set()


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule["alert"])
def test_each_alert_waits_has_a_severity_and_says_what_and_where_to_read(
    rule: dict[str, Any],
) -> None:
    assert re.fullmatch(r"\d+[smh]", rule["for"])
    assert rule["labels"]["severity"] in {"critical", "warning"}
    notes = rule["annotations"]
    assert notes["summary"] and notes["description"]
    url, _, anchor = notes["runbook_url"].partition("#")
    assert url.endswith("/docs/monitoring.md")
    assert anchor == rule["alert"].lower()


def doc_anchors() -> set[str]:
    """The anchors of docs/monitoring.md's headings, as GitHub makes them."""
    anchors = set()
    for line in MONITORING_DOC.read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


def test_every_runbook_link_lands_on_a_heading_of_the_monitoring_doc() -> None:
    anchors = doc_anchors()

    missing = {
        rule["alert"]
        for rule in rules()
        if rule["annotations"]["runbook_url"].partition("#")[2] not in anchors
    }

    assert missing == set()


def test_the_rules_select_only_series_the_daemon_exports() -> None:
    exported = Metrics().exported_names() | PROMETHEUS_OWN

    used = {name for rule in rules() for name in metric_names(rule["expr"])}

    assert used - exported == set()
    assert "kafka_dr_backup_last_success_timestamp_seconds" in used


def test_the_rule_tests_feed_only_series_the_daemon_exports() -> None:
    exported = Metrics().exported_names() | PROMETHEUS_OWN

    fed = {
        series["series"].split("{", 1)[0]
        for case in rule_tests()
        for series in case["input_series"]
    }

    assert fed - exported == set()


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("kafka_dr_a > 0", {"kafka_dr_a"}),
        (
            'max by (flow) (rate(kafka_dr_b_total{state=~"a|b"}[5m])) '
            "> on (instance, job) group_left kafka_dr_c offset 5m",
            {"kafka_dr_b_total", "kafka_dr_c"},
        ),
        ("time() - kafka_dr_d > 1e3 and absent(up{job='x'})", {"kafka_dr_d", "up"}),
        ("sum(kafka_dr_e[$__rate_interval]) / $interval", {"kafka_dr_e"}),
    ],
)
def test_the_names_of_a_promql_expression_are_its_metrics_only(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names
