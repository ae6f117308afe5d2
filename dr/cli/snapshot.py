"""kafka-dr snapshot: physical snapshots of a cluster's log dirs (run, list, show, verify,
prune) and their restore after a total cluster loss (restore).

run and restore are playbooks (plan, --dry-run, confirmation, journal, resume with
'kafka-dr playbook resume RUN_ID'), one at a time per cluster with the broker procedures.
"""

from __future__ import annotations

from typing import Any

import click

from dr.cli.backup import confirm
from dr.cli.common import AppContext, echo_json, pass_app
from dr.cli.playbook import plan_then_run, result_json
from dr.config.schema import Settings
from dr.playbooks.snapshot_restore import restore_params, restore_playbook
from dr.playbooks.snapshot_run import (
    READY_TIMEOUT_S,
    STOP_TIMEOUT_S,
    snapshot_params,
    snapshot_playbook,
)
from dr.snapshots.catalog import (
    execute_snapshot_prune,
    list_snapshots,
    plan_snapshot_prune,
    read_manifest,
    resolve_id,
    snapshot_store,
    verify_snapshot,
)
from dr.steps import Playbook, RunResult

cluster_option = click.option("--cluster", required=True, help="The cluster of the snapshots.")
storage_option = click.option(
    "--storage", default=None, help="Store name (default: snapshots.CLUSTER.storage)."
)
dry_run_option = click.option(
    "--dry-run", is_flag=True, help="Show the plan and the current state; change nothing."
)
yes_option = click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


@click.group()
def snapshot() -> None:
    """Log-dir snapshots of a cluster's nodes, and their restore after a total loss."""


@snapshot.command("run")
@cluster_option
@storage_option
@click.option("--offline-ok", is_flag=True, help="Go on although stopping a node takes "
              "partitions offline (a single-node cluster, replicas below "
              "min.insync.replicas).")  # fmt: skip
@click.option("--stop-timeout", "stop_timeout_s", type=click.FloatRange(min=1),
              default=STOP_TIMEOUT_S, show_default=True,
              help="Seconds a graceful stop may take before the node is killed.")  # fmt: skip
@click.option("--ready-timeout", "ready_timeout_s", type=click.FloatRange(min=1),
              default=READY_TIMEOUT_S, show_default=True,
              help="Seconds a started node has to register and catch up.")  # fmt: skip
@dry_run_option
@yes_option
@json_option
@pass_app
def run_cmd(
    app: AppContext,
    cluster: str,
    storage: str | None,
    offline_ok: bool,
    stop_timeout_s: float,
    ready_timeout_s: float,
    dry_run: bool,
    yes: bool,
    as_json: bool,
) -> None:
    """Snapshot every node, one at a time: stop, stream its log dirs and config into the store,
    start, wait until the cluster is whole, next. Exit 0 done, 2 failed."""
    settings = app.config().settings
    params = snapshot_params(
        settings,
        cluster,
        storage=storage,
        offline_ok=offline_ok,
        stop_timeout_s=stop_timeout_s,
        ready_timeout_s=ready_timeout_s,
    )
    _run(settings, snapshot_playbook(settings, params), dry_run=dry_run, yes=yes, as_json=as_json)


@snapshot.command("restore")
@click.argument("snapshot_id")
@cluster_option
@storage_option
@click.option("--broker", "node", type=int, default=None,
              help="Restore only this node (default: every node of the snapshot).")  # fmt: skip
@dry_run_option
@yes_option
@json_option
@pass_app
def restore_cmd(
    app: AppContext,
    snapshot_id: str,
    cluster: str,
    storage: str | None,
    node: int | None,
    dry_run: bool,
    yes: bool,
    as_json: bool,
) -> None:
    """Lay snapshot SNAPSHOT_ID (or 'latest') back: stop the nodes, wipe their log dirs, lay
    each node's archive back, start them, wait for the quorum and every partition online,
    compare end offsets. Exit 0 equal, 1 an end offset differs, 2 failed."""
    settings = app.config().settings
    params = restore_params(settings, cluster, snapshot_id, storage=storage, node=node)
    _run(settings, restore_playbook(settings, params), dry_run=dry_run, yes=yes, as_json=as_json)


