"""kafka-dr rpo: how much data a failover or a restore would lose now, and over time."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from dr.cli.common import AppContext, echo_json, pass_app
from dr.errors import UsageError
from dr.metrics import is_flow
from dr.objectives.history import rpo_history
from dr.objectives.rpo import BackupRpo, FlowRpo, PartitionRpo, RpoReport, measure_rpo
from dr.state import StateStore


@click.group()
def rpo() -> None:
    """Recovery point: lag of each mirror flow and backup job against the RPO objective."""


@rpo.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_app
def status(app: AppContext, as_json: bool) -> None:
    """RPO now. Exit 0 within objective, 1 when any flow or job is breached or unmeasured."""
    report = measure_rpo(app.config().settings)
    if as_json:
        echo_json(report_json(report))
    else:
        print_report(report)
    if exit_code(report):
        raise click.exceptions.Exit(exit_code(report))


@rpo.command()
@click.option("--since", default="24h", show_default=True, help="Window: 90m, 24h, 7d...")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_app
def history(app: AppContext, since: str, as_json: bool) -> None:
    """min, mean, max, p99 and breaches of the RPO samples the daemon took."""
    settings = app.config().settings
    start = datetime.now(UTC) - parse_window(since)
    summaries = rpo_history(settings, StateStore(settings.state), start)  # type: ignore[arg-type]
    if as_json:
        echo_json({"since": start.isoformat(), "series": [s.__dict__ for s in summaries]})
        return
    if not summaries:
        click.echo(f"no RPO samples since {start:%Y-%m-%d %H:%M} (the daemon takes them)")
    for s in summaries:
        click.echo(
            f"{s.kind} {s.name}: {s.samples} samples, min {s.min:.1f}s mean {s.mean:.1f}s "
            f"max {s.max:.1f}s p99 {s.p99:.1f}s, {s.breaches} above {s.target_seconds:.0f}s"
        )


def exit_code(report: RpoReport) -> int:
    """1 when a flow or job is breached or unmeasured (as much a problem as a breach), or a
    flow's replication looks stalled (its heartbeat is stale), else 0."""
    return 1 if report.breached or report.unmeasured or report.stalled else 0


def parse_window(text: str) -> timedelta:
    match = re.fullmatch(r"(\d+)([smhd])", text.strip())
    if not match:
        raise UsageError(f"--since '{text}' is not a window like 90m, 24h or 7d")
    amount, unit = int(match.group(1)), match.group(2)
    return timedelta(**{{"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[unit]: amount})


def report_json(report: RpoReport) -> dict[str, Any]:
    """The documented --json shape."""
    flows = {f.flow: _flow(f) for f in report.flows}
    backups = {b.job: _backup(b) for b in report.backups}
    # A flow or job that could not be measured at all is there too, unmeasured (never absent
    # from its list as if it were not configured); "errors" keeps the reasons as before.
    for name, error in report.errors.items():
        if is_flow(name):
            flows.setdefault(name, _not_measured(error) | _FLOW_UNKNOWN)
        else:
            backups.setdefault(name, _not_measured(error) | {"last_backup_at": None})
    return {
        "measured_at": datetime.fromtimestamp(report.measured_at, UTC).isoformat(),
        "flows": flows,
        "backups": backups,
        "errors": report.errors,
    }


_FLOW_UNKNOWN: dict[str, Any] = {
    "heartbeat_age_seconds": None,
    "heartbeat_stale_after_seconds": None,
    "replication": "unmeasured",
    "replication_reason": "the flow could not be read",
    "missing_topics": [],
}


def _not_measured(error: str) -> dict[str, Any]:
    return {
        "rpo_seconds": None,
        "unmeasured": error,
        "lag_messages": None,
        "target_seconds": None,
        "breached": False,
        "partitions": [],
    }


def _flow(f: FlowRpo) -> dict[str, Any]:
    return {
        "rpo_seconds": _seconds(f.rpo_seconds),
        "unmeasured": f.unmeasured,
        "lag_messages": f.lag_messages,
        "heartbeat_age_seconds": f.heartbeat_age_seconds,
        "heartbeat_stale_after_seconds": f.heartbeat.stale_after_s if f.heartbeat else None,
        "replication": _replication(f),
        "replication_reason": _replication_reason(f),
        "target_seconds": f.target_seconds,
        "breached": f.breached,
        "missing_topics": list(f.missing_topics),
        "partitions": [_partition(p) for p in f.partitions],
    }


def _replication(f: FlowRpo) -> str:
    """``stalled`` (stale or missing heartbeat), ``ok``, or ``unmeasured`` (no heartbeats)."""
    if f.stalled is not None:
        return "stalled"
    return "ok" if f.heartbeat is not None and f.heartbeat.enabled else "unmeasured"


def _replication_reason(f: FlowRpo) -> str | None:
    if f.stalled is not None:
        return f.stalled
    if f.heartbeat is None:
        return "no heartbeat check"
    return None if f.heartbeat.enabled else "heartbeats disabled"


def _backup(b: BackupRpo) -> dict[str, Any]:
    return {
        "rpo_seconds": _seconds(b.rpo_seconds),
        "unmeasured": b.unmeasured,
        "lag_messages": b.lag_messages,
        "target_seconds": b.target_seconds,
        "breached": b.breached,
        "last_backup_at": b.last_backup_at,
        "partitions": [_partition(p) for p in b.partitions],
    }


def _partition(p: PartitionRpo) -> dict[str, Any]:
    return {
        "topic": p.topic,
        "partition": p.partition,
        "target_topic": p.target_topic,
        "lag_messages": p.lag_messages,
        "rpo_seconds": _seconds(p.rpo_seconds),
        "unmeasured": p.unmeasured,
    }


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def print_report(report: RpoReport) -> None:
    """The RPO report for people: one line per flow and job."""
    for f in report.flows:
        beat = f"{f.heartbeat_age_seconds:.1f}s" if f.heartbeat_age_seconds is not None else "none"
        click.echo(
            f"flow {f.flow}: {_rpo_text(f.rpo_seconds, f.target_seconds, f.unmeasured)}; "
            f"lag {_count(f.lag_messages)} messages; heartbeat age {beat}"
        )
        if f.stalled is not None:
            stalled = click.style("STALLED", fg="red", bold=True)
            click.echo(
                f"  replication {stalled}: {f.stalled}; the RPO counts only what is lost so far"
            )
        for topic in f.missing_topics:
            click.secho(f"  not on the target yet: {topic}", fg="yellow")
    for b in report.backups:
        click.echo(
            f"backup {b.job}: {_rpo_text(b.rpo_seconds, b.target_seconds, b.unmeasured)}; "
            f"{_count(b.lag_messages)} records not in the store; "
            f"last backup {b.last_backup_at or 'never'}"
        )
    for name, error in report.errors.items():
        click.echo(f"{name}: RPO {click.style('unmeasured', fg='red', bold=True)} ({error})")
    if not (report.flows or report.backups or report.errors):
        click.echo("no mirror flows or backup jobs configured")


def _rpo_text(seconds: float | None, target: float, unmeasured: str | None) -> str:
    if seconds is None:
        verdict = click.style("unmeasured", fg="red", bold=True)
        return f"RPO {verdict} ({unmeasured}) (target {target:.0f}s)"
    verdict = click.style("BREACHED", fg="red", bold=True) if seconds > target else "ok"
    return f"RPO {seconds:.1f}s (target {target:.0f}s) {verdict}"


def _count(value: int | None) -> str:
    return "unknown" if value is None else str(value)
