"""kafka-dr restore: put a backup's topics (and group offsets) onto a cluster."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from dr.backup.lookup import find_backup, load_metadata
from dr.backup.restore import RestorePlan, plan_restore, run_restore
from dr.backup.verify import verify_backup
from dr.cli.backup import confirm, progress_bar
from dr.cli.common import AppContext, echo_json, pass_app
from dr.errors import UsageError
from dr.state import StateStore


@click.command()
@click.argument("backup_id")
@click.option("--to", "to", required=True, help="Cluster to restore onto (a name in the config).")
@click.option("--job", default=None, help="Backup job, for 'latest' with several jobs.")
@click.option("--topics", default=None, help="Regex (full match) of the topics to restore.")
@click.option("--rename", multiple=True, metavar="SRC=DST", help="Restore topic SRC as DST.")
@click.option(
    "--until",
    default=None,
    metavar="ISO8601",
    help="Keep only records with a timestamp at or before this time.",
)
@click.option("--groups", is_flag=True, help="Also restore consumer group offsets, mapped.")
@click.option("--dry-run", is_flag=True, help="Print the plan; write nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force", is_flag=True, help="Restore into target topics that hold records.")
@click.option("--json", "as_json", is_flag=True, help="Print plan and result as JSON.")
@pass_app
def restore(
    app: AppContext,
    backup_id: str,
    to: str,
    job: str | None,
    topics: str | None,
    rename: tuple[str, ...],
    until: str | None,
    groups: bool,
    dry_run: bool,
    yes: bool,
    force: bool,
    as_json: bool,
) -> None:
    """Restore backup BACKUP_ID (or 'latest') onto cluster --to."""
    settings = app.config().settings
    if to not in settings.clusters:
        raise UsageError(
            f"--to: no cluster named '{to}' (clusters: {', '.join(settings.clusters)})"
        )
    renames = _renames(rename)
    until_dt = _until(until)
    store, manifest = find_backup(settings, backup_id, job)
    checked = verify_backup(store, manifest)
    if not checked.ok:
        raise UsageError(
            f"restore refused: backup {manifest.backup_id} fails verification: "
            f"{checked.problems[0]} (see 'kafka-dr backup verify')"
        )
    metadata = load_metadata(store, manifest)
    state = StateStore(settings.state)  # type: ignore[arg-type]
    plan = plan_restore(
        settings,
        manifest,
        metadata,
        to=to,
        state=state,
        topics=topics,
        renames=renames,
        until=until_dt,
        groups=groups,
        force=force,
    )
    if as_json and dry_run:
        echo_json(_plan_json(plan))
    elif not as_json:
        _print_plan(plan, dry_run)
    if plan.problems:
        raise UsageError(f"restore refused: {plan.problems[0]}")
    if dry_run:
        return
    confirm(f"Restore {len(plan.topics)} topics onto '{to}'?", yes)
    with progress_bar("restoring", enabled=not as_json) as advance:
        result = run_restore(
            settings, store, manifest, metadata, plan, state=state, progress=advance
        )
    if as_json:
        echo_json(
            _plan_json(plan)
            | {
                "records": result.records,
                "already_present": result.already_present,
                "topics_restored": result.topics,
                "groups": result.groups,
                "seconds": round(result.seconds, 3),
            }
        )
        return
    click.echo(
        f"restored {result.records} records"
        + (f" ({result.already_present} were already there)" if result.already_present else "")
        + f" in {result.seconds:.1f}s"
    )
    for group, by_topic in result.groups.items():
        click.echo(
            f"  group {group}: "
            + ", ".join(
                f"{t}-{p}@{o}" for t, parts in by_topic.items() for p, o in sorted(parts.items())
            )
        )


def _renames(pairs: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        source, sep, target = pair.partition("=")
        if not sep or not source or not target:
            raise UsageError(f"--rename '{pair}' is not SRC=DST")
        out[source] = target
    return out


def _until(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--until '{text}' is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _plan_json(plan: RestorePlan) -> dict[str, object]:
    return {
        "backup_id": plan.backup_id,
        "cluster": plan.cluster,
        "resuming": plan.resuming,
        "until_ms": plan.until_ms,
        "groups": list(plan.groups),
        "gaps": list(plan.gaps),
        "problems": list(plan.problems),
        "topics": [
            {
                "source": t.source,
                "target": t.target,
                "partitions": t.partitions,
                "replication_factor": t.replication_factor,
                "records": t.records,
                "exists": t.exists,
                "target_records": t.target_records,
            }
            for t in plan.topics
        ],
    }


def _print_plan(plan: RestorePlan, dry_run: bool) -> None:
    head = "DRY RUN: " if dry_run else ""
    click.echo(
        f"{head}restore backup {plan.backup_id} onto '{plan.cluster}'"
        + (" (resuming an interrupted restore)" if plan.resuming else "")
    )
    for t in plan.topics:
        where = "existing" if t.exists else "new"
        click.echo(
            f"  {t.source} -> {t.target} ({where}, {t.partitions} partitions, "
            f"RF {t.replication_factor}): {t.records} records in the backup"
        )
    if plan.until_ms is not None:
        click.echo(
            f"  only records at or before {datetime.fromtimestamp(plan.until_ms / 1000, UTC)}"
        )
    if plan.groups:
        click.echo(f"  consumer groups: {', '.join(plan.groups)}")
    for gap in plan.gaps:
        click.secho(f"  GAP in the backup: {gap}", fg="red")
    for problem in plan.problems:
        click.secho(f"  BLOCKED: {problem}", fg="red", bold=True)
