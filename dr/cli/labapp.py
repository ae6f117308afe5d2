"""kafka-dr lab app: client applications on the lab that a failover or cutover moves."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from dr.cli.common import echo_json
from dr.cli.lab import dir_option
from dr.errors import UsageError
from dr.lab.apps import (
    DEFAULT_TOPIC,
    AppRequest,
    AppView,
    hold_apps,
    hook_context,
    list_apps,
    release_apps,
    start_app,
    stop_apps,
    switch_apps,
)


@click.group()
def app() -> None:
    """Client applications that produce and consume on a lab cluster, each with a ledger."""


@app.command("start")
@dir_option
@click.argument("name")
@click.option(
    "--produce",
    "rate",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="RATE",
    help="Produce RATE records per second (keys NAME-<seq>, acks=all, idempotent).",
)
@click.option(
    "--consume", "group", default=None, metavar="GROUP", help="Consume as consumer group GROUP."
)
@click.option("--topic", default=DEFAULT_TOPIC, show_default=True, help="The topic to use.")
@click.option(
    "--cluster", default="primary", show_default=True, help="The lab cluster to start on."
)
@click.option("--json", "as_json", is_flag=True, help="Print the app as JSON.")
def start(
    lab_dir: Path,
    name: str,
    rate: float | None,
    group: str | None,
    topic: str,
    cluster: str,
    as_json: bool,
) -> None:
    """Start app NAME in the background; returns once it is connected."""
    started = start_app(
        lab_dir,
        AppRequest(name=name, topic=topic, produce_rate=rate, group=group, cluster=cluster),
    )
    if as_json:
        echo_json({**app_json(started.app), "start_seconds": round(started.seconds, 2)})
        return
    view = started.app
    click.echo(
        f"app {view.name} started (pid {view.pid}): {_doing(view)} on {view.topic} at "
        f"{view.bootstrap}, connected in {started.seconds:.1f}s"
    )


@app.command("stop")
@dir_option
@click.argument("name", required=False)
@click.option("--all", "every", is_flag=True, help="Stop every app of the lab.")
def stop(lab_dir: Path, name: str | None, every: bool) -> None:
    """Stop app NAME (or --all): SIGTERM, so that it commits and flushes; SIGKILL after 20 s."""
    names = _names(name, every)
    stopped = stop_apps(lab_dir, names)
    if names is None and not stopped:
        click.echo("no app was running")
    for app_name in names or stopped:
        click.echo(f"app {app_name} {'stopped' if app_name in stopped else 'was not running'}")


@app.command("list")
@dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the apps as JSON.")
def list_command(lab_dir: Path, as_json: bool) -> None:
    """The lab's apps: running or not, where they point, and their ledger counts."""
    views = list_apps(lab_dir)
    if as_json:
        echo_json([app_json(v) for v in views])
        return
    if not views:
        click.echo("no apps")
        return
    header = ("NAME", "PID", "STATE", "BOOTSTRAP", "TOPIC", "PRODUCED", "ACKED", "CONSUMED")
    rows = [header] + [
        (
            v.name,
            str(v.pid or "-"),
            v.state,
            v.bootstrap,
            v.topic,
            str(v.produced),
            str(v.acked),
            str(v.consumed),
        )
        for v in views
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@app.command("hold")
@dir_option
@click.argument("name", required=False)
@click.option("--all", "every", is_flag=True, help="Hold every app (the default).")
@click.option("--timeout", "timeout_s", default=30.0, show_default=True, help="Seconds to wait.")
def hold(lab_dir: Path, name: str | None, every: bool, timeout_s: float) -> None:
    """Stop app NAME (default: every app) producing, once what it sent is acknowledged; it
    keeps consuming. The lab's stop_producers hook; moving the app (switch) or 'release'
    lets it produce again."""
    for held in hold_apps(lab_dir, _names(name, every, default_all=True), timeout_s=timeout_s):
        click.echo(f"app {held}: held")


@app.command("release")
@dir_option
@click.argument("name", required=False)
@click.option("--all", "every", is_flag=True, help="Release every app (the default).")
def release(lab_dir: Path, name: str | None, every: bool) -> None:
    """Let held apps produce again where they are."""
    for released in release_apps(lab_dir, _names(name, every, default_all=True)):
        click.echo(f"app {released}: producing")


@app.command("switch")
@dir_option
@click.argument("name", required=False)
@click.option("--all", "every", is_flag=True, help="Switch every app (the default).")
@click.option("--bootstrap", default=None, help="New bootstrap servers (stdin is then not read).")
@click.option(
    "--topic-map",
    default=None,
    metavar="JSON",
    help='Topic names on the new cluster, e.g. \'{"orders": "primary.orders"}\'.',
)
def switch(
    lab_dir: Path, name: str | None, every: bool, bootstrap: str | None, topic_map: str | None
) -> None:
    """Point app NAME (default: every app) at another cluster: the lab's hook command.

    As a playbook hook it reads KAFKA_DR_TO_BOOTSTRAP and the JSON context on stdin
    ({"to_bootstrap": ..., "topics": {SOURCE: TARGET}}); by hand, give --bootstrap and
    --topic-map.
    """
    stdin_text = ""
    if bootstrap is None and not sys.stdin.isatty():
        stdin_text = sys.stdin.read()
    context = hook_context(os.environ, stdin_text, bootstrap=bootstrap, topic_map=topic_map)
    for moved in switch_apps(lab_dir, context, _names(name, every, default_all=True)):
        note = "" if moved.running else " (not running)"
        click.echo(
            f"app {moved.name}: {moved.from_target.bootstrap} {moved.from_target.topic} -> "
            f"{moved.to_target.bootstrap} {moved.to_target.topic}{note}"
        )


def app_json(view: AppView) -> dict[str, Any]:
    """An app as `lab app list --json` documents it."""
    return {
        "name": view.name,
        "pid": view.pid,
        "running": view.running,
        "state": view.state,
        "bootstrap": view.bootstrap,
        "topic": view.topic,
        "produce_rate": view.produce_rate,
        "group": view.group,
        "produced": view.produced,
        "acked": view.acked,
        "consumed": view.consumed,
        "failed": view.failed,
    }


def _doing(view: AppView) -> str:
    parts = []
    if view.produce_rate:
        parts.append(f"producing {view.produce_rate:g}/s")
    if view.group:
        parts.append(f"consuming as group {view.group}")
    return " and ".join(parts)


def _names(name: str | None, every: bool, *, default_all: bool = False) -> list[str] | None:
    if name and every:
        raise UsageError("give an app NAME or --all, not both")
    if name:
        return [name]
    if every or default_all:
        return None
    raise UsageError("give an app NAME or --all")
