"""kafka-dr mirror: render, apply and control MirrorMaker 2; show its state and drift."""

from __future__ import annotations

import json
from typing import Any

import click

from dr.cli.backup import confirm
from dr.cli.common import AppContext, echo_json, pass_app
from dr.mirror import deploy

flow_option = click.option("--flow", default=None, help="Only this flow (SOURCE->TARGET).")


@click.group()
def mirror() -> None:
    """MirrorMaker 2 between clusters: dedicated processes or Kafka Connect."""


@mirror.command()
@flow_option
@pass_app
def render(app: AppContext, flow: str | None) -> None:
    """Print mm2.properties (dedicated) or the connector configs (connect)."""
    rendered = deploy.render(app.config().settings, flow)
    click.echo(rendered if isinstance(rendered, str) else json.dumps(rendered, indent=2), nl=False)
    if not isinstance(rendered, str):
        click.echo()


@mirror.command()
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_app
def apply(app: AppContext, dry_run: bool, yes: bool, as_json: bool) -> None:
    """Bring MirrorMaker to the config, idempotently: a second apply changes nothing."""
    settings = app.config().settings
    if deploy.mirror_settings(settings).deploy == "dedicated":
        planned = deploy.apply_dedicated(settings, dry_run=True)
        if planned.changed and not dry_run:
            confirm(f"Write {planned.path} and restart MirrorMaker?", yes)
            planned = deploy.apply_dedicated(settings)
        _report(
            {
                "deploy": "dedicated",
                "path": planned.path,
                "changed": planned.changed,
                "restarted": planned.restarted,
                "dry_run": dry_run,
            },
            as_json,
            f"{planned.path}: "
            + ("changed" if planned.changed else "nothing to change")
            + (" (restarted MirrorMaker)" if planned.restarted else ""),
        )
        return
    plan = deploy.plan_connect(settings)
    if plan.changed and not dry_run:
        if not as_json and not yes:
            click.echo(plan.describe())
        confirm("Apply these connector changes?", yes)
        deploy.apply_connect(settings, plan)
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
@pass_app
def pause(app: AppContext, flow: str | None) -> None:
    """Pause the flows' connectors (Connect mode)."""
    for name in deploy.control(app.config().settings, "pause", flow):
        click.echo(f"paused {name}")


@mirror.command()
@flow_option
@pass_app
def resume(app: AppContext, flow: str | None) -> None:
    """Resume the flows' connectors (Connect mode)."""
    for name in deploy.control(app.config().settings, "resume", flow):
        click.echo(f"resumed {name}")


@mirror.command()
@flow_option
@pass_app
def restart(app: AppContext, flow: str | None) -> None:
    """Restart the flows' connectors and tasks, or the dedicated MirrorMaker."""
    for name in deploy.control(app.config().settings, "restart", flow):
        click.echo(f"restarted {name}")


@mirror.command()
@flow_option
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@pass_app
def status(app: AppContext, flow: str | None, as_json: bool) -> None:
    """Connector and task states, topics missing on the target, drift, checkpointed groups.

    Exit 1 when a connector or task failed, a topic is missing on the target or drifted."""
    states = deploy.status(app.config().settings, flow)
    payload = {"flows": {s.flow.flow: _state_json(s) for s in states}}
    if as_json:
        echo_json(payload)
    else:
        for s in states:
            _print_state(s)
    if any(not f["healthy"] for f in payload["flows"].values()):
        raise click.exceptions.Exit(1)


def _state_json(s: deploy.MirrorState) -> dict[str, Any]:
    connectors = None
    failed = False
    if s.connectors is not None:
        connectors = [
            {
                "name": c.name,
                "state": c.state,
                "worker_id": c.worker_id,
                "tasks": [
                    {
                        "id": t.id,
                        "state": t.state,
                        "worker_id": t.worker_id,
                        "trace": (t.trace or "").splitlines()[0] if t.trace else None,
                    }
                    for t in c.tasks
                ],
            }
            for c in s.connectors
        ]
        failed = any(c.state == "FAILED" or c.failed_tasks for c in s.connectors)
    f = s.flow
    return {
        "healthy": f.healthy and not failed and not s.missing_connectors,
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


def _print_state(s: deploy.MirrorState) -> None:
    f = s.flow
    healthy = _state_json(s)["healthy"]
    verdict = "OK" if healthy else click.style("ATTENTION", fg="yellow", bold=True)
    click.echo(
        f"flow {f.flow}: {verdict}; {f.topics} topics matched, {len(f.groups)} groups checkpointed"
    )
    for c in s.connectors or ():
        click.echo(f"  {c.name}: {c.state} ({len(c.tasks)} tasks)")
        for t in c.tasks:
            if t.state != "RUNNING":
                first = (t.trace or "").splitlines()[0] if t.trace else ""
                click.secho(f"    task {t.id}: {t.state} {first}", fg="red")
    for name in s.missing_connectors:
        click.secho(f"  connector not deployed: {name} (run 'kafka-dr mirror apply')", fg="red")
    for topic in f.missing_topics:
        click.secho(f"  missing on target: {topic}", fg="yellow")
    for d in f.drift:
        click.secho(
            f"  drift {d.topic} -> {d.target_topic}: {d.what} {d.source} != {d.target}", fg="yellow"
        )


def _report(payload: dict[str, Any], as_json: bool, text: str) -> None:
    if as_json:
        echo_json(payload)
    else:
        click.echo(("DRY RUN: " if payload.get("dry_run") else "") + text)
