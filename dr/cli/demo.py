"""kafka-dr lab demo: the whole job on the embedded default, step by step.

A lab with MirrorMaker 2, the status of both clusters, traffic mirrored to dr, a backup of the
demo topic into the lab's local store, its verification, a restore onto dr under a new name,
a DR drill with its report, and a failover of a running app after the whole primary is killed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import click

from dr.backup.lookup import find_backup, load_metadata
from dr.backup.restore import plan_restore, run_restore
from dr.backup.runner import run_backup
from dr.backup.verify import verify_backup
from dr.cli.rpo import print_report as print_rpo
from dr.cli.status import print_report
from dr.config import load_config
from dr.config.schema import Settings
from dr.drill.run import run_drill
from dr.errors import DrError
from dr.kafka.health import check_health
from dr.lab.apps import AppRequest, start_app, stop_apps
from dr.lab.lab import Lab, LabOptions
from dr.lab.ledger import read_ledger, reconcile_files
from dr.lab.traffic import count_records, create_topic, produce_records, wait_for_records
from dr.mirror.offsets import translate_offsets
from dr.objectives.rpo import measure_rpo
from dr.playbooks import run_playbook
from dr.playbooks.failover import failover_playbook
from dr.state import StateStore

TOPIC = "demo.orders"
RESTORED = "restored.demo.orders"
APP, APP_TOPIC, APP_GROUP = "demo-app", "demo.payments", "demo-app-group"


def step(number: int, text: str) -> None:
    click.secho(f"== {number}. {text}", bold=True)


@click.command()
@click.option(
    "--dir",
    "lab_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="The lab's directory.",
)
@click.option(
    "--kafka-version", default=None, help="Kafka version (default: newest 4.x that resolves)."
)
@click.option("--records", default=5000, show_default=True, type=click.IntRange(1, 10_000_000))
@click.option("--keep", is_flag=True, help="Leave the lab running at the end.")
def demo(lab_dir: Path, kafka_version: str | None, records: int, keep: bool) -> None:
    """The whole job on the embedded default: lab, status, mirroring, backup, verify, restore."""
    the_lab = Lab(lab_dir)
    if the_lab.is_up():
        the_lab.down()
    step(1, "Starting the lab: primary (3 nodes), dr (1 node), MirrorMaker 2 primary->dr")
    started = time.monotonic()
    state = the_lab.up(LabOptions(kafka_version=kafka_version))
    try:
        click.echo(
            f"   up in {time.monotonic() - started:.1f}s, Kafka {state.kafka_version}, "
            f"config {the_lab.config_path}"
        )
        _walkthrough(the_lab, records)
    finally:
        if keep:
            click.echo(f"lab left running: kafka-dr lab down --dir {lab_dir}")
        else:
            step(11, "Stopping the lab")
            the_lab.down()


def _walkthrough(the_lab: Lab, records: int) -> None:
    settings = load_config(the_lab.config_path).settings
    primary = settings.clusters["primary"].bootstrap_servers
    dr = settings.clusters["dr"].bootstrap_servers
    step(2, "kafka-dr status")
    print_report(check_health(settings.clusters, tools=settings.tools), verbose=False)

    step(3, f"Producing {records} records to '{TOPIC}' on primary")
    create_topic(primary, TOPIC, partitions=3, replication=3)
    sent = produce_records(primary, TOPIC, records)
    click.echo(f"   {sent.records} records acknowledged in {sent.seconds:.1f}s")

    step(4, f"Waiting for them on dr as 'primary.{TOPIC}' (MirrorMaker 2)")
    waited = wait_for_records(dr, f"primary.{TOPIC}", records)
    click.echo(f"   all {records} records on dr {waited:.1f}s after the last ack")

    step(5, "kafka-dr backup run demo  (into the lab's local store)")
    result = run_backup(settings, "demo")
    click.echo(
        f"   backup {result.backup_id}: {result.records} records, {result.bytes} bytes, "
        f"{result.partitions} partitions"
    )

    step(6, "kafka-dr backup verify latest --deep")
    store, manifest = find_backup(settings, "latest", "demo")
    checked = verify_backup(store, manifest, deep=True)
    if not checked.ok:
        raise DrError(f"the demo backup failed verification: {checked.problems[0]}")
    click.echo(f"   OK: {checked.segments} segments, {checked.records} records decoded")

    step(7, f"kafka-dr restore latest --to dr --rename {TOPIC}={RESTORED} --groups --yes")
    metadata = load_metadata(store, manifest)
    state = StateStore(settings.state)  # type: ignore[arg-type]
    plan = plan_restore(
        settings,
        manifest,
        metadata,
        to="dr",
        state=state,
        topics=TOPIC,
        renames={TOPIC: RESTORED},
        groups=True,
        force=True,
    )
    restored = run_restore(settings, store, manifest, metadata, plan, state=state)
    on_dr = count_records(dr, RESTORED)
    click.echo(
        f"   {restored.records} records restored in {restored.seconds:.1f}s; "
        f"'{RESTORED}' on dr holds {on_dr}"
    )

    step(8, "kafka-dr rpo status  (recovery point of the mirror flow and the backup job)")
    print_rpo(measure_rpo(settings))
    click.echo(
        f"   restore of {restored.records} records took {restored.seconds:.1f}s "
        f"(RTO objective {settings.job_objectives('demo').rto_seconds:.0f}s)"
    )
    print_report(check_health(settings.clusters, tools=settings.tools), verbose=False)
    _drill(settings)
    _failover(the_lab)


def _drill(settings: Settings) -> None:
    """The lab's drill, its non-destructive scenarios: the backup restored into scratch
    topics and proved, the mirror flow's RPO and offset translation checked."""
    step(
        9,
        "kafka-dr drill run lab  (backup-restore and mirror; the report is signed if a key is set)",
    )
    result = run_drill(settings, "lab", scenarios=("backup-restore", "mirror"))
    report, files = result.report, result.files
    failed = [c for c in report.checks if c.outcome in ("failed", "error")]
    click.echo(
        f"   drill {report.drill_id}: {report.outcome.upper()}, {len(report.checks)} checks, "
        f"{len(failed)} failed"
    )
    for c in failed:
        click.echo(f"   {c.outcome.upper()} {c.scenario}/{c.name} {c.subject}: {c.summary}")
    for o in report.objectives:
        figure = "unmeasured" if o.measured_seconds is None else f"{o.measured_seconds:.1f}s"
        click.echo(f"   {o.kind.upper()} {o.subject}: {figure} (objective {o.target_seconds:.0f}s)")
    if files is not None and files.html_path is not None:
        click.echo(f"   drill report: {files.html_path}")
        click.echo(f"   evidence:     {files.json_path}  (kafka-dr drill verify-report FILE)")


