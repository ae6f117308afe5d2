"""Retention: which backups to prune, and deleting only what no kept backup needs.

The catalog changes first (the pruned manifests are deleted), then the objects that only pruned
backups referenced. A prune that dies between the two leaves unreferenced objects behind, which
the next prune removes; it never leaves a kept backup without an object it needs.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from dr.backup.catalog import Manifest, delete_manifest, manifest_key, scan_catalog
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
    problems: tuple[str, ...] = ()  # unreadable manifests: kept, and data objects are kept too

    @property
    def empty(self) -> bool:
        return not self.prune and not self.objects


def choose_pruned(manifests: list[Manifest], retention: Retention, now: datetime) -> list[Manifest]:
    """The backups retention allows to prune: those that every rule set (keep_last,
    keep_days) lets go; the newest `min_keep` are always kept, and with no rule set none is
    pruned."""
    # A backup is never older than the ones before it in the catalog (by sequence), whatever
    # the clock of the host that took it said: its age is capped by theirs.
    ages: list[float] = []
    for manifest in manifests:
        own = (now - datetime.fromisoformat(manifest.started_at)).total_seconds() / 86400
        ages.append(min([own, *ages[-1:]]))
    newest_first = list(reversed(manifests))
    pruned = []
    for index, manifest in enumerate(newest_first):
        age_days = ages[len(manifests) - 1 - index]
        if index < retention.min_keep:
            continue
        rules: list[bool] = []
        if retention.keep_last is not None:
            rules.append(index >= retention.keep_last)
        if retention.keep_days is not None:
            rules.append(age_days > retention.keep_days)
        if rules and all(rules):
            pruned.append(manifest)
    return pruned


def plan_prune(
    store: ObjectStore,
    job: str,
    retention: Retention,
    now: datetime | None = None,
    *,
    only: Collection[str] | None = None,
) -> PrunePlan:
    """What a prune would delete (reads the catalog; deletes nothing).

    Call it holding the job's lock, so that no run is writing objects meanwhile: every object
    no committed manifest references is then a leftover of a killed run or prune. While a
    manifest is unreadable, its objects are unknown: only manifests and metadata are pruned,
    data objects wait for a prune with a clean catalog (the problem is reported). ``only``:
    prune none but these backups (those a confirmed plan named), even if more expired since.
    """
    manifests, unreadable = scan_catalog(store, job)
    pruned = choose_pruned(manifests, retention, now or datetime.now(UTC))
    if only is not None:
        pruned = [m for m in pruned if m.backup_id in only]
    pruned_ids = {m.backup_id for m in pruned}
    kept = [m for m in manifests if m.backup_id not in pruned_ids]
    needed: set[str] = set().union(*(m.referenced_keys() for m in kept)) if kept else set()
    needed |= {manifest_key(job, m.backup_id) for m in kept}
    needed |= {manifest_key(job, p.backup_id) for p in unreadable}
    candidates = set().union(*(m.referenced_keys() for m in pruned)) if pruned else set()
    if manifests:
        for prefix in (f"{job}/data/", f"{job}/metadata/", f"{job}/manifests/"):
            candidates |= {i.key for i in store.list(prefix) if i.key not in needed}
    candidates -= {manifest_key(job, m.backup_id) for m in pruned}  # deleted with their entry
    if unreadable:
        # What an unreadable backup references is unknown: delete only the pruned backups'
        # own metadata, sweep nothing.
        candidates = {m.metadata_key for m in pruned}
    return PrunePlan(
        job=job,
        keep=tuple(m.backup_id for m in kept),
        prune=tuple(sorted(pruned_ids)),
        objects=tuple(sorted(candidates - needed)),
        problems=tuple(str(p) for p in unreadable),
    )


def execute_prune(store: ObjectStore, plan: PrunePlan) -> None:
    """Delete the pruned manifests first, then the objects only they referenced, and what
    killed writes left under the job (call it holding the job's lock: none is under way)."""
    store.clean_temporaries(older_than_s=0, under=f"{plan.job}/")
    manifests, _ = scan_catalog(store, plan.job)
    for manifest in manifests:
        if manifest.backup_id in plan.prune:
            delete_manifest(store, manifest)
            log.info("backup_pruned", job=plan.job, backup_id=manifest.backup_id)
    store.delete_many(plan.objects)
    log.info("prune_done", job=plan.job, backups=len(plan.prune), objects=len(plan.objects))
