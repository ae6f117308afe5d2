"""`backup prune` as a playbook: what retention keeps (and why) and deletes, then the deletion.

Steps:

1. plan     read-only: each backup kept, with the rule that keeps it, and those to delete.
2. delete   under the job's lock (no backup commits meanwhile): the retention plan made again,
            restricted to the backups the operator confirmed (``params["prune"]``), then
            carried out: manifests first, then the objects no kept backup needs. A run killed
            half-way leaves unreferenced objects only, which the resumed step (or any later
            prune) deletes; a backup that expired after the confirmation is never deleted.

The run's pair is ``backup:<job> -> store:<store>``: one prune of a job at a time; it never
meets a failover or a restore onto a cluster (a cluster name cannot hold ':').
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from dr.backup.catalog import Manifest, scan_catalog
from dr.backup.lock import JobLock
from dr.backup.lookup import job_store
from dr.backup.retention import PrunePlan, execute_prune, plan_prune
from dr.config.schema import Retention, Settings
from dr.steps import Outputs, Playbook, Step, StepContext

PLAYBOOK = "prune"


class PruneBook:
    """The prune playbook of one job, over the backups a confirmed plan named."""

    def __init__(self, settings: Settings, params: dict[str, Any]) -> None:
        self.settings, self.params = settings, params
        self.job: str = params["job"]
        self.confirmed: list[str] = list(params["prune"])
        job = settings.backups.get(self.job)  # a job since removed: its runs still show
        store_name = job.storage if job is not None else "?"
        self.playbook = Playbook(
            name=PLAYBOOK,
            source=f"backup:{self.job}",
            target=f"store:{store_name}",
            params=params,
            steps=(
                Step(
                    "plan",
                    f"decide which backups of job {self.job} retention keeps, and why",
                    self.plan,
                    touches="nothing (reads the catalog)",
                ),
                Step(
                    "delete",
                    f"delete {len(self.confirmed)} expired backups, then the objects no kept "
                    "backup needs",
                    self.delete,
                    check=self.deleted,
                    destructive=True,
                    touches=f"objects of job {self.job} in store '{store_name}'",
                ),
            ),
        )

    def _plan(self) -> PrunePlan:
        store = job_store(self.settings, self.job)
        return plan_prune(store, self.job, self.retention, only=self.confirmed)

    @property
    def retention(self) -> Retention:
        return self.settings.backups[self.job].retention

    def plan(self, _ctx: StepContext) -> Outputs:
        store = job_store(self.settings, self.job)
        manifests, unreadable = scan_catalog(store, self.job)
        planned = self._plan()
        reasons = kept_because(manifests, self.retention, datetime.now(UTC), self.confirmed)
        return {
            "keep": [{"backup_id": b, "reason": reasons.get(b, "kept")} for b in planned.keep],
            "prune": list(planned.prune),
            "objects": len(planned.objects),
            "problems": [str(p) for p in unreadable],
        }

    def deleted(self, _ctx: StepContext) -> bool:
        return self._plan().empty

    def delete(self, _ctx: StepContext) -> Outputs:
        store = job_store(self.settings, self.job)
        with JobLock(self.settings, self.job, store, what="prune"):
            planned = self._plan()
            execute_prune(store, planned)
        return {"deleted": list(planned.prune), "objects": len(planned.objects)}


def prune_params(job: str, prune: Sequence[str]) -> dict[str, Any]:
    """The run's parameters (JSON): the job and the backups the operator confirmed."""
    return {"job": job, "prune": list(prune)}


def kept_because(
    manifests: list[Manifest], retention: Retention, now: datetime, confirmed: Sequence[str]
) -> dict[str, str]:
    """Why each backup retention does not delete is kept, in the user's words (the rules of
    dr.backup.retention.choose_pruned, newest first)."""
    out: dict[str, str] = {}
    newest_first = list(reversed(manifests))
    for index, manifest in enumerate(newest_first):
        age_days = (now - datetime.fromisoformat(manifest.started_at)).total_seconds() / 86400
        if index < retention.min_keep:
            out[manifest.backup_id] = f"one of the newest {retention.min_keep} (min_keep)"
        elif retention.keep_last is None and retention.keep_days is None:
            out[manifest.backup_id] = "no retention rule set"
        elif retention.keep_last is not None and index < retention.keep_last:
            out[manifest.backup_id] = f"one of the newest {retention.keep_last} (keep_last)"
        elif retention.keep_days is not None and age_days <= retention.keep_days:
            out[manifest.backup_id] = f"younger than {retention.keep_days:g} days (keep_days)"
        elif manifest.backup_id not in confirmed:
            out[manifest.backup_id] = "expired after the plan was confirmed"
    return out
