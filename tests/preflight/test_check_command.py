"""`kafka-dr check` through the real command line: one line per check, hints, a summary, the
JSON form, and the exit code (0 when nothing fails, 1 otherwise). The clusters here are not
running (a closed port): the checks run for real and fail fast."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from dr.cli import cli
from dr.cli.check import report_lines
from dr.preflight import PreflightReport
from dr.preflight.model import passed, problem, warning


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), "check", *args])


def write_config(tmp_path: Path, *, port: int, listen: int) -> Path:
    store = (tmp_path / "store").as_uri()
    cluster = f"127.0.0.1:{port}"
    text = (
        f"clusters:\n  prod:\n    bootstrap_servers: {cluster}\n"
        f"storage:\n  local:\n    url: {store}\n"
        f"daemon:\n  listen: 127.0.0.1:{listen}\n"
        f"tools:\n  kafka_version: 9.9.9\n"
    )
    config = tmp_path / "kafka-dr.yaml"
    config.write_text(text)
    return config


def test_a_cluster_that_does_not_answer_fails_the_check_with_exit_1(
    tmp_path: Path, unused_port: int
) -> None:
    config = write_config(tmp_path, port=unused_port, listen=unused_port)

    result = run(config)

    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    reachable = f"FAIL  cluster prod reachable: no broker answered at 127.0.0.1:{unused_port}: "
    assert lines[0].startswith(reachable)
    assert lines[1].startswith("      hint: check clusters.prod.bootstrap_servers")
    assert "OK    store local read/write: listed, wrote, read back and deleted" in result.output
    assert "OK    store local lock: " in result.output
    assert "WARN  Kafka jars: the Kafka 9.9.9 jars are not cached" in result.output
    assert lines[-1].startswith("check failed: ")
    assert ", 1 failed, " in lines[-1]


def test_the_json_form_lists_every_check_with_its_status_hint_and_time(
    tmp_path: Path, unused_port: int
) -> None:
    config = write_config(tmp_path, port=unused_port, listen=unused_port)

    result = run(config, "--json")

    assert result.exit_code == 1
    doc = json.loads(result.output)
    assert doc["ok"] is False
    checks = {c["name"]: c for c in doc["checks"]}
    reach = checks["cluster prod reachable"]
    assert reach["status"] == "fail" and reach["critical"] is True
    assert reach["subject"] == f"cluster prod (127.0.0.1:{unused_port})"
    assert reach["hint"] and reach["seconds"] >= 0
    assert checks["store local read/write"]["status"] == "ok"
    assert checks["daemon listen address"]["status"] == "ok"
    assert checks["secret references"]["status"] == "ok"
    assert set(checks["Java"]) == {
        "name",
        "subject",
        "status",
        "detail",
        "hint",
        "seconds",
        "critical",
    }


def test_warnings_alone_pass_the_preflight() -> None:
    report = PreflightReport(
        checks=(
            passed("store lab read/write", "store lab", "fine"),
            warning("Kafka jars", "tools", "not cached", "run kafka-dr lab fetch"),
        ),
        seconds=1.25,
    )

    assert report.ok
    assert report_lines(report) == [
        "OK    store lab read/write: fine",
        "WARN  Kafka jars: not cached",
        "      hint: run kafka-dr lab fetch",
        "check passed: 2 checks, 0 failed, 1 warning in 1.2s",
    ]


def test_one_failed_check_fails_the_preflight() -> None:
    report = PreflightReport(
        checks=(
            passed("Java", "tools", "Java 17"),
            problem("cluster dr reachable", "cluster dr", "refused", "start it"),
        )
    )

    assert not report.ok
    assert [c.name for c in report.failed] == ["cluster dr reachable"]
    assert report_lines(report)[-1].startswith("check failed: 2 checks, 1 failed, 0 warnings")


def test_a_problem_found_by_a_check_that_is_not_critical_is_a_warning() -> None:
    check = problem("cluster dr ACLs", "cluster dr", "WRITE missing", "grant it", critical=False)

    assert check.status == "warn"
    assert PreflightReport(checks=(check,)).ok
