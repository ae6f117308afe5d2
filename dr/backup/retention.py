"""Retention: which backups to prune, and deleting only what no kept backup needs.

The catalog changes first (the pruned manifests are deleted), then the objects that only pruned
backups referenced. A prune that dies between the two leaves unreferenced objects behind, which
the next prune removes; it never leaves a kept backup without an object it needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from dr.backup.catalog import Manifest, delete_manifest, list_manifests
from dr.config.schema import Retention
from dr.log import get_logger
from dr.storage import ObjectStore

log = get_logger(__name__)


@dataclass(frozen=True)
class PrunePlan:
    job: str
    keep: tuple[str, ...]
    prune: tuple[str, ...]
    objects: tuple[str, ...]  # to delete: referenced only by pruned backups, or by none

    @property
    def empty(self) -> bool:
        return not self.prune and not self.objects


def choose_pruned(manifests: list[Manifest], retention: Retention, now: datetime) -> list[Manifest]:
    """The backups retention allows to prune: those that every rule set (keep_last,
    keep_days) lets go; the newest `min_keep` are always kept, and with no rule set none is
    pruned."""
    newest_first = sorted(manifests, key=lambda m: (m.started_at, m.backup_id), reverse=True)
    pruned = []
    for index, manifest in enumerate(newest_first):
        if index < retention.min_keep:
            continue
        rules: list[bool] = []
        if retention.keep_last is not None:
            rules.append(index >= retention.keep_last)
        if retention.keep_days is not None:
            age_days = (now - datetime.fromisoformat(manifest.started_at)).total_seconds() / 86400
            rules.append(age_days > retention.keep_days)
        if rules and all(rules):
            pruned.append(manifest)
    return pruned


def plan_prune(
    store: ObjectStore, job: str, retention: Retention, now: datetime | None = None
) -> PrunePlan:
    """What a prune would delete (reads the catalog; deletes nothing)."""
    manifests = list_manifests(store, job)
    pruned = choose_pruned(manifests, retention, now or datetime.now(UTC))
    pruned_ids = {m.backup_id for m in pruned}
    kept = [m for m in manifests if m.backup_id not in pruned_ids]
    needed: set[str] = set().union(*(m.referenced_keys() for m in kept)) if kept else set()
    candidates = set().union(*(m.referenced_keys() for m in pruned)) if pruned else set()
    if kept:
        # Objects no manifest references (left by a crashed prune or run) older than the
        # newest kept backup cannot belong to a run still in progress.
        newest = max(m.started_at for m in kept)
        for prefix in (f"{job}/data/", f"{job}/metadata/"):
            for info in store.list(prefix):
                if info.key not in needed and info.modified.isoformat() < newest:
                    candidates.add(info.key)
    return PrunePlan(
        job=job,
        keep=tuple(m.backup_id for m in kept),
        prune=tuple(sorted(pruned_ids)),
        objects=tuple(sorted(candidates - needed)),
    )


def execute_prune(store: ObjectStore, plan: PrunePlan) -> None:
    """Delete the pruned manifests first, then the objects only they referenced."""
    for manifest in list_manifests(store, plan.job):
        if manifest.backup_id in plan.prune:
            delete_manifest(store, manifest)
            log.info("backup_pruned", job=plan.job, backup_id=manifest.backup_id)
    store.delete_many(plan.objects)
    log.info("prune_done", job=plan.job, backups=len(plan.prune), objects=len(plan.objects))
