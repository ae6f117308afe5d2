"""kafka-dr drill: run a DR drill, list and show past drills, verify a report, make a key."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from dr.cli.backup import confirm
from dr.cli.common import AppContext, echo_json, pass_app
from dr.drill.choice import chosen_scenarios
from dr.drill.history import drill_entries, load_drill
from dr.drill.model import DESTRUCTIVE
from dr.drill.run import DrillResult, run_drill
from dr.drill.signing import generate_signing_key
from dr.drill.verify import verify_report
from dr.errors import UsageError


@click.group()
def drill() -> None:
    """DR drills: prove that recovery works and how fast, and keep signed evidence."""


@drill.command("run")
@click.argument("name", required=False)
@click.option(
    "--scenario",
    "scenarios",
    multiple=True,
    metavar="NAME",
    help="Run only this scenario (repeatable): backup-restore, mirror, failover, broker-loss.",
)
@click.option(
    "--destructive",
    is_flag=True,
    help="Allow the destructive scenarios (failover, broker-loss) on drillable clusters.",
)
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for drill-ID.json and drill-ID.html (also kept in the store).",
)
@click.option("--yes", is_flag=True, help="Do not ask before a destructive scenario.")
@click.option("--json", "as_json", is_flag=True, help="Print the report's summary as JSON.")
@pass_app
def run_cmd(
    app: AppContext,
    name: str | None,
    scenarios: tuple[str, ...],
    destructive: bool,
    report_dir: Path | None,
    yes: bool,
    as_json: bool,
) -> None:
    """Run a drill. Exit 0 when every check passed and every objective was met, 1 when one
    failed or was missed, 2 when the drill could not run, 130 when interrupted."""
    settings = app.config().settings
    name = _drill_name(settings.drills, name)
    chosen = chosen_scenarios(settings, name, scenarios, destructive=destructive)
    risky = [s for s in chosen if s in DESTRUCTIVE]
    if risky:
        click.echo(
            f"drill {name} runs destructive scenarios: {', '.join(risky)} "
            "(a real failover/broker kill on drillable clusters)",
            err=True,
        )
        confirm("Run them now?", yes)

    def progress(scenario: str) -> None:
        if not as_json:
            click.echo(f"running scenario {scenario}...", err=True)

    result = run_drill(
        settings,
        name,
        scenarios=scenarios,
        destructive=destructive,
        report_dir=report_dir,
        progress=progress,
    )
    if as_json:
        echo_json(result_json(result))
    else:
        print_result(result)
    if result.exit_code:
        raise click.exceptions.Exit(result.exit_code)


@drill.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the drills as JSON.")
@pass_app
def list_cmd(app: AppContext, as_json: bool) -> None:
    """Past drills, newest first."""
    entries = drill_entries(app.config().settings)
    if as_json:
        echo_json(entries)
        return
    if not entries:
        click.echo("no drill has run yet (kafka-dr drill run)")
    for e in entries:
        rto = e.get("rto_seconds")
        click.echo(
            f"{e['drill_id']}  {e['drill']:<12} {e['status']:<11} {e['started_at'][:19]}  "
            f"checks failed {e.get('checks_failed', '-')}  "
            f"rto {'unmeasured' if rto is None else f'{rto:.1f}s'}  {e.get('html') or ''}"
        )


@drill.command("show")
@click.argument("drill_id")
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON.")
@pass_app
def show_cmd(app: AppContext, drill_id: str, as_json: bool) -> None:
    """One drill's report: its checks, objectives and where its evidence is."""
    payload = load_drill(app.config().settings, drill_id)
    if as_json:
        echo_json(payload)
        return
    print_payload(payload)


