"""kafka-dr check: the preflight of everything the config needs (being built)."""

from __future__ import annotations

import click

from dr.cli.common import AppContext, echo_json, pass_app
from dr.preflight import run_preflight


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@pass_app
def check(app: AppContext, as_json: bool) -> None:
    """Check every cluster, store, tool and secret the config names. Exit 0 when none
    fails, 1 otherwise."""
    report = run_preflight(app.config().settings)
    if as_json:
        echo_json({"ok": report.ok, "checks": [c.__dict__ for c in report.checks]})
    else:
        for c in report.checks:
            click.echo(f"{c.status.upper():<4} {c.name}: {c.detail}")
    if not report.ok:
        raise click.exceptions.Exit(1)
