"""kafka-dr mirror: render, apply and control MirrorMaker 2; show its state and drift."""

from __future__ import annotations

import json
from typing import Any

import click

from dr.cli.backup import confirm
from dr.cli.common import AppContext, echo_json, pass_app
from dr.config.schema import Settings
from dr.errors import DrError
from dr.log import redact_text
from dr.mirror import deploy
from dr.mirror.health import first_line
from dr.playbooks import run_playbook
from dr.playbooks.apply import ApplyBook, refusal
from dr.playbooks.history import failed_over

TRACE_LINES = 5  # of a failed connector's or task's trace, with --verbose
flow_option = click.option("--flow", default=None, help="Only this flow (SOURCE->TARGET).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
force_option = click.option(
    "--force", is_flag=True, help="Even for a flow a failover stopped (see 'playbook list')."
)


def refuse_after_failover(settings: Settings, force: bool, flow: str | None) -> None:
    """A flow stopped by a failover stays stopped until a failback, or --force."""
    refused = refusal(failed_over(settings), flow)
    if refused is not None and not force:
        raise refused


@click.group()
def mirror() -> None:
    """MirrorMaker 2 between clusters: dedicated processes or Kafka Connect."""


@mirror.command()
@flow_option
@json_option
@pass_app
def render(app: AppContext, flow: str | None, as_json: bool) -> None:
    """Print mm2.properties (dedicated) or the connector configs (connect)."""
    rendered = deploy.render(app.config().settings, flow)
    if as_json:
        echo_json(
            {"deploy": "dedicated", "properties": rendered}
            if isinstance(rendered, str)
            else {"deploy": "connect", "connectors": rendered}
        )
        return
    click.echo(rendered if isinstance(rendered, str) else json.dumps(rendered, indent=2), nl=False)
    if not isinstance(rendered, str):
        click.echo()


@mirror.command()
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@force_option
@pass_app
def apply(app: AppContext, dry_run: bool, yes: bool, as_json: bool, force: bool) -> None:
    """Bring MirrorMaker to the config, idempotently: a second apply changes nothing."""
    settings = app.config().settings
    if not dry_run:
        refuse_after_failover(settings, force, None)
    if deploy.mirror_settings(settings).deploy == "dedicated":
        planned = deploy.apply_dedicated(settings, dry_run=True)
        if (planned.changed or planned.restart_pending) and not dry_run:
            confirm(
                f"Write {planned.path} and restart MirrorMaker?"
                if planned.changed
                else "A restart of MirrorMaker failed earlier: restart it now?",
                yes,
            )
            planned = _run_apply(settings, force) or planned
        _report(
            {
                "deploy": "dedicated",
                "path": planned.path,
                "changed": planned.changed,
                "restart_pending": planned.restart_pending,
                "restarted": planned.restarted,
                "dry_run": dry_run,
            },
            as_json,
            _dedicated_text(
                planned,
                dry_run=dry_run,
                can_restart=bool(deploy.mirror_settings(settings).restart_command),
            ),
        )
        return
    plan = deploy.plan_connect(settings)
    if plan.changed and not dry_run:
        if not as_json and not yes:
            click.echo(plan.describe())
        confirm("Apply these connector changes?", yes)
        _run_apply(settings, force)
    _report(
        {
            "deploy": "connect",
            "changed": plan.changed,
            "dry_run": dry_run,
            "creates": list(plan.creates),
            "updates": [u.name for u in plan.updates],
            "deletes": list(plan.deletes),
            "unchanged": list(plan.unchanged),
        },
        as_json,
        plan.describe(),
    )


@mirror.command()
@flow_option
@json_option
@pass_app
def pause(app: AppContext, flow: str | None, as_json: bool) -> None:
    """Pause the flows' connectors (Connect mode)."""
    _controlled(deploy.control(app.config().settings, "pause", flow), "paused", as_json)


@mirror.command()
@flow_option
@force_option
@json_option
@pass_app
def resume(app: AppContext, flow: str | None, force: bool, as_json: bool) -> None:
    """Resume the flows' connectors (Connect mode)."""
    refuse_after_failover(app.config().settings, force, flow)
    _controlled(deploy.control(app.config().settings, "resume", flow), "resumed", as_json)


@mirror.command()
@flow_option
@force_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
@pass_app
def restart(app: AppContext, flow: str | None, force: bool, yes: bool, as_json: bool) -> None:
    """Restart the flows' connectors and tasks, or the dedicated MirrorMaker (replication
    pauses meanwhile). Asks first unless --yes."""
    settings = app.config().settings
    refuse_after_failover(settings, force, flow)
    what = "MirrorMaker" if flow is None else f"flow {flow}"
    confirm(f"Restart {what}? Replication stops until it is back.", yes)
    _controlled(deploy.control(settings, "restart", flow), "restarted", as_json)


def _controlled(names: list[str], done: str, as_json: bool) -> None:
    if as_json:
        echo_json({done: names})
        return
    for name in names:
        click.echo(f"{done} {name}")


@mirror.command()
@flow_option
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.option("--verbose", "-v", is_flag=True, help="Show failed connectors' and tasks' traces.")
@pass_app
def status(app: AppContext, flow: str | None, as_json: bool, verbose: bool) -> None:
    """State and health of each flow: MirrorMaker's process or connectors, heartbeats, topics
    missing on the target, drift, checkpointed groups.

    Exit 1 when a flow is not healthy (not running, paused, stalled, failed, a restart pending,
    a connector missing, a topic missing on the target or drifted)."""
    states = deploy.status(app.config().settings, flow)
    if as_json:
        echo_json({"flows": {s.flow.flow: state_json(s, verbose=verbose) for s in states}})
    else:
        for s in states:
            print_state(s, verbose=verbose)
    if any(not s.health.healthy for s in states):
        raise click.exceptions.Exit(1)


def state_json(s: deploy.MirrorState, *, verbose: bool = False) -> dict[str, Any]:
    """The documented JSON of one flow's status; ``verbose`` adds the full traces."""
    f, beat = s.flow, s.flow.heartbeat
    connectors = None
    if s.connectors is not None:
        connectors = [
            {
                "name": c.name,
                "state": c.state,
                "worker_id": c.worker_id,
                **_trace_json(c.trace, verbose),
                "tasks": [
                    {
                        "id": t.id,
                        "state": t.state,
                        "worker_id": t.worker_id,
                        **_trace_json(t.trace, verbose),
                    }
                    for t in c.tasks
                ],
            }
            for c in s.connectors
        ]
    return {
        "healthy": s.health.healthy,
        "state": s.health.state,
        "reasons": list(s.health.reasons),
        "heartbeat": beat.verdict,
        "heartbeat_age_seconds": None if beat.age_s is None else round(beat.age_s, 3),
        "heartbeat_stale_after_seconds": beat.stale_after_s,
        "process": None
        if s.process is None
        else {"running": s.process.running, "detail": s.process.detail},
        "restart_pending": s.restart_pending,
        "missing_connectors": list(s.missing_connectors),
        "topics": f.topics,
        "missing_topics": list(f.missing_topics),
        "drift": [
            {
                "topic": d.topic,
                "target_topic": d.target_topic,
                "what": d.what,
                "source": d.source,
                "target": d.target,
            }
            for d in f.drift
        ],
        "groups": list(f.groups),
        "connectors": connectors,
    }


def print_state(s: deploy.MirrorState, *, verbose: bool = False) -> None:
    """One flow's status for people: a verdict line, the details, then the reasons."""
    f, beat = s.flow, s.flow.heartbeat
    verdict = "OK" if s.health.healthy else click.style("ATTENTION", fg="yellow", bold=True)
    click.echo(
        f"flow {f.flow}: {verdict} ({s.health.state}); {f.topics} topics matched, "
        f"{len(f.groups)} groups checkpointed"
    )
    if beat.age_s is not None and beat.stale_after_s is not None:
        click.echo(f"  heartbeat {beat.age_s:.1f}s old (stale after {beat.stale_after_s:.0f}s)")
    else:
        click.echo(f"  heartbeat {beat.verdict}")
    if s.process is not None:
        running = {True: "running", False: "not running", None: "unknown"}[s.process.running]
        click.echo(f"  process {running}: {s.process.detail}")
    for c in s.connectors or ():
        click.echo(f"  {c.name}: {c.state} ({len(c.tasks)} tasks)")
        if c.state == "FAILED":
            _print_trace(c.trace, verbose)
        for t in c.tasks:
            if t.state != "RUNNING":
                click.secho(f"    task {t.id}: {t.state} {first_line(t.trace)}".rstrip(), fg="red")
                if t.state == "FAILED":
                    _print_trace(t.trace, verbose)
    for topic in f.missing_topics:
        click.secho(f"  missing on target: {topic}", fg="yellow")
    for d in f.drift:
        click.secho(
            f"  drift {d.topic} -> {d.target_topic}: {d.what} {d.source} != {d.target}", fg="yellow"
        )
    for reason in s.health.reasons:
        click.secho(f"  ! {reason}", fg="red")


def _trace_json(trace: str | None, verbose: bool) -> dict[str, str | None]:
    shown: dict[str, str | None] = {"trace": first_line(trace) or None}
    if verbose:
        shown["full_trace"] = redact_text(trace) if trace else None
    return shown


def _print_trace(trace: str | None, verbose: bool) -> None:
    if not verbose or not trace:
        return
    lines = redact_text(trace).strip().splitlines()
    # The first lines say where it failed; the "Caused by" lines further down say why.
    causes = [line for line in lines[TRACE_LINES:] if line.lstrip().startswith("Caused by:")]
    for line in lines[:TRACE_LINES] + causes:
        click.secho(f"      {line.rstrip()}", fg="red")
    hidden = len(lines) - TRACE_LINES - len(causes)
    if hidden > 0:
        click.secho(f"      ... {hidden} more lines (--json --verbose)", fg="red")


def _dedicated_text(applied: deploy.DedicatedApply, *, dry_run: bool, can_restart: bool) -> str:
    what = "changed" if applied.changed else "nothing to change"
    if applied.restart_pending:
        what = ("changed; " if applied.changed else "") + "restart pending"
    if applied.restarted:
        what += " (restarted MirrorMaker)"
    elif dry_run and can_restart and (applied.changed or applied.restart_pending):
        what += " (would restart MirrorMaker)"
    return f"{applied.path}: {what}"


def _run_apply(settings: Settings, force: bool) -> deploy.DedicatedApply | None:
    """Apply as a playbook (journaled: 'kafka-dr playbook list'); returns what a dedicated
    apply did (None: nothing was left to do, or Connect mode). Raises the failed step's error."""
    book = ApplyBook(settings, {"force": force}, failed_over)
    result = run_playbook(settings, book.playbook)
    if result.status != "completed":
        raise result.failure or DrError(result.error or f"mirror apply run {result.run_id} failed")
    done = result.outputs("write_and_restart")
    return deploy.DedicatedApply(**done) if done else None


def _report(payload: dict[str, Any], as_json: bool, text: str) -> None:
    if as_json:
        echo_json(payload)
    else:
        click.echo(("DRY RUN: " if payload.get("dry_run") else "") + text)
