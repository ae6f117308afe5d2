"""kafka-dr lab demo: the whole job on the embedded default, step by step.

A lab with MirrorMaker 2, the status of both clusters, traffic mirrored to dr, a backup of the
demo topic into the lab's local store, its verification, and a restore onto dr under a new name.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from dr.backup.lookup import find_backup, load_metadata
from dr.backup.restore import plan_restore, run_restore
from dr.backup.runner import run_backup
from dr.backup.verify import verify_backup
from dr.cli.rpo import print_report as print_rpo
from dr.cli.status import print_report
from dr.config import load_config
from dr.errors import DrError
from dr.kafka.health import check_health
from dr.lab.lab import Lab, LabOptions
from dr.lab.traffic import count_records, create_topic, produce_records, wait_for_records
from dr.objectives.rpo import measure_rpo
from dr.state import StateStore

TOPIC = "demo.orders"
RESTORED = "restored.demo.orders"


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
            step(9, "Stopping the lab")
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
        f"(RTO objective {settings.objectives.rto_seconds:.0f}s)"
    )
    print_report(check_health(settings.clusters, tools=settings.tools), verbose=False)
