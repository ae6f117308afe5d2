"""kafka-dr restore: put a backup's topics (and group offsets) onto a cluster."""

from __future__ import annotations

import re
import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import NoReturn

import click

from dr.backup.lookup import find_backup, load_metadata
from dr.backup.restore import (
    RestoreFailed,
    RestorePlan,
    RestoreResult,
    plan_restore,
    verify_for_restore,
)
from dr.backup.restore_acls import AclMode, AclPlan
from dr.backup.restore_configs import CONFIG_NAME, ConfigPolicy
from dr.backup.restore_content import check_keys
from dr.backup.restore_workers import MAX_WORKERS
from dr.cli.backup import confirm, progress_bar
from dr.cli.common import AppContext, echo_json, pass_app
from dr.cli.playbook import plan_lines, planned_json
from dr.errors import DrError, UsageError
from dr.playbooks import run_playbook
from dr.playbooks.restore import (
    RestoreBook,
    acls_of,
    group_skips_of,
    groups_of,
    restore_params,
)
from dr.state import StateStore
from dr.steps import RunResult


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
@click.option(
    "--acls",
    is_flag=True,
    help="Also create the backed-up ACL bindings of the restored topics (and --groups' groups).",
)
@click.option(
    "--acls-all",
    is_flag=True,
    help="Also create every backed-up ACL binding (the cluster's, other topics'...).",
)
@click.option(
    "--config",
    "config_pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="Give every restored topic this config (repeatable); wins over the policy.",
)
@click.option(
    "--drop-config",
    multiple=True,
    metavar="KEY",
    help="Leave this config to the target cluster's default (repeatable).",
)
@click.option(
    "--keep-source-configs",
    is_flag=True,
    help="Keep the source topics' configs (retention, timestamp limits...) as they were.",
)
@click.option("--deep", is_flag=True, help="Before writing, decode every record to restore.")
@click.option(
    "--no-verify",
    is_flag=True,
    help="Skip the checksum pass before writing (not the per-segment checks while writing).",
)
@click.option(
    "--workers",
    default="1",
    metavar="N",
    help="Write the target partitions with N processes (1 to 64; default 1: this one).",
)
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
    acls: bool,
    acls_all: bool,
    config_pairs: tuple[str, ...],
    drop_config: tuple[str, ...],
    keep_source_configs: bool,
    deep: bool,
    no_verify: bool,
    workers: str,
    dry_run: bool,
    yes: bool,
    force: bool,
    as_json: bool,
) -> None:
    """Restore backup BACKUP_ID (or 'latest') onto cluster --to."""
    renames = parse_renames(rename)
    check_topics_regex(topics)
    worker_processes = parse_workers(workers)
    policy = parse_config_policy(config_pairs, drop_config, keep_source=keep_source_configs)
    if deep and no_verify:
        raise UsageError("--deep and --no-verify contradict each other: give one")
    until_dt = _until(until)
    acl_mode: AclMode | None = "all" if acls_all else "restored" if acls else None
    settings = app.config().settings
    if to not in settings.clusters:
        raise UsageError(
            f"--to: no cluster named '{to}' (clusters: {', '.join(settings.clusters)})"
        )
    store, manifest = find_backup(settings, backup_id, job)
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
        configs=policy,
        acls=acl_mode,
    )
    verify = "none" if no_verify else "deep" if deep else "checksums"
    params = restore_params(
        backup_id=manifest.backup_id,
        job=manifest.job,
        to=to,
        topics=topics,
        renames=renames,
        until=until_dt,
        groups=groups,
        force=force,
        configs=policy,
        verify=verify,
        acls=acl_mode,
        workers=worker_processes,
    )
    book = RestoreBook(settings, params, plan=plan)
    if as_json and dry_run:
        steps = planned_json(plan_lines(settings, book.playbook)[0])
        echo_json(plan_json(plan) | {"verify": verify, "steps": steps})
    elif not as_json:
        _print_plan(plan, dry_run)
        if dry_run:
            click.echo("\n".join(plan_lines(settings, book.playbook)[1]))
    if plan.problems:
        raise UsageError(f"restore refused: {plan.problems[0]}")
    if dry_run:
        if not no_verify:
            checked = verify_for_restore(store, manifest, plan, deep=deep)
            if not checked.ok:
                raise UsageError(
                    f"restore refused: backup {manifest.backup_id} fails verification: "
                    f"{checked.problems[0]} (see 'kafka-dr backup verify')"
                )
        check_keys(store, manifest, plan)
        return
    confirm(f"Restore {len(plan.topics)} topics onto '{to}'?", yes)
    started = time.monotonic()
    with progress_bar("restoring", enabled=not as_json) as advance:
        book.progress = advance
        run = run_playbook(settings, book.playbook)
    if run.status != "completed":
        _failed(book, plan, run, as_json)
    result = _result(plan, run, time.monotonic() - started)
    if as_json:
        echo_json(plan_json(plan) | result_json(result) | {"run_id": run.run_id})
        return
    _print_result(result)