def _failover(the_lab: Lab) -> None:
    """A running app on primary, the whole primary killed, kafka-dr failover, the app on dr."""
    settings = load_config(the_lab.config_path).settings
    step(10, f"Failover: app '{APP}' produces and consumes on primary; primary is then killed")
    start_app(the_lab.dir, AppRequest(APP, topic=APP_TOPIC, produce_rate=50, group=APP_GROUP))
    _wait(lambda: _checkpointed(settings), 120, "MirrorMaker's checkpoints of the app's group")
    the_lab.stop_cluster("primary", kill=True)
    click.echo("   primary killed (every node, SIGKILL); kafka-dr failover --from primary --to dr")
    result = run_playbook(settings, failover_playbook(settings, source="primary", target="dr"))
    for s in result.steps:
        took = f"{s.duration_s:.1f}s" if s.duration_s is not None else "-"
        click.echo(f"   {s.name}: {s.status} ({took})")
    if result.status != "completed" or result.rto_seconds is None:
        raise DrError(f"the demo failover did not complete: {result.error}")
    dr = settings.clusters["dr"].bootstrap_servers
    ledger = the_lab.dir / "apps" / f"{APP}.ledger"
    _wait(lambda: _consumed_on(ledger, dr) >= 50, 120, f"'{APP}' consuming on dr")
    stop_apps(the_lab.dir, [APP])
    tally = reconcile_files([ledger], group=APP_GROUP)
    loss = result.outputs("record_loss")
    objective = settings.flow_objectives("primary->dr").rto_seconds
    click.echo(f"   RTO {result.rto_seconds:.1f}s (objective {objective:.0f}s)")
    if loss.get("rpo_seconds") is None:
        click.echo(f"   RPO unmeasured: {loss.get('unmeasured')}")
    else:
        click.echo(f"   RPO {loss['rpo_seconds']:.1f}s")
    click.echo(
        f"   ledger: {tally.acked} records acknowledged, {tally.consumed} consumed, "
        f"{len(tally.lost)} acknowledged but never consumed (on primary, not replicated "
        f"before the kill), {tally.duplicates} consumed twice (since the last checkpoint)"
    )


def _checkpointed(settings: Settings) -> bool:
    try:
        result = translate_offsets(settings, APP_GROUP, "primary", "dr")
    except DrError:
        return False
    return len(result.partitions) == 3 and all(
        p.basis == "checkpoint" or p.checkpoint_upstream_offset is not None
        for p in result.partitions
    )


def _consumed_on(ledger: Path, bootstrap: str) -> int:
    entries = read_ledger(ledger)
    return sum(1 for e in entries if e.event == "consumed" and e.cluster_bootstrap == bootstrap)


def _wait(ready: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            raise DrError(f"the demo timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(1)
