"""kafka-dr acls: the Kafka ACLs kafka-dr and MirrorMaker 2 need for the config."""

from __future__ import annotations

import click

from dr.cli.common import AppContext, echo_json, pass_app
from dr.config.schema import Settings
from dr.preflight.acl_plan import (
    ADMIN_CONFIG_PLACEHOLDER,
    AclPlan,
    admin_config,
    existing_names,
    plan_acls,
    plan_json,
)


@click.group()
def acls() -> None:
    """The Kafka ACLs kafka-dr and MirrorMaker 2 need."""


@acls.command()
@click.option("--cluster", default=None, help="Only this cluster (default: every cluster).")
@click.option(
    "--principal",
    default=None,
    metavar="User:NAME",
    help="kafka-dr's principal (default: User:<sasl.username> of clusters.C.client).",
)
@click.option(
    "--resolve",
    is_flag=True,
    help="Ask the clusters for the topics and groups a regex no Kafka pattern expresses "
    "matches now, and plan a LITERAL binding for each.",
)
@click.option(
    "--command-config",
    "command_config",
    default=None,
    metavar="FILE",
    help="Client settings of a principal allowed to create ACLs, given to every kafka-acls "
    f"command (default: {ADMIN_CONFIG_PLACEHOLDER}, to replace, for a cluster reached over "
    "TLS or SASL; none for a PLAINTEXT one).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@pass_app
def plan(
    app: AppContext,
    cluster: str | None,
    principal: str | None,
    resolve: bool,
    command_config: str | None,
    as_json: bool,
) -> None:
    """Print, per cluster and principal, the ACL bindings the configured backup jobs, restores,
    mirror flows, failovers and drills need, each with its reasons, as kafka-acls commands.
    Exit 0, or 2 on bad input (an unknown cluster, a principal that is not TYPE:NAME)."""
    settings = app.config().settings
    names = existing_names(settings) if resolve else None
    result = plan_acls(settings, cluster=cluster, principal=principal, names=names)
    if as_json:
        echo_json(plan_json(result, settings, command_config=command_config))
        return
    for line in plan_lines(result, settings, command_config=command_config):
        click.echo(line)


def plan_lines(
    plan: AclPlan, settings: Settings, *, command_config: str | None = None
) -> list[str]:
    """The plan for people: per cluster and principal, one kafka-acls command per binding with
    its reasons, '(on demand)' for bindings only commands run by hand need (each command with
    --command-config: see admin_config); then the regexes no binding expresses, and the
    notes."""
    lines: list[str] = []
    placeholder = False
    for cluster in plan.clusters:
        bootstrap = settings.clusters[cluster].bootstrap_servers
        admin = admin_config(settings.clusters[cluster], command_config)
        placeholder |= admin == ADMIN_CONFIG_PLACEHOLDER
        lines.append(f"# cluster {cluster} ({bootstrap})")
        here = [p for p in plan.principals if p.cluster == cluster]
        for principal in dict.fromkeys(p.principal for p in here):
            mine = [b for b in plan.on(cluster) if b.principal == principal]
            whose = "; ".join(f"{p.role}: {p.source}" for p in here if p.principal == principal)
            lines.append(f"## as {principal} ({whose}): {len(mine)} bindings")
            for b in mine:
                when = "" if b.critical else "(on demand) "
                command = b.command(bootstrap, admin)
                lines.append(f"{command}   # {when}{'; '.join(b.reasons)}")
        lines.append("")
    for u in plan.unexpressible:
        lines.append(f"WARNING: {u.warning}; needed by {'; '.join(u.reasons)}")
    for note in plan.notes:
        lines.append(f"note: {note}")
    if placeholder:
        lines.append(
            f"note: replace {ADMIN_CONFIG_PLACEHOLDER} with the client settings (Java names) of "
            "a principal allowed to create ACLs on that cluster, or give --command-config FILE"
        )
    return lines
