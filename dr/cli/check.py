"""kafka-dr check: the preflight of everything the config needs, one line per check."""

from __future__ import annotations

import dataclasses
from typing import Any

import click

from dr.cli.common import AppContext, echo_json, pass_app
from dr.preflight import PreflightReport, run_preflight

_LABELS = {"ok": "OK", "warn": "WARN", "fail": "FAIL"}


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@pass_app
def check(app: AppContext, as_json: bool) -> None:
    """Check every cluster, store, tool and secret the config names: clusters reachable and
    authenticated with the ACLs kafka-dr needs and a KRaft quorum, stores writable with a
    working lock, Java and the Kafka jars, MirrorMaker, the daemon's listen address, secret
    files. Exit 0 when no check fails (warnings allowed), 1 otherwise."""
    loaded = app.config()
    report = run_preflight(loaded.settings, config_path=loaded.path)
    if as_json:
        echo_json(report_json(report))
    else:
        for line in report_lines(report):
            click.echo(line)
    if not report.ok:
        raise click.exceptions.Exit(1)


def report_json(report: PreflightReport) -> dict[str, Any]:
    """The documented --json form: {"ok", "seconds", "checks": [{name, subject, status,
    critical, detail, hint, seconds}]}."""
    return {
        "ok": report.ok,
        "seconds": report.seconds,
        "checks": [dataclasses.asdict(c) for c in report.checks],
    }


def report_lines(report: PreflightReport) -> list[str]:
    """One line per check (``OK    name: detail``), a hint line under each that is not ok,
    and a summary line."""
    lines: list[str] = []
    for c in report.checks:
        lines.append(f"{_LABELS[c.status]:<5} {c.name}: {c.detail}")
        if c.status != "ok" and c.hint:
            lines.append(f"      hint: {c.hint}")
    warned = len(report.warnings)
    counts = (
        f"{len(report.checks)} checks, {len(report.failed)} failed, "
        f"{warned} warning{'' if warned == 1 else 's'}"
    )
    verdict = "check passed" if report.ok else "check failed"
    lines.append(f"{verdict}: {counts} in {report.seconds:.1f}s")
    return lines