@snapshot.command("list")
@cluster_option
@storage_option
@json_option
@pass_app
def list_cmd(app: AppContext, cluster: str, storage: str | None, as_json: bool) -> None:
    """The cluster's snapshots, oldest first; incomplete ones have no manifest."""
    store = snapshot_store(app.config().settings, cluster, storage)
    entries = list_snapshots(store, cluster)
    if as_json:
        echo_json({"cluster": cluster, "store": store.url, "snapshots": [
            {"snapshot_id": e.snapshot_id, "complete": e.complete, "objects": e.objects,
             "bytes": e.size} for e in entries]})  # fmt: skip
        return
    if not entries:
        click.echo(f"no snapshots of '{cluster}' in {store.url}")
    for e in entries:
        state = "complete" if e.complete else "INCOMPLETE (no manifest)"
        click.echo(f"{e.snapshot_id}  {e.objects} nodes  {e.size / 1e6:.1f} MB  {state}")


@snapshot.command("show")
@click.argument("snapshot_id")
@cluster_option
@storage_option
@json_option
@pass_app
def show_cmd(
    app: AppContext, snapshot_id: str, cluster: str, storage: str | None, as_json: bool
) -> None:
    """A snapshot's manifest: its nodes, objects, checksums and recorded end offsets."""
    store = snapshot_store(app.config().settings, cluster, storage)
    manifest = read_manifest(store, cluster, resolve_id(store, cluster, snapshot_id))
    if as_json:
        echo_json(manifest.model_dump(mode="json"))
        return
    click.echo(f"snapshot {manifest.snapshot_id} of '{cluster}' (cluster id {manifest.cluster_id})")
    click.echo(f"  taken {manifest.started_at:%Y-%m-%d %H:%M:%S}Z to "
               f"{manifest.finished_at:%H:%M:%S}Z by run {manifest.run_id}")  # fmt: skip
    parts = sum(len(p) for p in manifest.end_offsets.values())
    click.echo(f"  {parts} partitions' end offsets recorded")
    for n in manifest.nodes:
        down = "unmeasured" if n.down_s is None else f"{n.down_s:.1f}s"
        click.echo(f"  node {n.node_id}: {n.key} {n.size / 1e6:.1f} MB (tar {n.tar_bytes / 1e6:.1f}"
                   f" MB) sha256 {n.sha256[:16]}... down {down}")  # fmt: skip
        click.echo(f"    {', '.join([*n.log_dirs, n.config_file])}")


@snapshot.command("verify")
@click.argument("snapshot_id")
@cluster_option
@storage_option
@json_option
@pass_app
def verify_cmd(
    app: AppContext, snapshot_id: str, cluster: str, storage: str | None, as_json: bool
) -> None:
    """Re-read every object of a snapshot and check its size and SHA-256. Exit 0 intact, 1 an
    object is missing or damaged."""
    store = snapshot_store(app.config().settings, cluster, storage)
    result = verify_snapshot(store, cluster, resolve_id(store, cluster, snapshot_id))
    if as_json:
        echo_json({"snapshot_id": result.snapshot_id, "cluster": cluster, "ok": result.ok,
                   "objects": [{"node": o.node_id, "key": o.key, "bytes": o.size, "ok": o.ok,
                                "problem": o.problem} for o in result.objects]})  # fmt: skip
    else:
        for o in result.objects:
            click.echo(f"node {o.node_id}: {o.key}: " + ("ok" if o.ok else f"DAMAGED: {o.problem}"))
        click.echo(f"snapshot {result.snapshot_id}: " + ("intact" if result.ok else "DAMAGED"))
    if not result.ok:
        raise click.exceptions.Exit(1)


