"""Which scenarios a drill runs, and what refuses it before anything is touched: an unknown
drill or scenario, what it names that the config lacks, a destructive scenario without leave
or on a cluster not marked drillable."""

from __future__ import annotations

from collections.abc import Sequence

from dr.config.schema import Settings
from dr.drill.model import DESTRUCTIVE, SCENARIOS
from dr.drill.scenarios import drill_clusters
from dr.errors import DrError


class DrillRefused(DrError):
    """The drill cannot run as asked (unknown drill or scenario, destructive without leave)."""

    exit_code = 2


def drill_problems(settings: Settings, drill: str) -> list[str]:
    """What the drill names that the config does not have (a job, a flow, a cluster, a
    store), each with its key path. Checked when the drill runs, not when the config loads:
    a stale drill must not stop the backups and the playbooks of the same config."""
    spec = settings.drills[drill]
    flows = {f.name for f in settings.mirror.flows} if settings.mirror else set()
    at = f"drills.{drill}"
    problems: list[str] = []
    if spec.storage is not None and spec.storage not in settings.storage:
        problems.append(f"at '{at}.storage': no store named '{spec.storage}' in storage")
    restore = spec.scenarios.backup_restore
    if restore is not None:
        for i, job in enumerate(restore.jobs):
            if job not in settings.backups:
                problems.append(
                    f"at '{at}.scenarios.backup_restore.jobs[{i}]': no backup job named '{job}'"
                )
        target = restore.target_cluster
        if target is not None and target not in settings.clusters:
            problems.append(
                f"at '{at}.scenarios.backup_restore.target_cluster': no cluster named '{target}'"
            )
    named_flows = (
        [(f"mirror.flows[{i}]", f) for i, f in enumerate(spec.scenarios.mirror.flows)]
        if spec.scenarios.mirror
        else []
    )
    if spec.scenarios.failover is not None:
        named_flows.append(("failover.flow", spec.scenarios.failover.flow))
    for where, flow in named_flows:
        if flow not in flows:
            problems.append(f"at '{at}.scenarios.{where}': no mirror flow '{flow}'")
    loss = spec.scenarios.broker_loss
    if loss is not None and loss.cluster not in settings.clusters:
        problems.append(
            f"at '{at}.scenarios.broker_loss.cluster': no cluster named '{loss.cluster}'"
        )
    return problems


def chosen_scenarios(
    settings: Settings, drill: str, wanted: Sequence[str], *, destructive: bool
) -> list[str]:
    """The scenarios to run, in the documented order: those named, or every configured one
    (the destructive ones only with ``destructive``). Raises DrillRefused when the drill or a
    scenario is unknown or not configured, a named destructive one lacks --destructive, or a
    destructive one would disrupt a cluster not marked drillable."""
    if drill not in settings.drills:
        known = ", ".join(sorted(settings.drills)) or "none configured"
        raise DrillRefused(f"no drill named '{drill}' under drills (known: {known})")
    problems = drill_problems(settings, drill)
    if problems:
        raise DrillRefused(f"drill '{drill}' cannot run: {problems[0]}")
    configured = settings.drills[drill].scenarios.configured()
    for name in wanted:
        if name not in SCENARIOS:
            raise DrillRefused(f"--scenario '{name}' is not a scenario ({', '.join(SCENARIOS)})")
        if name not in configured:
            raise DrillRefused(
                f"scenario '{name}' is not configured under drills.{drill}.scenarios"
            )
    if wanted:
        chosen = [s for s in SCENARIOS if s in wanted]
    else:  # all configured ones; the destructive ones only when allowed
        chosen = [s for s in SCENARIOS if s in configured and (destructive or s not in DESTRUCTIVE)]
    if not chosen:
        raise DrillRefused(f"drill '{drill}' has only destructive scenarios: add --destructive")
    for name in chosen:
        if name not in DESTRUCTIVE:
            continue
        if not destructive:
            raise DrillRefused(
                f"scenario '{name}' is destructive: run it with --destructive (or pick the others "
                "with --scenario)"
            )
        for cluster in drill_clusters(settings.drills[drill], name):
            if not settings.clusters[cluster].drillable:
                raise DrillRefused(
                    f"scenario '{name}' would disrupt cluster '{cluster}', which is not marked "
                    f"drillable (clusters.{cluster}.drillable: true)"
                )
    return chosen
