"""The scenarios a drill can run, and which clusters each one touches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dr.config.drills import DrillSettings
from dr.config.schema import Settings
from dr.drill.backup_restore import run_backup_restore
from dr.drill.broker_loss import run_broker_loss
from dr.drill.context import DrillContext
from dr.drill.failover import run_failover
from dr.drill.mirror import run_mirror

Scenario = Callable[[DrillContext, Any], None]

SCENARIO_RUNNERS: dict[str, Scenario] = {
    "backup-restore": run_backup_restore,
    "mirror": run_mirror,
    "failover": run_failover,
    "broker-loss": run_broker_loss,
}


def drill_clusters(spec: DrillSettings, scenario: str) -> list[str]:
    """The clusters a destructive scenario disrupts (each must be drillable)."""
    if scenario == "failover" and spec.scenarios.failover is not None:
        source, _, target = spec.scenarios.failover.flow.partition("->")
        return [source, target]
    if scenario == "broker-loss" and spec.scenarios.broker_loss is not None:
        return [spec.scenarios.broker_loss.cluster]
    return []


def scratch_clusters(settings: Settings, spec: DrillSettings, chosen: list[str]) -> list[str]:
    """The clusters scratch topics are restored onto (cleaned before and after a drill)."""
    restore = spec.scenarios.backup_restore
    if "backup-restore" not in chosen or restore is None:
        return []
    names = {restore.target_cluster or settings.backups[job].cluster for job in restore.jobs}
    return sorted(names)