def _failed(book: RestoreBook, plan: RestorePlan, run: RunResult, as_json: bool) -> NoReturn:
    """The step's own error, as one line (with the run to resume), and with --json what is
    complete."""
    exc = run.failure or DrError(run.error or f"restore run {run.run_id} {run.status}")
    if isinstance(exc, RestoreFailed):
        if as_json:
            echo_json(
                plan_json(plan)
                | {
                    "run_id": run.run_id,
                    "error": exc.message,
                    "complete_partitions": list(exc.complete),
                    "incomplete_partitions": list(exc.incomplete),
                }
            )
        exc.message += f" (run {run.run_id}: or 'kafka-dr playbook resume {run.run_id}')"
    raise exc


def _result(plan: RestorePlan, run: RunResult, seconds: float) -> RestoreResult:
    written = run.outputs("write_records")
    committed = run.outputs("restore_groups")
    acls = run.outputs("restore_acls")
    return RestoreResult(
        backup_id=plan.backup_id,
        cluster=plan.cluster,
        records=int(written.get("records", 0)),
        already_present=int(written.get("already_present", 0)),
        topics=dict(written.get("topics", {})),
        groups=groups_of(committed),
        seconds=seconds,
        group_skips=group_skips_of(written),
        complete=tuple(written.get("complete_partitions", plan.partitions())),
        acls_created=acls_of(acls, "created"),
        acls_existed=acls_of(acls, "existed"),
    )


def parse_renames(pairs: tuple[str, ...]) -> dict[str, str]:
    """SRC=DST pairs as a mapping; raises UsageError for a malformed pair, a topic renamed
    twice, or two topics renamed to one name."""
    out: dict[str, str] = {}
    for pair in pairs:
        source, sep, target = pair.partition("=")
        if not sep or not source or not target:
            raise UsageError(f"--rename '{pair}' is not SRC=DST")
        if source in out and out[source] != target:
            raise UsageError(
                f"--rename gives topic '{source}' two names, '{out[source]}' and '{target}': "
                "give one"
            )
        clash = next((s for s, t in out.items() if t == target and s != source), None)
        if clash is not None:
            raise UsageError(
                f"--rename restores both '{clash}' and '{source}' as '{target}': give each "
                "its own name"
            )
        out[source] = target
    return out


def parse_workers(text: str) -> int:
    """--workers as a number of processes; raises UsageError unless 1 to MAX_WORKERS."""
    try:
        workers = int(text)
    except ValueError:
        raise UsageError(f"--workers '{text}' is not a number of processes (1 to 64)") from None
    if not 1 <= workers <= MAX_WORKERS:
        raise UsageError(
            f"--workers {workers}: give 1 to {MAX_WORKERS} processes (1 writes in this one)"
        )
    return workers


def check_topics_regex(pattern: str | None) -> None:
    """Raises UsageError when --topics is not a valid regular expression."""
    if pattern is None:
        return
    try:
        re.compile(pattern)
    except re.error as exc:
        raise UsageError(f"--topics '{pattern}' is not a valid regex: {exc}") from None


def parse_config_policy(
    pairs: tuple[str, ...], drops: tuple[str, ...], *, keep_source: bool
) -> ConfigPolicy:
    """The config policy from --config KEY=VALUE, --drop-config KEY and
    --keep-source-configs; raises UsageError naming the option for a malformed one."""
    overrides: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not value or not CONFIG_NAME.fullmatch(key):
            raise UsageError(
                f"--config '{pair}' is not KEY=VALUE with a Kafka config name (lower-case, "
                "dotted) and a value, e.g. --config retention.ms=604800000"
            )
        if key in overrides and overrides[key] != value:
            raise UsageError(f"--config sets '{key}' twice ({overrides[key]}, {value}): give one")
        overrides[key] = value
    for key in drops:
        if not CONFIG_NAME.fullmatch(key):
            raise UsageError(f"--drop-config '{key}' is not a Kafka config name")
        if key in overrides:
            raise UsageError(f"--config and --drop-config both name '{key}': give one")
    return ConfigPolicy(keep_source=keep_source, overrides=overrides, drops=frozenset(drops))


def _until(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--until '{text}' is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def plan_json(plan: RestorePlan) -> dict[str, object]:
    """The documented --json form of a plan."""
    return {
        "backup_id": plan.backup_id,
        "cluster": plan.cluster,
        "resuming": plan.resuming,
        "until_ms": plan.until_ms,
        "groups": list(plan.groups),
        "groups_skipped": [asdict(s) for s in plan.group_skips],
        "gaps": list(plan.gaps),
        "missing": list(plan.missing),
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
                "configs": t.configs,
                "config_changes": [asdict(c) for c in t.config_changes],
            }
            for t in plan.topics
        ],
        "acls": _acl_plan_json(plan.acls) if plan.acls else None,
    }


