"""kafka-dr lab: start, inspect and break a local two-cluster Kafka lab."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from dr.cli.common import echo_json
from dr.cli.exits import allow_cleanup
from dr.lab import processes
from dr.lab.lab import Lab, LabOptions
from dr.lab.state import LabState

NOT_RUNNING = 3  # `lab mirror status`: the exit code systemctl is-active gives a stopped unit

dir_option = click.option(
    "--dir",
    "lab_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="The lab's directory (configs, data, logs, pids).",
)


# Interrupted, the lab stops what it started: JVMs take a while to stop.
LAB_CLEANUP_S = 120.0


@click.group()
def lab() -> None:
    """A local lab: KRaft clusters 'primary' and 'dr' and MirrorMaker 2, from Kafka jars."""
    allow_cleanup(LAB_CLEANUP_S)


@lab.command()
@dir_option
@click.option(
    "--kafka-version", default=None, help="Kafka version (default: newest 4.x that resolves)."
)
@click.option("--primary-brokers", default=3, show_default=True, type=click.IntRange(1, 9))
@click.option("--dr-brokers", default=1, show_default=True, type=click.IntRange(1, 9))
@click.option(
    "--mirror/--no-mirror", default=True, show_default=True, help="Start MirrorMaker 2 primary->dr."
)
@click.option(
    "--security",
    type=click.Choice(["plaintext", "sasl_ssl"]),
    default="plaintext",
    show_default=True,
    help="sasl_ssl: TLS listeners, SCRAM-SHA-512 users and ACLs (see docs/security.md).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the lab as JSON.")
def up(
    lab_dir: Path,
    kafka_version: str | None,
    primary_brokers: int,
    dr_brokers: int,
    mirror: bool,
    security: str,
    as_json: bool,
) -> None:
    """Start the lab; returns once every broker is registered."""
    the_lab = Lab(lab_dir)
    state = the_lab.up(
        LabOptions(
            kafka_version=kafka_version,
            primary_brokers=primary_brokers,
            dr_brokers=dr_brokers,
            mirror=mirror,
            security=security,
        )
    )
    if as_json:
        echo_json(lab_json(the_lab, state))
    else:
        _print_lab(the_lab, state)
        click.echo(str(the_lab.config_path))


@lab.command()
@dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the lab as JSON.")
def status(lab_dir: Path, as_json: bool) -> None:
    """Show the lab's clusters, nodes and MirrorMaker, and which processes run."""
    the_lab = Lab(lab_dir)
    state = the_lab.state()
    if as_json:
        echo_json(lab_json(the_lab, state))
    else:
        _print_lab(the_lab, state)


@lab.command()
@dir_option
def down(lab_dir: Path) -> None:
    """Stop every process of the lab (idempotent)."""
    Lab(lab_dir).down()
    click.echo(f"lab in {lab_dir} is down")


@lab.command("stop-node")
@dir_option
@click.argument("cluster")
@click.argument("node_id", type=int)
@click.option("--kill", is_flag=True, help="SIGKILL instead of a controlled shutdown.")
def stop_node(lab_dir: Path, cluster: str, node_id: int, kill: bool) -> None:
    """Stop one node of CLUSTER; returns once the rest of the cluster sees it gone."""
    Lab(lab_dir).stop_node(cluster, node_id, kill=kill, wait_fenced=True)
    click.echo(f"{cluster} node {node_id} {'killed' if kill else 'stopped'}")


@lab.command("start-node")
@dir_option
@click.argument("cluster")
@click.argument("node_id", type=int)
@click.option(
    "--wipe", is_flag=True, help="Empty and reformat the node's log dirs first (a replaced disk)."
)
def start_node(lab_dir: Path, cluster: str, node_id: int, wipe: bool) -> None:
    """Start one node of CLUSTER and wait until it is registered."""
    Lab(lab_dir).start_node(cluster, node_id, wipe=wipe)
    click.echo(f"{cluster} node {node_id} started{' on a wiped disk' if wipe else ''}")


@lab.command("add-node")
@dir_option
@click.argument("cluster")
def add_node(lab_dir: Path, cluster: str) -> None:
    """Start one more broker-only node in CLUSTER (same cluster id, its controllers) and wait
    until it is registered; the lab's config lists it."""
    node = Lab(lab_dir).add_node(cluster)
    click.echo(f"{cluster} node {node.id} started (broker only, port {node.port})")


@lab.command("remove-node")
@dir_option
@click.argument("cluster")
@click.argument("node_id", type=int)
def remove_node(lab_dir: Path, cluster: str, node_id: int) -> None:
    """Forget a stopped node of CLUSTER added with add-node: its data, record and inventory."""
    Lab(lab_dir).remove_node(cluster, node_id)
    click.echo(f"{cluster} node {node_id} removed from the lab")


@lab.command("stop-cluster")
@dir_option
@click.argument("cluster")
@click.option("--kill", is_flag=True, help="SIGKILL every node at once (a lost site).")
def stop_cluster(lab_dir: Path, cluster: str, kill: bool) -> None:
    """Stop every node of CLUSTER (MirrorMaker 2 keeps running)."""
    change = Lab(lab_dir).stop_cluster(cluster, kill=kill)
    how = "killed" if kill else "stopped"
    nodes = ", ".join(str(n) for n in change.nodes) or "none were running"
    click.echo(f"{cluster} {how} in {change.seconds:.1f}s (nodes: {nodes})")


