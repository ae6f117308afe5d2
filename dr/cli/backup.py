"""kafka-dr backup: run a job, list, show, verify and prune backups."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from dr.backup.catalog import Manifest, ManifestDamaged, scan_catalog
from dr.backup.lock import JobLock
from dr.backup.lookup import find_backup, job_store
from dr.backup.retention import PrunePlan, plan_prune
from dr.backup.runner import ProgressEvent, run_backup
from dr.backup.verify import VerifyResult, damaged_manifest, verify_backup
from dr.cli.common import AppContext, echo_json, pass_app
from dr.errors import DrError, UsageError

job_option = click.option(
    "--job",
    default=None,
    help="The backup job (needed with 'latest' when several jobs are configured).",
)


@click.group()
def backup() -> None:
    """Back up topics to S3 or a local store; inspect, verify and prune backups."""


@backup.command("run")
@click.argument("job")
@click.option(
    "--allow-partial/--no-allow-partial",
    default=None,
    help="Complete as a PARTIAL backup when partitions have no leader, or fail (default: the "
    "job's allow_partial).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_app
def run(app: AppContext, job: str, allow_partial: bool | None, as_json: bool) -> None:
    """Run backup JOB once: new records, then metadata, then the manifest."""
    settings = app.config().settings
    with progress_bar("backing up", enabled=not as_json) as advance:

        def on_progress(event: ProgressEvent) -> None:
            advance(event.records, event.records_expected)

        result = run_backup(settings, job, progress=on_progress, allow_partial=allow_partial)
    if as_json:
        echo_json(result.to_json())
    else:
        status = " PARTIAL" if result.partial else ""
        click.echo(
            f"backup {result.backup_id}{status}: {result.records} records, "
            f"{_size(result.bytes)} from {result.partitions} partitions of {result.topics} topics"
        )
        alarms = [
            f"GAP: offsets {g.start_offset}..{g.end_offset - 1} were {g.reason}"
            for g in result.gaps
        ] + [f"MISSING: {m.topic}-{m.partition}: {m.reason}" for m in result.missing]
        for line in alarms:
            click.secho(f"  {line}", fg="red", bold=True, err=True)
        for r in result.retired:
            click.secho(
                f"  retired topic {r.topic} ({r.reason}): restore it from {r.held_by}",
                fg="yellow",
                err=True,
            )
    if result.partial:
        raise click.exceptions.Exit(1)


@backup.command("list")
@click.argument("job", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the backups as JSON.")
@pass_app
def list_(app: AppContext, job: str | None, as_json: bool) -> None:
    """List completed backups, oldest first."""
    settings = app.config().settings
    jobs = [job] if job else list(settings.backups)
    scans = [scan_catalog(job_store(settings, j, archives=True), j) for j in jobs]
    manifests = [m for good, _ in scans for m in good]
    problems = [p for _, bad in scans for p in bad]
    if as_json:
        echo_json(
            {
                "backups": [_summary(m) for m in manifests],
                "problems": [
                    {"sequence": p.sequence, "object": p.object, "message": p.message}
                    for p in problems
                ],
            }
        )
        return
    for problem in problems:
        click.secho(f"UNREADABLE backup number {problem.sequence}: {problem}", fg="red", err=True)
    if not manifests:
        click.echo("no backups")
    for m in manifests:
        s = _summary(m)
        click.echo(
            f"{m.backup_id}  {m.finished_at[:19]}  +{s['records_added']} records "
            f"({s['records']} in all, {_size(s['bytes'])})  {len(m.topics)} topics"
            + (f"  {s['gaps']} GAPS" if s["gaps"] else "")
            + (f"  PARTIAL ({len(m.missing_partitions)} partitions missing)" if m.partial else "")
        )


@backup.command()
@click.argument("backup_id")
@job_option
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
@pass_app
def show(app: AppContext, backup_id: str, job: str | None, as_json: bool) -> None:
    """Show one backup: its partitions, offsets, segments and gaps."""
    _, m = find_backup(app.config().settings, backup_id, job)
    if as_json:
        from dataclasses import asdict

        echo_json(asdict(m))
        return
    s = _summary(m)
    click.echo(
        f"backup {m.backup_id} of job {m.job} (cluster {m.cluster}, id {m.cluster_id}), "
        f"number {m.sequence or '-'}, {m.status}"
    )
    click.echo(f"  taken {m.started_at} .. {m.finished_at}, parent {m.parent or '-'}")
    click.echo(
        f"  {s['records']} records in {s['segments']} segments, {_size(s['bytes'])}, "
        f"compression {m.compression}"
    )
    for p in m.partitions:
        click.echo(
            f"  {p.topic}-{p.partition}: offsets {p.start_offset}..{p.end_offset} "
            f"{p.records} records, {len(p.segments)} segments"
        )
        for g in p.gaps:
            click.secho(f"    GAP {g.start_offset}..{g.end_offset - 1}: {g.reason}", fg="red")
    for missing in m.missing_partitions:
        click.secho(f"  MISSING {missing.topic}-{missing.partition}: {missing.reason}", fg="red")
    for r in m.retired_topics:
        click.secho(f"  retired {r.topic} ({r.reason}): held by {r.held_by}", fg="yellow")


@backup.command()
@click.argument("backup_id")
@job_option
@click.option("--deep", is_flag=True, help="Also decode every record.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_app
def verify(app: AppContext, backup_id: str, job: str | None, deep: bool, as_json: bool) -> None:
    """Verify a backup (ID or 'latest'); exit 1 naming each bad object (a PARTIAL backup
    exits 1 too, naming the partitions it lacks)."""
    try:
        store, manifest = find_backup(app.config().settings, backup_id, job)
    except ManifestDamaged as exc:
        result = damaged_manifest(backup_id, exc.key, exc.message, deep=deep)
    else:
        with progress_bar("verifying", enabled=not as_json) as advance:
            result = verify_backup(store, manifest, deep=deep, progress=advance)
    if as_json:
        echo_json(
            {
                "backup_id": result.backup_id,
                "ok": result.ok,
                "status": result.status,
                "partial": bool(result.partial),
                "missing_partitions": list(result.partial),
                "deep": deep,
                "segments": result.segments,
                "records": result.records,
                "records_unverified": result.records_unverified,
                "segments_unverified": result.segments_unverified,
                "problems": [{"object": p.object, "message": p.message} for p in result.problems],
                "gaps": list(result.gaps),
            }
        )
    else:
        for gap in result.gaps:
            click.secho(f"gap (explained): {gap}", fg="yellow")
        for problem in result.problems:
            click.secho(f"BAD {problem}", fg="red", err=True)
        for missing in result.partial:
            click.secho(f"PARTIAL: not in this backup: {missing}", fg="red", err=True)
        verdict = {
            "OK": "OK",
            "PARTIAL": f"PARTIAL ({len(result.partial)} partitions missing)",
            "FAILED": f"FAILED ({len(result.problems)} problems)",
        }[result.status]
        click.echo(f"backup {result.backup_id}: {verdict}; {_verified_counts(result)}")
    if result.status != "OK":
        raise click.exceptions.Exit(1)


def _verified_counts(result: VerifyResult) -> str:
    """'4 segments, 13 records decoded', and the records of refused segments apart."""
    if result.records is None:
        return "its manifest cannot be read"
    counted = f"{result.segments} segments, {result.records} records"
    counted += " decoded" if result.deep else ""
    if result.segments_unverified:
        counted += (
            f"; {result.records_unverified} records in {result.segments_unverified} "
            "damaged segments not verified"
        )
    return counted


@backup.command()
@click.argument("job")
@click.option("--dry-run", is_flag=True, help="Show what would be deleted, delete nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@pass_app
def prune(app: AppContext, job: str, dry_run: bool, yes: bool, as_json: bool) -> None:
    """Apply JOB's retention: delete expired backups and objects no kept backup needs."""
    settings = app.config().settings
    store = job_store(settings, job)
    with JobLock(settings, job, store, what="prune"):
        plan = plan_prune(store, job, settings.backups[job].retention)
    _show_prune(plan, dry_run, as_json)
    if dry_run or plan.empty:
        return
    confirm(f"Delete {len(plan.prune)} backups and {len(plan.objects)} objects?", yes)
    # A playbook (journaled, resumable): its delete step takes the job's lock again and
    # deletes no backup but those confirmed here.
    from dr.playbooks import run_playbook  # here: every playbook's import, for prune alone
    from dr.playbooks.prune import PruneBook, prune_params

    book = PruneBook(settings, prune_params(job, plan.prune))
    result = run_playbook(settings, book.playbook)
    if result.status != "completed":
        raise result.failure or DrError(result.error or f"prune run {result.run_id} failed")
    if not as_json:
        click.echo(f"pruned (run {result.run_id})")