@snapshot.command("prune")
@cluster_option
@storage_option
@dry_run_option
@yes_option
@json_option
@pass_app
def prune_cmd(
    app: AppContext, cluster: str, storage: str | None, dry_run: bool, yes: bool, as_json: bool
) -> None:
    """Delete the snapshots retention (snapshots.CLUSTER.retention) lets go, and incomplete
    ones older than the newest complete snapshot."""
    settings = app.config().settings
    store = snapshot_store(settings, cluster, storage)
    plan = plan_snapshot_prune(settings, store, cluster)
    doc: dict[str, Any] = {"cluster": cluster, "keep": list(plan.keep), "prune": list(plan.prune),
                           "incomplete": list(plan.incomplete), "dry_run": dry_run}  # fmt: skip
    if not as_json:
        click.echo(f"keep: {', '.join(plan.keep) or 'none'}")
        click.echo(f"prune: {', '.join(plan.prune) or 'none'}")
        click.echo(f"incomplete, deleted: {', '.join(plan.incomplete) or 'none'}")
    if dry_run or plan.empty:
        if as_json:
            echo_json({**doc, "objects_deleted": 0})
        elif dry_run:
            click.echo("DRY RUN: nothing was changed")
        return
    confirm(f"Delete {len(plan.prune) + len(plan.incomplete)} snapshots of {cluster}?", yes)
    deleted = execute_snapshot_prune(store, plan)
    if as_json:
        echo_json({**doc, "objects_deleted": deleted})
    else:
        click.echo(f"deleted {deleted} objects")


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
    doc = snapshot_result_json(result)
    if as_json:
        echo_json(doc)
    else:
        _print(result, doc)
    if result.status != "completed":
        raise click.exceptions.Exit(2)
    if doc.get("offsets_differ"):
        raise click.exceptions.Exit(1)


def snapshot_result_json(result: RunResult) -> dict[str, Any]:
    """The documented --json shape of a snapshot run or restore: a playbook run plus the
    snapshot id, each node's object and downtime (run), or the offset comparison (restore)."""
    doc = result_json(result)
    doc["cluster"] = result.source
    if result.playbook == "snapshot-run":
        doc["snapshot_id"] = result.outputs("write_manifest").get("snapshot_id")
        doc["nodes"] = {
            s.name.removeprefix("archive_"): {
                **{k: s.outputs.get(k) for k in ("key", "size", "sha256", "tar_bytes")},
                "seconds": s.outputs.get("seconds"),
            }
            for s in result.steps
            if s.name.startswith("archive_") and s.outputs
        }
        doc["down_s"] = {
            s.name.removeprefix("await_"): s.outputs.get("down_s")
            for s in result.steps
            if s.name.startswith("await_") and s.outputs
        }
    else:
        compared = result.outputs("compare_offsets")
        doc["snapshot_id"] = result.outputs("check_snapshot").get("snapshot_id")
        doc["offsets"] = compared
        # A node restored into a running cluster catches up with it: only fewer records count.
        whole = compared.get("whole", True)
        differ = compared.get("differences") if whole else compared.get("fewer")
        doc["offsets_differ"] = bool(differ)
    return doc


def _print(result: RunResult, doc: dict[str, Any]) -> None:
    click.echo(f"{result.playbook} {result.source}: run {result.run_id}")
    for s in result.steps:
        took = f" ({s.duration_s:.1f}s)" if s.duration_s is not None else ""
        click.echo(f"  {s.name}: {s.status}{took}" + (f": {s.error}" if s.error else ""))
    if doc.get("snapshot_id"):
        click.echo(f"snapshot: {doc['snapshot_id']}")
    for node, down in doc.get("down_s", {}).items():
        click.echo(f"node {node}: down {down:.1f}s (stop to whole again)")
    compared = doc.get("offsets") or {}
    if compared:
        click.echo(f"end offsets: {compared.get('partitions')} partitions compared, "
                   f"{len(compared.get('differences', []))} differ")  # fmt: skip
        for d in compared.get("differences", [])[:20]:
            click.secho(f"  {d['detail']}", fg="red" if d["kind"] != "more-records" else None)
    if result.playbook == "snapshot-restore":
        rto = "unmeasured (not online)" if result.rto_seconds is None else (
            f"{result.rto_seconds:.1f}s (run start to every partition online)")  # fmt: skip
        click.echo(f"RTO {rto}")
    click.echo(f"status: {result.status}")
    if result.status != "completed":
        click.echo(f"resume with: kafka-dr playbook resume {result.run_id}")
