"""kafka-dr failover and kafka-dr playbook list|show|resume: the incident path."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import click

from dr.cli.backup import confirm
from dr.cli.common import AppContext, echo_json, pass_app
from dr.config.schema import Settings
from dr.errors import UsageError
from dr.playbooks import (
    hook_plan,
    recorded_run,
    recorded_runs,
    resume_playbook,
    run_playbook,
    state_of,
)
from dr.playbooks.cutover import cutover_playbook
from dr.playbooks.failover import failover_playbook
from dr.playbooks.giveback import failback_playbook, rollback_playbook
from dr.playbooks.lock import lock_description
from dr.steps import PlannedStep, Playbook, RunResult, plan

json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


@click.command()
@click.option("--from", "source", required=True, help="The cluster that is lost.")
@click.option("--to", "target", required=True, help="The cluster clients move to.")
@click.option("--groups", default=None, help="Regex of the groups to move (default: every group "
              "MirrorMaker checkpoints).")  # fmt: skip
@click.option("--force", is_flag=True, help="Fail over even though the source answers.")
@click.option("--incident-start", default=None, help="When the incident began (ISO 8601); the "
              "RTO is measured from it (default: now).")  # fmt: skip
@click.option(
    "--dry-run", is_flag=True, help="Show the plan and the current state; change nothing."
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
@pass_app
def failover(
    app: AppContext,
    source: str,
    target: str,
    groups: str | None,
    force: bool,
    incident_start: str | None,
    dry_run: bool,
    yes: bool,
    as_json: bool,
) -> None:
    """Move clients from a lost cluster to its replica. Exit 0 done, 1 done with an objective
    breached, 2 failed (resume with 'kafka-dr playbook resume RUN_ID')."""
    settings = app.config().settings
    started = _instant(incident_start) if incident_start else None
    book = failover_playbook(settings, source=source, target=target, groups=groups, force=force)
    _run(settings, book, dry_run=dry_run, yes=yes, as_json=as_json, incident_start=started)


@click.command()
@click.option("--from", "source", required=True, help="The cluster clients are on now (where "
              "a failover moved them).")  # fmt: skip
@click.option("--to", "target", required=True, help="The cluster they return to (the old "
              "primary, back).")  # fmt: skip
@click.option("--groups", default=None, help="Regex of the groups to move (default: every "
              "group the flow checkpoints).")  # fmt: skip
@click.option(
    "--dry-run", is_flag=True, help="Show the plan and the current state; change nothing."
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
@pass_app
def failback(
    app: AppContext,
    source: str,
    target: str,
    groups: str | None,
    dry_run: bool,
    yes: bool,
    as_json: bool,
) -> None:
    """Move clients back to the cluster a failover left, once it has returned: what it held
    that never reached the replicas is archived, what was written meanwhile is copied back.
    Exit 0 done, 1 done with an objective breached, 2 failed."""
    settings = app.config().settings
    book = failback_playbook(settings, state_of(settings), source=source, target=target,
                             groups=groups)  # fmt: skip
    _run(settings, book, dry_run=dry_run, yes=yes, as_json=as_json, incident_start=None)


@click.group(invoke_without_command=True)
@click.option("--from", "source", default=None, help="The cluster clients leave (blue).")
@click.option("--to", "target", default=None, help="Its replica, where they go (green).")
@click.option("--groups", default=None, help="Regex of the groups to move (default: every "
              "group the flow checkpoints).")  # fmt: skip
@click.option("--force", is_flag=True, help="Go on although the lag is high or unmeasured.")
@click.option(
    "--dry-run", is_flag=True, help="Show the plan and the current state; change nothing."
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
@click.pass_context
def cutover(
    click_ctx: click.Context,
    source: str | None,
    target: str | None,
    groups: str | None,
    force: bool,
    dry_run: bool,
    yes: bool,
    as_json: bool,
) -> None:
    """Planned move of clients to a replica cluster, nothing lost or repeated; 'cutover
    rollback RUN_ID' takes them back. Exit 0 done, 1 done with an objective breached, 2
    failed."""
    if click_ctx.invoked_subcommand is not None:
        return
    if not source or not target:
        raise UsageError("cutover needs --from and --to (or: cutover rollback RUN_ID)")
    app = click_ctx.find_object(AppContext)
    assert app is not None
    settings = app.config().settings
    book = cutover_playbook(settings, source=source, target=target, groups=groups, force=force)
    _run(settings, book, dry_run=dry_run, yes=yes, as_json=as_json, incident_start=None)


@cutover.command()
@click.argument("run_id")
@click.option(
    "--dry-run", is_flag=True, help="Show the plan and the current state; change nothing."
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
@pass_app
def rollback(app: AppContext, run_id: str, dry_run: bool, yes: bool, as_json: bool) -> None:
    """Take the clients of cutover RUN_ID back: what they wrote since is copied back first."""
    settings = app.config().settings
    book = rollback_playbook(settings, state_of(settings), run_id)
    _run(settings, book, dry_run=dry_run, yes=yes, as_json=as_json, incident_start=None)


@click.group()
def playbook() -> None:
    """Runs of playbooks (failover...): list, show, resume."""


@playbook.command("list")
@json_option
@pass_app
def list_runs(app: AppContext, as_json: bool) -> None:
    """The newest runs, with their status."""
    runs = recorded_runs(app.config().settings)
    if as_json:
        echo_json(
            {
                "runs": [
                    {
                        "run_id": r.run_id,
                        "playbook": r.playbook,
                        "pair": r.pair,
                        "status": status,
                        "started_at": r.started_at.isoformat(),
                        "finished_at": r.finished_at.isoformat() if r.finished_at else None,
                        "error": r.error,
                    }
                    for r, status in runs
                ]
            }
        )
        return
    if not runs:
        click.echo("no playbook runs recorded")
    for r, status in runs:
        click.echo(
            f"{r.run_id}  {r.playbook} {r.pair}  {status}  {r.started_at:%Y-%m-%d %H:%M:%S}Z"
        )


@playbook.command()
@click.argument("run_id")
@json_option
@pass_app
def show(app: AppContext, run_id: str, as_json: bool) -> None:
    """A run's steps, their outcomes and timings."""
    result = recorded_run(app.config().settings, run_id)
    if as_json:
        echo_json(result_json(result))
    else:
        _print_result(result)