@lab.command("start-cluster")
@dir_option
@click.argument("cluster")
def start_cluster(lab_dir: Path, cluster: str) -> None:
    """Start the stopped nodes of CLUSTER (same ports, data and cluster id) and wait until it
    answers."""
    change = Lab(lab_dir).start_cluster(cluster)
    nodes = ", ".join(str(n) for n in change.nodes) or "none, all were running"
    click.echo(
        f"{cluster} answers with cluster id {change.cluster_id} after {change.seconds:.1f}s "
        f"(nodes started: {nodes})"
    )


@lab.group()
def connect() -> None:
    """Start or stop the lab's Kafka Connect worker (for mirror.deploy: connect)."""


@connect.command("start")
@dir_option
def connect_start(lab_dir: Path) -> None:
    """Start the Kafka Connect worker; prints its REST URL."""
    click.echo(Lab(lab_dir).connect_start())


@connect.command("stop")
@dir_option
def connect_stop(lab_dir: Path) -> None:
    """Stop the Kafka Connect worker."""
    stopped = Lab(lab_dir).connect_stop()
    click.echo("Kafka Connect stopped" if stopped else "Kafka Connect was not running")


def _register_demo() -> None:
    from dr.cli.demo import demo
    from dr.cli.labapp import app

    lab.add_command(demo)
    lab.add_command(app)


@lab.group()
def mirror() -> None:
    """Stop or start the lab's MirrorMaker 2."""


@mirror.command("stop")
@dir_option
def mirror_stop(lab_dir: Path) -> None:
    """Stop MirrorMaker 2."""
    stopped = Lab(lab_dir).mirror_stop()
    click.echo("MirrorMaker 2 stopped" if stopped else "MirrorMaker 2 was not running")


@mirror.command("restart")
@dir_option
def mirror_restart(lab_dir: Path) -> None:
    """Restart MirrorMaker 2 (picks up a changed mm2.properties)."""
    Lab(lab_dir).mirror_restart()
    click.echo("MirrorMaker 2 restarted")


@mirror.command("status")
@dir_option
@click.option("--json", "as_json", is_flag=True, help='Print {"running": ..., "pid": ...}.')
def mirror_status(lab_dir: Path, as_json: bool) -> None:
    """Whether MirrorMaker 2 runs: exit 0 when it does, 3 when it does not (as systemctl
    is-active answers); the lab config's mirror.status_command."""
    pid = Lab(lab_dir).mirror_pid()
    if as_json:
        echo_json({"running": pid is not None, "pid": pid})
    elif pid is None:
        click.echo("MirrorMaker 2 is not running")
    else:
        click.echo(f"MirrorMaker 2 is running (pid {pid})")
    if pid is None:
        raise click.exceptions.Exit(NOT_RUNNING)


@mirror.command("start")
@dir_option
def mirror_start(lab_dir: Path) -> None:
    """Start MirrorMaker 2 again."""
    started = Lab(lab_dir).mirror_start()
    click.echo("MirrorMaker 2 started" if started else "MirrorMaker 2 was already running")


@lab.command()
@click.option(
    "--kafka-version", default=None, help="Kafka version (default: newest 4.x that resolves)."
)
def fetch(kafka_version: str | None) -> None:
    """Fetch the Kafka jars into the cache (or find them in KAFKA_HOME) and print where."""
    from dr.kafka.jars import kafka_jars

    jars = kafka_jars(kafka_version)
    click.echo(f"Kafka {jars.version}: {jars.libs}")


def lab_json(the_lab: Lab, state: LabState) -> dict[str, Any]:
    """The lab as the --json output documents it."""
    clusters = {
        name: {
            "bootstrap_servers": rec.bootstrap_servers,
            "cluster_id": rec.cluster_id,
            "nodes": [
                {
                    "id": n.id,
                    "pid": n.pid if processes.is_running(n.pid, n.spec(name).marker) else None,
                    "port": n.port,
                    "controller_port": n.controller_port,
                    "roles": n.roles,
                    "log_dir": str(n.spec(name).log_dir),
                }
                for n in rec.nodes
            ],
        }
        for name, rec in state.clusters.items()
    }
    mirror_info = None
    if state.mirror:
        running = processes.is_running(state.mirror.pid, state.mirror.config)
        mirror_info = {
            "pid": state.mirror.pid if running else None,
            "running": running,
            "config": state.mirror.config,
            "source": state.mirror.source,
            "target": state.mirror.target,
        }
    return {
        "config": str(the_lab.config_path),
        "kafka_version": state.kafka_version,
        "security": state.security,
        "clusters": clusters,
        "mirror": mirror_info,
    }


def _print_lab(the_lab: Lab, state: LabState) -> None:
    info = lab_json(the_lab, state)
    click.echo(f"lab {the_lab.dir} (Kafka {state.kafka_version})")
    for name, cluster in info["clusters"].items():
        click.echo(f"  {name}: {cluster['bootstrap_servers']} (cluster id {cluster['cluster_id']})")
        for node in cluster["nodes"]:
            where = f"pid {node['pid']}" if node["pid"] else "stopped"
            click.echo(f"    node {node['id']}: port {node['port']}, {where}, {node['log_dir']}")
    if info["mirror"]:
        m = info["mirror"]
        click.echo(
            f"  mirror {m['source']}->{m['target']}: "
            + (f"pid {m['pid']}" if m["running"] else "stopped")
        )


_register_demo()
