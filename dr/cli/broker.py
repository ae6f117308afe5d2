"""kafka-dr broker: procedures on the brokers of one cluster (restart, replace, add, remove).

restart and replace are playbooks (plan, --dry-run, confirmation, journal, resume with
'kafka-dr playbook resume RUN_ID'), run one at a time per cluster.
"""

from __future__ import annotations

from typing import Any

import click

from dr.cli.common import AppContext, echo_json, pass_app
from dr.cli.playbook import plan_then_run, result_json
from dr.config.schema import Settings
from dr.playbooks.broker_replace import replace_params, replace_playbook
from dr.playbooks.broker_restart import (
    READY_TIMEOUT_S,
    SETTLE_TIMEOUT_S,
    STOP_TIMEOUT_S,
    restart_params,
    restart_playbook,
)
from dr.steps import Playbook, RunResult

dry_run_option = click.option(
    "--dry-run", is_flag=True, help="Show the plan and the current state; change nothing."
)
yes_option = click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
stop_option = click.option(
    "--stop-timeout",
    "stop_timeout_s",
    type=click.FloatRange(min=1),
    default=STOP_TIMEOUT_S,
    show_default=True,
    help="Seconds a graceful stop may take before the node is killed.",
)
ready_option = click.option(
    "--ready-timeout",
    "ready_timeout_s",
    type=click.FloatRange(min=1),
    default=READY_TIMEOUT_S,
    show_default=True,
    help="Seconds a started node has to register and rejoin.",
)


@click.group()
def broker() -> None:
    """Broker procedures: restart (rolling), replace (a lost disk or host), add, remove."""


@broker.command()
@click.option("--cluster", required=True, help="The cluster whose nodes are restarted.")
@click.option("--broker", "nodes", type=int, multiple=True, help="Restart only this node "
              "(repeatable; default: every node of the inventory).")  # fmt: skip
@stop_option
@ready_option
@click.option("--settle-timeout", "settle_timeout_s", type=click.FloatRange(min=1),
              default=SETTLE_TIMEOUT_S, show_default=True, help="Seconds the check before "
              "each stop waits for the cluster to be healthy.")  # fmt: skip
@dry_run_option
@yes_option
@json_option
@pass_app
def restart(
    app: AppContext,
    cluster: str,
    nodes: tuple[int, ...],
    stop_timeout_s: float,
    ready_timeout_s: float,
    settle_timeout_s: float,
    dry_run: bool,
    yes: bool,
    as_json: bool,
) -> None:
    """Rolling restart, one node at a time, the active controller last; each stop only when
    no partition would fall below min.insync.replicas. Exit 0 done, 2 failed (resume with
    'kafka-dr playbook resume RUN_ID')."""
    settings = app.config().settings
    params = restart_params(
        settings,
        cluster,
        nodes=list(nodes) or None,
        stop_timeout_s=stop_timeout_s,
        ready_timeout_s=ready_timeout_s,
        settle_timeout_s=settle_timeout_s,
    )
    book = restart_playbook(settings, params)
    _run(settings, book, dry_run=dry_run, yes=yes, as_json=as_json)


@broker.command()
@click.option("--cluster", required=True, help="The cluster the node belongs to.")
@click.option("--broker", "node", type=int, required=True, help="The node whose data is gone.")
@stop_option
@ready_option
@click.option("--replicate-timeout", "replicate_timeout_s", type=click.FloatRange(min=1),
              default=3600.0, show_default=True,
              help="Seconds re-replication may take.")  # fmt: skip
@dry_run_option
@yes_option
@json_option
@pass_app
def replace(
    app: AppContext,
    cluster: str,
    node: int,
    stop_timeout_s: float,
    ready_timeout_s: float,
    replicate_timeout_s: float,
    dry_run: bool,
    yes: bool,
    as_json: bool,
) -> None:
    """Bring back a node whose data is gone: format it with the cluster's id, start it,
    rejoin the quorum, wait until every partition is fully replicated; reports the RTO.
    Exit 0 done, 1 done with the RTO objective breached, 2 failed."""
    settings = app.config().settings
    params = replace_params(
        settings,
        cluster,
        node,
        stop_timeout_s=stop_timeout_s,
        ready_timeout_s=ready_timeout_s,
        replicate_timeout_s=replicate_timeout_s,
    )
    progress = None if as_json else (lambda line: click.echo(line, err=True))
    book = replace_playbook(settings, params, progress=progress)
    _run(settings, book, dry_run=dry_run, yes=yes, as_json=as_json)


def _run(settings: Settings, book: Playbook, *, dry_run: bool, yes: bool, as_json: bool) -> None:
    result = plan_then_run(
        settings,
        book,
        dry_run=dry_run,
        yes=yes,
        as_json=as_json,
        header={"playbook": book.name, "cluster": book.source, "params": dict(book.params)},
        question=f"Run {book.name} on {book.source}?",
    )
    if result is None:
        return
    breached = _rto_breach(result, settings)
    if as_json:
        echo_json(broker_result_json(result, breached))
    else:
        _print(result, breached)
    if result.status != "completed":
        raise click.exceptions.Exit(2)
    if breached:
        raise click.exceptions.Exit(1)


def _rto_breach(result: RunResult, settings: Settings) -> str | None:
    rto, objective = result.rto_seconds, settings.objectives.rto_seconds
    if rto is not None and rto > objective:
        return f"RTO {rto:.0f}s > objective {objective:.0f}s"
    return None


def broker_result_json(result: RunResult, breached: str | None = None) -> dict[str, Any]:
    """The documented --json shape of a broker procedure's run: a playbook run plus, for a
    restart, each node's downtime; for a replace, the RTO and re-replication samples."""
    doc = result_json(result)
    doc["cluster"] = result.source
    doc["objectives_breached"] = [breached] if breached else []
    if result.playbook == "broker-restart":
        doc["down_s"] = {
            s.name.removeprefix("await_"): s.outputs.get("down_s")
            for s in result.steps
            if s.name.startswith("await_") and s.outputs
        }
    else:
        replicated = result.outputs("await_replicated")
        doc["under_replicated_samples"] = replicated.get("under_replicated", [])
        doc["cluster_id"] = result.outputs("assess").get("cluster_id")
    return doc


def _print(result: RunResult, breached: str | None) -> None:
    click.echo(f"{result.playbook} {result.source}: run {result.run_id}")
    for s in result.steps:
        took = f" ({s.duration_s:.1f}s)" if s.duration_s is not None else ""
        click.echo(f"  {s.name}: {s.status}{took}" + (f": {s.error}" if s.error else ""))
    doc = broker_result_json(result)
    for node, down in doc.get("down_s", {}).items():
        click.echo(f"node {node}: down {down:.1f}s (stop to fully replicated)")
    if result.playbook == "broker-replace":
        rto = "unmeasured (not fully replicated)" if result.rto_seconds is None else (
            f"{result.rto_seconds:.1f}s (run start to no partition under-replicated)"
        )  # fmt: skip
        click.echo(f"RTO {rto}")
    if breached:
        click.secho(f"OBJECTIVE BREACHED: {breached}", fg="red")
    click.echo(f"status: {result.status}")
    if result.status != "completed":
        click.echo(f"resume with: kafka-dr playbook resume {result.run_id}")


def _register_moves() -> None:
    # Adding and removing a broker are reassignments at heart; they live with reassign.
    from dr.cli.reassign import broker_add, broker_remove

    broker.add_command(broker_add)
    broker.add_command(broker_remove)


_register_moves()