@drill.command("verify-report")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--public-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM key the report must be signed with (a public key, or the private key).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the verification as JSON.")
def verify_cmd(file: Path, public_key: Path | None, as_json: bool) -> None:
    """Check a report's signature and that its JSON and HTML are as written. Exit 0 intact,
    1 altered or badly signed, 2 unreadable."""
    found = verify_report(file, public_key_pem=public_key.read_bytes() if public_key else None)
    if as_json:
        echo_json(
            {
                "ok": found.ok,
                "problems": list(found.problems),
                "signed": found.signed,
                "key_fingerprint": found.key_fingerprint,
                "drill_id": found.drill_id,
                "outcome": found.outcome,
                "json": str(found.json_path),
                "html": str(found.html_path),
            }
        )
    elif found.ok:
        how = (
            f"signed by key {found.key_fingerprint}"
            if found.signed
            else "UNSIGNED (no signing key was configured): integrity only"
        )
        click.echo(f"report {found.drill_id} intact ({found.outcome}); {how}")
    else:
        for problem in found.problems:
            click.echo(f"FAILED: {problem}", err=True)
    if not found.ok:
        raise click.exceptions.Exit(1)


@drill.command("keygen")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the private key (0600; never overwritten).",
)
def keygen_cmd(out: Path) -> None:
    """Make an Ed25519 key pair for signing drill reports; prints the public key."""
    private_pem, public_pem = generate_signing_key()
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise UsageError(f"{out} exists; refusing to overwrite a signing key") from None
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_pem)
    public = out.with_suffix(out.suffix + ".pub")
    public.write_bytes(public_pem)
    click.echo(f"private key written to {out} (mode 0600); public key to {public}")
    click.echo(f"set it in the config: drills.<name>.signing_key: ${{file:{out}}}")
    click.echo(public_pem.decode().rstrip())


def _drill_name(drills: dict[str, Any], name: str | None) -> str:
    if name is not None:
        return name
    if len(drills) == 1:
        return next(iter(drills))
    if not drills:
        raise UsageError("no drill is configured (add one under 'drills' in the config)")
    raise UsageError(f"several drills are configured; name one: {', '.join(sorted(drills))}")


def result_json(result: DrillResult) -> dict[str, Any]:
    """The documented --json shape of `drill run`: the report's summary and its files."""
    report, files = result.report, result.files
    return {
        "drill_id": report.drill_id,
        "drill": report.drill,
        "outcome": report.outcome,
        "exit_code": result.exit_code,
        "error": report.error,
        "objectives": report.to_dict()["objectives"],
        "checks": [
            {
                "scenario": c.scenario,
                "name": c.name,
                "subject": c.subject,
                "outcome": c.outcome,
                "summary": c.summary,
            }
            for c in report.checks
        ],
        "report": {
            "json": str(files.json_path) if files and files.json_path else None,
            "html": str(files.html_path) if files and files.html_path else None,
            "store_json": files.json_key if files else None,
            "signed": files.signed if files else False,
            "key_fingerprint": files.key_fingerprint if files else None,
        },
    }


def print_result(result: DrillResult) -> None:
    report, files = result.report, result.files
    print_payload(report.to_dict())
    if files is not None:
        for label, where in (("json", files.json_path), ("html", files.html_path)):
            if where is not None:
                click.echo(f"report {label}: {where}")
        if files.json_key:
            click.echo(f"kept in the store as {files.json_key}")
        click.echo("signed" if files.signed else "UNSIGNED: no signing_key is configured")


def print_payload(payload: dict[str, Any]) -> None:
    """A drill report for a person: verdict, objectives, failed checks."""
    click.echo(f"drill {payload['drill']} {payload['drill_id']}: {payload['outcome'].upper()}")
    if payload.get("error"):
        click.echo(f"  {payload['error']}")
    for o in payload.get("objectives", []):
        measured = o["measured_seconds"]
        figure = f"unmeasured ({o['unmeasured']})" if measured is None else f"{measured:.1f}s"
        verdict = "met" if o["met"] else "MISSED" if o["met"] is False else "UNMEASURED"
        click.echo(
            f"  {o['kind'].upper()} {o['subject']}: {figure} vs {o['target_seconds']:.0f}s "
            f"target: {verdict}"
        )
    checks = payload.get("checks", [])
    bad = [c for c in checks if c["outcome"] in ("failed", "error")]
    click.echo(f"  {len(checks)} checks, {len(bad)} failed")
    for c in bad:
        click.echo(
            f"  {c['outcome'].upper()} {c['scenario']}/{c['name']} {c['subject']}: {c['summary']}"
        )
