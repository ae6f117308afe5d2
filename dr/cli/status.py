"""kafka-dr status: the health of each cluster, as a runbook's daily checklist."""

from __future__ import annotations

from typing import Any

import click

from dr.cli.common import AppContext, echo_json, pass_app
from dr.errors import UsageError
from dr.kafka.health import ClusterHealth, HealthReport, PartitionState, check_health
from dr.kafka.quorum import QuorumMember, QuorumStatus


@click.command()
@click.option("--cluster", "cluster_name", default=None, help="Check only this cluster.")
@click.option("--verbose", "-v", is_flag=True, help="List the partitions that need attention.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_app
def status(app: AppContext, cluster_name: str | None, verbose: bool, as_json: bool) -> None:
    """Health of each cluster. Exit 0 healthy, 1 degraded, 2 error (unreachable, bad config)."""
    settings = app.config().settings
    clusters = dict(settings.clusters)
    if cluster_name is not None:
        if cluster_name not in clusters:
            raise UsageError(
                f"no cluster named '{cluster_name}' in the config (it has: {', '.join(clusters)})"
            )
        clusters = {cluster_name: clusters[cluster_name]}
    report = check_health(clusters, tools=settings.tools)
    if as_json:
        echo_json(report_json(report, verbose=verbose))
    else:
        print_report(report, verbose=verbose)
    if report.any_unreachable:
        raise click.exceptions.Exit(2)
    if not report.healthy:
        raise click.exceptions.Exit(1)


def print_report(report: HealthReport, *, verbose: bool) -> None:
    """The report for people: one block per cluster."""
    for health in report.clusters:
        _print_cluster(health, verbose)


def report_json(report: HealthReport, *, verbose: bool = False) -> dict[str, Any]:
    """The documented --json form."""
    return {"clusters": {h.name: _cluster_json(h, verbose) for h in report.clusters}}


def _cluster_json(h: ClusterHealth, verbose: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "healthy": h.healthy,
        "reachable": h.reachable,
        "cluster_id": h.cluster_id,
        "brokers_expected": list(h.brokers_expected),
        "brokers_online": list(h.brokers_online),
        "brokers_missing": list(h.missing_brokers),
        "under_replicated_partitions": len(h.under_replicated),
        "under_min_isr_partitions": len(h.under_min_isr),
        "offline_partitions": len(h.offline),
        "quorum": _quorum_json(h.quorum),
        "problems": list(h.problems),
        "error": h.error,
    }
    if verbose:
        out["partitions"] = {
            "under_replicated": [_partition_json(p) for p in h.under_replicated],
            "under_min_isr": [_partition_json(p) for p in h.under_min_isr],
            "offline": [_partition_json(p) for p in h.offline],
        }
    return out


def _quorum_json(q: QuorumStatus | None) -> dict[str, Any] | None:
    if q is None:
        return None

    def member(m: QuorumMember) -> dict[str, Any]:
        return {
            "id": m.node_id,
            "role": m.role,
            "log_end_offset": m.log_end_offset,
            "lag": m.lag,
            "last_caught_up_age_seconds": m.last_caught_up_age_s,
        }

    return {
        "leader_id": q.leader_id,
        "high_watermark": q.high_watermark,
        "max_voter_lag": q.max_voter_lag,
        "voters": [member(v) for v in q.voters],
        "observers": [member(o) for o in q.observers],
    }


def _partition_json(p: PartitionState) -> dict[str, Any]:
    return {
        "topic": p.topic,
        "partition": p.partition,
        "leader": p.leader,
        "replicas": list(p.replicas),
        "isr": list(p.isr),
        "min_isr": p.min_isr,
    }


def _print_cluster(h: ClusterHealth, verbose: bool) -> None:
    if not h.reachable:
        click.secho(f"{h.name}: UNREACHABLE", fg="red", bold=True)
        click.echo(f"  {h.error}")
        return
    verdict = (
        click.style("HEALTHY", fg="green", bold=True)
        if h.healthy
        else click.style("DEGRADED", fg="yellow", bold=True)
    )
    click.echo(f"{h.name}: {verdict}  (cluster id {h.cluster_id})")
    expected = h.brokers_expected or h.brokers_online
    line = (
        f"  brokers      {len(h.brokers_online)}/{len(expected)} online: {_ids(h.brokers_online)}"
    )
    if h.missing_brokers:
        line += click.style(f"; missing: {_ids(h.missing_brokers)}", fg="red")
    click.echo(line)
    q = h.quorum
    if q is not None:
        voters = " ".join(
            f"{v.node_id}{'*' if v.role == 'leader' else ''}(lag {v.lag})" for v in q.voters
        )
        leader = q.leader_id if q.leader_id is not None else "NONE"
        click.echo(f"  quorum       leader {leader}, voters {voters}")
    click.echo(
        f"  partitions   under-replicated {len(h.under_replicated)}, "
        f"under-min-ISR {len(h.under_min_isr)}, offline {len(h.offline)}"
    )
    for problem in h.problems:
        click.secho(f"  ! {problem}", fg="yellow")
    if verbose:
        for label, parts in (
            ("offline", h.offline),
            ("under-min-ISR", h.under_min_isr),
            ("under-replicated", h.under_replicated),
        ):
            for p in parts:
                click.echo(
                    f"    {label:17} {p.topic}-{p.partition} leader {p.leader} "
                    f"replicas {_ids(p.replicas)} isr {_ids(p.isr)}"
                )


def _ids(ids: tuple[int, ...]) -> str:
    return ",".join(map(str, ids)) or "-"