def _show_prune(plan: PrunePlan, dry_run: bool, as_json: bool) -> None:
    if as_json:
        echo_json(
            {
                "job": plan.job,
                "dry_run": dry_run,
                "keep": list(plan.keep),
                "prune": list(plan.prune),
                "objects": list(plan.objects),
                "problems": list(plan.problems),
            }
        )
        return
    click.echo(
        f"job {plan.job}: keep {len(plan.keep)} backups, prune {len(plan.prune)}, "
        f"delete {len(plan.objects)} objects"
    )
    for backup_id in plan.prune:
        click.echo(f"  prune {backup_id}")
    for problem in plan.problems:
        click.secho(f"  unreadable, kept (data objects kept too): {problem}", fg="red")


def confirm(question: str, yes: bool) -> None:
    """Ask before a destructive step; refuse without a terminal unless --yes."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError("refusing to go on without confirmation: no terminal; add --yes")
    if not click.confirm(question, default=False):
        raise click.exceptions.Abort()


@contextmanager
def progress_bar(label: str, *, enabled: bool) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on a TTY (stderr); a no-op otherwise."""
    if not enabled or not sys.stderr.isatty():
        yield lambda _done, _total: None
        return
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TimeRemainingColumn

    with Progress(
        "[bold]{task.description}",
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=max(total, done) or None)

        yield advance


def _summary(m: Manifest) -> dict[str, Any]:
    return {
        "backup_id": m.backup_id,
        "job": m.job,
        "cluster": m.cluster,
        "started_at": m.started_at,
        "finished_at": m.finished_at,
        "records_added": m.records,
        "records": m.total_records,
        "bytes": m.total_bytes,
        "segments": sum(len(p.segments) for p in m.partitions),
        "topics": m.topics,
        "gaps": sum(len(p.gaps) for p in m.partitions),
        "sequence": m.sequence,
        "status": m.status,
        "missing_partitions": [f"{x.topic}-{x.partition}" for x in m.missing_partitions],
    }


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{n} B"
        value /= 1024
    return f"{n} B"