def _acl_plan_json(acls: AclPlan) -> dict[str, object]:
    return {
        "mode": acls.mode,
        "bindings": [
            {**b.acl.as_dict(), "reason": b.reason, "exists": b.exists} for b in acls.bindings
        ],
        "left_out": acls.left_out,
        "backup_note": acls.backup_note,
        "scram_users_to_create": list(acls.scram_users_to_create),
        "scram_note": acls.scram_note,
    }


def result_json(result: RestoreResult) -> dict[str, object]:
    """The documented --json form of a finished restore (added to the plan's)."""
    return {
        "records": result.records,
        "already_present": result.already_present,
        "topics_restored": result.topics,
        "groups": result.groups,
        "groups_skipped": [asdict(s) for s in result.group_skips],
        "complete_partitions": list(result.complete),
        "incomplete_partitions": [],
        "seconds": round(result.seconds, 3),
        "acls_created": [a.as_dict() for a in result.acls_created],
        "acls_existed": [a.as_dict() for a in result.acls_existed],
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
        if t.config_changes and not t.exists:
            click.echo(
                "    configs changed from the source: "
                + ", ".join(
                    f"{c.key}={_shown(c.restored)} (was {_shown(c.source)})"
                    for c in t.config_changes
                )
            )
    if plan.until_ms is not None:
        click.echo(
            f"  only records at or before {datetime.fromtimestamp(plan.until_ms / 1000, UTC)}"
        )
    if plan.groups:
        click.echo(f"  consumer groups: {', '.join(plan.groups)}")
    for skip in plan.group_skips:
        click.secho(
            f"  group {skip.group}: offset {skip.offset} on {skip.topic}-{skip.partition} "
            f"skipped: {skip.reason}",
            fg="yellow",
        )
    if plan.acls:
        _print_acl_plan(plan.acls)
    for gap in plan.gaps:
        click.secho(f"  GAP in the backup: {gap}", fg="red")
    for missing in plan.missing:
        click.secho(f"  MISSING from the backup (a partial backup): {missing}", fg="red")
    if plan.topics and not plan.problems:
        click.echo(
            "  each segment is checked whole before any record of it is written; if the restore "
            "stops part-way it names the partitions that are complete"
        )
    for problem in plan.problems:
        click.secho(f"  BLOCKED: {problem}", fg="red", bold=True)


def _print_acl_plan(acls: AclPlan) -> None:
    rule = (
        "every backed-up binding (--acls-all)"
        if acls.mode == "all"
        else "the bindings of the restored topics and groups"
    )
    click.echo(f"  ACLs to create: {rule}; prefixed and '*' bindings are kept as they are")
    for b in acls.bindings:
        state = " (exists)" if b.exists else ""
        click.echo(f"    {b.acl.describe()}{state}: {b.reason}")
    if not acls.bindings:
        click.echo("    none")
    if acls.left_out:
        click.echo(
            f"    {acls.left_out} backed-up bindings concern nothing restored: left out"
            + ("" if acls.mode == "all" else " (--acls-all creates them too)")
        )
    if acls.backup_note:
        click.secho(f"    {acls.backup_note}", fg="yellow")
    if acls.scram_users_to_create:
        click.secho(
            f"  users to create by hand: {', '.join(acls.scram_users_to_create)} "
            "(their passwords are never backed up)",
            fg="yellow",
        )
    if acls.scram_note:
        click.secho(f"  {acls.scram_note}", fg="yellow")


def _shown(value: str | None) -> str:
    return "cluster default" if value is None else value


def _print_result(result: RestoreResult) -> None:
    click.echo(
        f"restored {result.records} records"
        + (f" ({result.already_present} were already there)" if result.already_present else "")
        + f" in {result.seconds:.1f}s"
    )
    for acl in result.acls_created:
        click.echo(f"  ACL created: {acl.describe()}")
    for acl in result.acls_existed:
        click.echo(f"  ACL exists: {acl.describe()}")
    for group, by_topic in result.groups.items():
        click.echo(
            f"  group {group}: "
            + ", ".join(
                f"{t}-{p}@{o}" for t, parts in by_topic.items() for p, o in sorted(parts.items())
            )
        )
    for skip in result.group_skips:
        click.secho(
            f"  group {skip.group}: offset {skip.offset} on {skip.topic}-{skip.partition} "
            f"not restored: {skip.reason}",
            fg="yellow",
            err=True,
        )
