"""kafka-dr broker add|remove and kafka-dr reassign status|cancel: moving partition replicas."""

from __future__ import annotations

from typing import Any

import click

from dr.cli.common import AppContext, echo_json, pass_app
from dr.cli.playbook import plan_then_run, result_json
from dr.config.schema import Settings
from dr.playbooks.balance import ReassignmentPlan
from dr.playbooks.brokermoves import MoveProgress, broker_move_playbook, move_params
from dr.playbooks.reassign import cancel_playbook, propose, reassignment_status
from dr.steps import RunResult

json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
dry_run_option = click.option(
    "--dry-run", is_flag=True, help="Show the plan and the current state; change nothing."
)
yes_option = click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
cluster_option = click.option("--cluster", required=True, help="The cluster (a key of clusters).")
broker_option = click.option("--broker", "broker_id", type=int, required=True, help="Node id.")
throttle_option = click.option(
    "--throttle",
    "throttle_mb",
    type=click.FloatRange(min=0.001),
    default=50.0,
    show_default=True,
    help="Replication throttle while replicas move, in MB/s (10^6 bytes).",
)


@click.command("add")
@cluster_option
@broker_option
@throttle_option
@dry_run_option
@yes_option
@json_option
@pass_app
def broker_add(app: AppContext, /, **options: Any) -> None:
    """Move a balanced share of replicas onto a broker just started (fewest bytes moved, racks
    kept apart). Exit 0 done, 2 failed (resume with 'kafka-dr playbook resume RUN_ID')."""
    _move(app.config().settings, "add", **options)


@click.command("remove")
@cluster_option
@broker_option
@throttle_option
@dry_run_option
@yes_option
@json_option
@pass_app
def broker_remove(app: AppContext, /, **options: Any) -> None:
    """Move every replica off a broker, stop it and unregister it. Exit 0 done, 2 failed
    (resume with 'kafka-dr playbook resume RUN_ID')."""
    _move(app.config().settings, "remove", **options)


def _move(
    settings: Settings,
    kind: str,
    *,
    cluster: str,
    broker_id: int,
    throttle_mb: float,
    dry_run: bool,
    yes: bool,
    as_json: bool,
) -> None:
    plan = propose(settings, cluster, broker_id, kind)
    params = move_params(cluster, plan, throttle_mb=throttle_mb)
    book = broker_move_playbook(settings, params, progress=None if as_json else _show_progress)
    result = plan_then_run(
        settings,
        book,
        dry_run=dry_run,
        yes=yes,
        as_json=as_json,
        header={"playbook": book.name, "cluster": book.source, "plan": plan.as_json()},
        question=f"Move {len(plan.moves)} replicas ({kind} broker {broker_id} of {cluster})?",
        preface=_plan_text(plan),
    )
    if result is not None:
        _finish(result, plan, as_json)


def _plan_text(plan: ReassignmentPlan) -> list[str]:
    lines = [
        f"{plan.kind} broker {plan.broker}: {len(plan.moves)} replica moves, "
        f"{plan.moved_bytes} bytes to copy (sizes from {plan.size_source})"
    ]
    counts = ", ".join(
        f"{b}: {plan.replicas_before.get(b, 0)} -> {plan.replicas_after.get(b, 0)}"
        for b in sorted(set(plan.replicas_before) | set(plan.replicas_after))
    )
    lines.append(f"  replicas per broker: {counts}")
    for move in plan.moves:
        lines.append(
            f"  {move.name}: {list(move.before)} -> {list(move.after)} ({move.bytes} bytes)"
        )
    return lines


def _show_progress(progress: MoveProgress) -> None:
    click.echo(
        f"moved {progress.partitions_done}/{progress.partitions} partitions, "
        f"{progress.bytes_done}/{progress.bytes_total} bytes",
        err=True,
    )


def _finish(result: RunResult, plan: ReassignmentPlan, as_json: bool) -> None:
    if as_json:
        echo_json({**result_json(result), "plan": plan.as_json()})
    else:
        click.echo(f"{result.playbook} on {result.source}: run {result.run_id}")
        for s in result.steps:
            took = f" ({s.duration_s:.1f}s)" if s.duration_s is not None else ""
            click.echo(f"  {s.name}: {s.status}{took}" + (f": {s.error}" if s.error else ""))
        counts = result.outputs("verify").get("replicas_by_broker")
        if counts:
            click.echo(
                "replicas per broker now: " + ", ".join(f"{b}: {n}" for b, n in counts.items())
            )
        click.echo(f"status: {result.status}")
        if result.status != "completed":
            click.echo(f"resume with: kafka-dr playbook resume {result.run_id}")
    if result.status != "completed":
        raise click.exceptions.Exit(2)


@click.group()
def reassign() -> None:
    """Partition reassignments in progress: status, cancel."""


@reassign.command()
@cluster_option
@json_option
@pass_app
def status(app: AppContext, cluster: str, as_json: bool) -> None:
    """The reassignments in progress, how far their new replicas are, and the throttles set."""
    found = reassignment_status(app.config().settings, cluster)
    if as_json:
        echo_json(
            {
                "cluster": found.cluster,
                "moving": [
                    {
                        "topic": m.topic,
                        "partition": m.partition,
                        "replicas": list(m.replicas),
                        "adding": list(m.adding),
                        "removing": list(m.removing),
                        "isr": list(m.isr),
                        "caught_up": list(m.caught_up),
                    }
                    for m in found.moving
                ],
                "throttles": list(found.throttles),
            }
        )
        return
    if not found.moving:
        click.echo(f"no partition reassignment in progress on {cluster}")
    for m in found.moving:
        click.echo(
            f"{m.topic}-{m.partition}: replicas {list(m.replicas)}, adding {list(m.adding)} "
            f"({len(m.caught_up)} in sync), removing {list(m.removing)}"
        )
    for throttle in found.throttles:
        click.echo(f"throttle set: {throttle}")


@reassign.command()
@cluster_option
@dry_run_option
@yes_option
@json_option
@pass_app
def cancel(app: AppContext, cluster: str, dry_run: bool, yes: bool, as_json: bool) -> None:
    """Cancel every reassignment in progress (each partition back to its replicas before) and
    clear the throttles. Exit 0 done, 2 failed."""
    settings = app.config().settings
    book = cancel_playbook(settings, cluster)
    result = plan_then_run(
        settings,
        book,
        dry_run=dry_run,
        yes=yes,
        as_json=as_json,
        header={"playbook": book.name, "cluster": cluster},
        question=f"Cancel the reassignments in progress on {cluster}?",
    )
    if result is None:
        return
    if as_json:
        echo_json(result_json(result))
    else:
        cancelled = result.outputs("cancel").get("cancelled", [])
        click.echo(f"{result.playbook}: {result.status}; {len(cancelled)} partitions cancelled")
        if result.error:
            click.echo(f"  {result.error}")
    if result.status != "completed":
        raise click.exceptions.Exit(2)