@playbook.command()
@click.argument("run_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
@pass_app
def resume(app: AppContext, run_id: str, yes: bool, as_json: bool) -> None:
    """Carry on an interrupted or failed run: steps done are not repeated."""
    settings = app.config().settings
    confirm(f"Resume run {run_id}?", yes)
    result = resume_playbook(settings, run_id)
    _finish(settings, result, as_json)


def _run(
    settings: Settings,
    book: Playbook,
    *,
    dry_run: bool,
    yes: bool,
    as_json: bool,
    incident_start: datetime | None,
) -> None:
    result = plan_then_run(
        settings,
        book,
        dry_run=dry_run,
        yes=yes,
        as_json=as_json,
        header={"playbook": book.name, "from": book.source, "to": book.target},
        question=f"Run {book.name} from {book.source} to {book.target}?",
        incident_start=incident_start,
    )
    if result is not None:
        _finish(settings, result, as_json)


def plan_then_run(
    settings: Settings,
    book: Playbook,
    *,
    dry_run: bool,
    yes: bool,
    as_json: bool,
    header: Mapping[str, Any],
    question: str,
    preface: list[str] | None = None,
    incident_start: datetime | None = None,
) -> RunResult | None:
    """What every command that runs a playbook does first: show the plan (``preface`` lines
    above it; on stdout for a dry run, on stderr before a confirmation; with --dry-run --json
    the ``header`` keys, the steps and the problems as JSON), stop there for a dry run (None),
    else ask ``question`` on a terminal unless --yes, and run it."""
    planned, lines, hooks, problems = plan_lines(settings, book)
    if dry_run and as_json:
        echo_json(
            {**header, "dry_run": True, "steps": planned_json(planned, hooks), "problems": problems}
        )
        return None
    if dry_run or not (yes or as_json):
        click.echo("\n".join([*(preface or []), *lines]), err=not dry_run)
        if dry_run:
            click.echo("DRY RUN: nothing was changed")
            return None
    confirm(question, yes)
    return run_playbook(settings, book, incident_start=incident_start)


def plan_lines(
    settings: Settings, book: Playbook, planned: tuple[PlannedStep, ...] | None = None
) -> tuple[tuple[PlannedStep, ...], list[str], dict[str, list[str]], list[str]]:
    """A playbook's plan for a person: (the planned steps, the lines, each step's hooks, the
    hooks that cannot run). Shared by every command that runs a playbook."""
    planned = plan(book) if planned is None else planned
    hooks, problems = hook_plan(settings, book)
    lines = [f"{book.name} {book.pair}: {lock_description(settings, book.source, book.target)}"]
    for i, p in enumerate(planned, 1):
        state = {True: "done", False: "to do", None: p.note or "to do"}[p.done]
        flag = "DESTRUCTIVE " if p.destructive else ""
        lines.append(f"  {i}. {p.name}: {flag}{p.description} [{state}]")
        if p.touches:
            lines.append(f"       touches: {p.touches}")
        if hooks.get(p.name):
            lines.append(f"       hooks: {', '.join(hooks[p.name])}")
    lines += [f"  PROBLEM: {problem}" for problem in problems]
    return planned, lines, hooks, problems


def planned_json(
    planned: tuple[PlannedStep, ...], hooks: dict[str, list[str]] | None = None
) -> list[dict[str, Any]]:
    """The documented --json form of a plan's steps."""
    return [
        {
            "name": p.name,
            "description": p.description,
            "destructive": p.destructive,
            "touches": p.touches,
            "done": p.done,
            "note": p.note,
            "hooks": (hooks or {}).get(p.name, []),
        }
        for p in planned
    ]


def _finish(settings: Settings, result: RunResult, as_json: bool) -> None:
    if as_json:
        echo_json(result_json(result, settings))
    else:
        _print_result(result)
    if result.status != "completed":
        raise click.exceptions.Exit(2)
    if _breaches(result, settings):
        raise click.exceptions.Exit(1)


def _breaches(result: RunResult, settings: Settings) -> list[str]:
    found = []
    goals = settings.flow_objectives(f"{result.source}->{result.target}")
    rto = goals.rto_seconds
    if result.rto_seconds is not None and result.rto_seconds > rto:
        found.append(f"RTO {result.rto_seconds:.0f}s > objective {rto:.0f}s")
    rpo = result.outputs("record_loss").get("rpo_seconds")
    if rpo is not None and rpo > goals.rpo_seconds:
        found.append(f"RPO {rpo:.0f}s > objective {goals.rpo_seconds:.0f}s")
    failed = result.outputs("commit_offsets").get("failed", [])
    if failed:
        found.append(f"{len(failed)} group(s) not committed, first {failed[0]['group']}")
    return found


def result_json(result: RunResult, settings: Settings | None = None) -> dict[str, Any]:
    """The documented --json shape of a playbook run."""
    loss = result.outputs("record_loss")
    offsets = result.outputs("commit_offsets")
    doc: dict[str, Any] = {
        "run_id": result.run_id,
        "playbook": result.playbook,
        "from": result.source,
        "to": result.target,
        "status": result.status,
        "error": result.error,
        "steps": [
            {
                "name": s.name,
                "status": s.status,
                "started_at": s.started_at.isoformat() if s.started_at else None,
                "finished_at": s.finished_at.isoformat() if s.finished_at else None,
                "duration_s": s.duration_s,
                "detail": s.error if s.error else dict(s.outputs),
            }
            for s in result.steps
        ],
        "incident_start": result.incident_start.isoformat(),
        "rto_seconds": result.rto_seconds,
    }
    if result.playbook in ("cutover", "rollback", "failback"):
        doc["write_unavailable_seconds"] = result.rto_seconds  # the planned RTO
        doc["groups"] = _groups_json(offsets)
        doc["topics"] = (result.outputs("preflight") or result.outputs("assess")).get("topics", {})
        if result.playbook == "cutover":
            doc["records_compared"] = result.outputs("verify").get("records_compared")
        else:
            doc["copied_back"] = result.outputs("copy_back").get("records")
            doc["records_compared"] = result.outputs("verify_copy").get("records")
    if result.playbook == "failback":
        found = result.outputs("find_divergence")
        doc["divergence"] = {
            "records": found.get("records"),
            "partitions": [p for p in found.get("partitions", []) if p.get("records")],
            "archive": result.outputs("archive_divergence") or None,
        }
    if result.playbook == "failover":
        doc["rpo"] = {
            "seconds": loss.get("rpo_seconds"),
            "unmeasured": loss.get("unmeasured"),
            "lost_records_estimate": loss.get("lost_records_estimate"),
            "heartbeat_age_seconds": loss.get("heartbeat_age_seconds"),
            "partitions": loss.get("partitions", []),
        }
        doc["groups"] = _groups_json(offsets)
        doc["topics"] = result.outputs("assess").get("topics", {})
    if settings is not None:
        doc["objectives_breached"] = _breaches(result, settings)
    return doc


def _groups_json(offsets: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "committed": len(offsets.get("committed", {})),
        "offsets": offsets.get("committed", {}),
        "failed": offsets.get("failed", []),
        "skipped": offsets.get("skipped", []),
        "missing": offsets.get("missing", []),
        "notes": offsets.get("notes", []),
    }


def _print_result(result: RunResult) -> None:
    click.echo(f"{result.playbook} {result.source}->{result.target}: run {result.run_id}")
    for s in result.steps:
        took = f" ({s.duration_s:.1f}s)" if s.duration_s is not None else ""
        line = f"  {s.name}: {s.status}{took}"
        click.echo(line + (f": {s.error}" if s.error else ""))
    loss = result.outputs("record_loss")
    if loss:
        if loss.get("rpo_seconds") is not None:
            click.echo(
                f"RPO {loss['rpo_seconds']:.1f}s, {loss.get('lost_records_estimate')} records "
                "not replicated"
            )
        else:
            click.echo(f"RPO unmeasured: {loss.get('unmeasured')}")
    offsets = result.outputs("commit_offsets")
    if offsets:
        click.echo(
            f"groups: {len(offsets.get('committed', {}))} committed, "
            f"{len(offsets.get('failed', []))} failed, "
            f"{len(offsets.get('skipped', []))} skipped, {len(offsets.get('missing', []))} "
            "partitions missing"
        )
        for failure in offsets.get("failed", []):
            click.secho(f"  NOT COMMITTED: {failure['group']}: {failure['reason']}", fg="red")
    found = result.outputs("find_divergence")
    if found:
        archive = result.outputs("archive_divergence")
        where = f" archived as backup {archive['backup_id']} (job {archive['job']})" if (
            archive) else ""  # fmt: skip
        click.echo(f"divergence: {found.get('records')} records never reached the replicas;{where}")
    if result.outputs("copy_back"):
        click.echo(f"copied back: {result.outputs('copy_back').get('records')} records")
    rto = "unmeasured (clients not switched)" if result.rto_seconds is None else (
        f"{result.rto_seconds:.1f}s"
    )  # fmt: skip
    planned = result.playbook in ("cutover", "rollback", "failback")
    label = "write-unavailable window (planned RTO)" if planned else "RTO"
    click.echo(f"status: {result.status}; {label} {rto}")
    if result.status != "completed":
        click.echo(f"resume with: kafka-dr playbook resume {result.run_id}")


def _instant(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--incident-start '{text}' is not an ISO 8601 time") from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if moment > datetime.now(UTC):
        raise UsageError(f"--incident-start '{text}' is in the future")
    return moment
