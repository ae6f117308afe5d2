"""Scenario backup-restore: each job's latest backup restored into scratch topics and proved.

For each job: the backup's RPO now against its objective; the restore into scratch topics
(``__kafka-dr-drill-<id>.<topic>``, on the drill's target cluster), timed from the segment
check to the last group offset — the backup's RTO; then the proofs (restore_proof):

- every partition holds exactly the manifest's record count, and the records' digests, in
  order, equal those of the backup's segments (so the restored data IS the backup);
- a sample of records equals the source cluster's records at the same offsets, where the
  source still has them (so the backup IS what the cluster held);
- each restored group offset points at the same record the group's commit points at on the
  source (so consumers would resume where they were).

The scratch topics and groups are deleted by the runner afterwards, whatever happened.
"""

from __future__ import annotations

import time
from typing import Any

from dr.backup.catalog import Manifest
from dr.backup.lookup import find_backup, load_metadata
from dr.backup.restore import (
    RestoreError,
    Written,
    check_backup,
    create_missing_topics,
    plan_restore,
    write_records,
)
from dr.backup.restore_plan import RestorePlan
from dr.config.drills import BackupRestoreScenario
from dr.drill.context import DrillContext, now
from dr.drill.model import BackupRef, Objective, Throughput
from dr.drill.restore_proof import prove_restore
from dr.drill.scratch import scratch_name
from dr.errors import DrError
from dr.kafka import groups as kgroups
from dr.kafka.client import admin_client
from dr.objectives.rpo import measure_backup
from dr.storage import ObjectStore

SCENARIO = "backup-restore"


def run_backup_restore(ctx: DrillContext, scenario: BackupRestoreScenario) -> None:
    """Drill each job of the scenario in turn; one job that cannot be drilled is recorded as
    an error check and the next one is drilled."""
    for job in scenario.jobs:
        ctx.check_cancelled()
        started = now()
        try:
            with ctx.recorder.step(SCENARIO, f"job {job}"):
                _drill_job(ctx, scenario, job)
        except DrError as exc:
            if ctx.cancel.is_set():
                raise
            ctx.recorder.check(SCENARIO, "job", job, "error", str(exc), started=started)


def _drill_job(ctx: DrillContext, scenario: BackupRestoreScenario, job: str) -> None:
    settings, rec = ctx.settings, ctx.recorder
    source = settings.backups[job].cluster
    target = scenario.target_cluster or source
    ctx.cluster_ref(source)
    ctx.cluster_ref(target)
    _backup_rpo(ctx, job)
    started = now()
    store, manifest = find_backup(settings, "latest", job)
    metadata = load_metadata(store, manifest)
    rec.backups.append(
        BackupRef(
            job=job,
            backup_id=manifest.backup_id,
            manifest_sha256=manifest.sha256,
            records=manifest.total_records,
            bytes=manifest.total_bytes,
            finished_at=manifest.finished_at,
        )
    )
    rec.check(
        SCENARIO,
        "latest_backup",
        job,
        "warning" if manifest.partial else "passed",
        f"latest backup {manifest.backup_id} ({manifest.total_records} records, "
        f"finished {manifest.finished_at})"
        + (
            f"; PARTIAL: {len(manifest.missing_partitions)} partitions missing"
            if manifest.partial
            else ""
        ),
        started=started,
        evidence={"backup_id": manifest.backup_id, "manifest_sha256": manifest.sha256},
    )
    plan = _plan(ctx, scenario, job, manifest, metadata, target)
    if plan is None:
        return
    restored = _restore(ctx, job, store, manifest, metadata, plan)
    if restored is None:
        return
    written, seconds, scratch_groups = restored
    with rec.step(SCENARIO, f"prove {job}"):
        payload_bytes = prove_restore(
            ctx,
            job=job,
            store=store,
            manifest=manifest,
            metadata=metadata,
            plan=plan,
            written=written,
            scratch_groups=scratch_groups,
            sample_records=scenario.sample_records,
        )
    rec.throughput.append(
        Throughput(job, manifest.backup_id, written.records, payload_bytes, seconds)
    )


def _backup_rpo(ctx: DrillContext, job: str) -> None:
    """The job's RPO now: the age of the oldest record on the cluster the store lacks."""
    try:
        rpo = measure_backup(ctx.settings, job, now=time.time())
        measured, why = rpo.rpo_seconds, rpo.unmeasured
    except DrError as exc:
        measured, why = None, str(exc)
    ctx.recorder.objective(
        Objective(
            scenario=SCENARIO,
            kind="rpo",
            subject=f"job {job}",
            target_seconds=ctx.settings.job_objectives(job).rpo_seconds,
            measured_seconds=measured,
            unmeasured=None if measured is not None else (why or "not measured"),
            how="age of the oldest record on the cluster that no backup holds yet",
        )
    )


def _plan(
    ctx: DrillContext,
    scenario: BackupRestoreScenario,
    job: str,
    manifest: Manifest,
    metadata: dict[str, Any],
    target: str,
) -> RestorePlan | None:
    started = now()
    try:
        renames = {t: scratch_name(ctx.drill_id, t) for t in manifest.topics}
    except ValueError as exc:
        raise RestoreError(str(exc)) from None
    plan = plan_restore(
        ctx.settings,
        manifest,
        metadata,
        to=target,
        state=ctx.state,
        renames=renames,
        groups=scenario.groups,
    )
    ok = not plan.problems
    ctx.recorder.check(
        SCENARIO,
        "restore_plan",
        job,
        ok,
        (
            f"{len(plan.topics)} topics, {len(plan.partitions())} partitions and "
            f"{len(plan.groups)} groups to restore onto '{target}' as scratch copies"
            if ok
            else f"the restore is blocked: {plan.problems[0]}"
        ),
        started=started,
        inputs={"backup_id": manifest.backup_id, "target_cluster": target},
        evidence={
            "topics": {t.source: t.target for t in plan.topics},
            "groups": list(plan.groups),
            "gaps": list(plan.gaps),
            "missing": list(plan.missing),
            "problems": list(plan.problems),
            "config_changes": {
                t.target: [str(c) for c in t.config_changes]
                for t in plan.topics
                if t.config_changes
            },
        },
    )
    return plan if ok else None


def _restore(
    ctx: DrillContext,
    job: str,
    store: ObjectStore,
    manifest: Manifest,
    metadata: dict[str, Any],
    plan: RestorePlan,
) -> tuple[Written, float, dict[str, str]] | None:
    """The timed restore (segment check, topics, records, group offsets under scratch
    names); None when it failed (recorded)."""
    rec = ctx.recorder
    started, clock = now(), time.monotonic()
    with rec.step(SCENARIO, f"restore {job}"):
        try:
            checked = check_backup(store, manifest, plan)
        except RestoreError as exc:
            rec.check(SCENARIO, "segments_verified", job, False, str(exc), started=started)
            _rto(ctx, job, None, f"the restore could not run: {exc}")
            return None
        rec.check(
            SCENARIO,
            "segments_verified",
            job,
            True,
            f"every segment of {len(plan.topics)} topics is present and matches its checksum",
            started=started,
            evidence={"segments": checked.segments, "records": checked.records},
        )
        write_started = now()
        try:
            created = create_missing_topics(ctx.settings, plan)
            written = write_records(
                ctx.settings,
                store,
                manifest,
                metadata,
                plan,
                state=ctx.state,
                created=created,
                final=True,
                cancel=ctx.cancel,
            )
            scratch_groups = _commit_scratch_groups(ctx, plan, written)
        except DrError as exc:
            ctx.check_cancelled()
            rec.check(SCENARIO, "restore", job, False, str(exc), started=write_started)
            _rto(ctx, job, None, f"the restore failed: {exc}")
            return None
    seconds = time.monotonic() - clock
    rec.check(
        SCENARIO,
        "restore",
        job,
        True,
        f"{written.records} records restored into {len(plan.topics)} scratch topics and "
        f"{len(scratch_groups)} groups in {seconds:.1f}s",
        started=write_started,
        evidence={
            "records": written.records,
            "seconds": round(seconds, 3),
            "topics": written.topics,
            "groups": scratch_groups,
            "group_skips": [
                f"{s.group} {s.topic}-{s.partition}: {s.reason}" for s in written.group_skips
            ],
        },
    )
    _rto(ctx, job, seconds, None)
    return written, seconds, scratch_groups


def _commit_scratch_groups(
    ctx: DrillContext, plan: RestorePlan, written: Written
) -> dict[str, str]:
    """Commit each restored group's offsets under its scratch name; returns group -> scratch
    group (the real groups are never touched)."""
    admin = admin_client(ctx.settings.clusters[plan.cluster])
    names: dict[str, str] = {}
    for group, by_topic in sorted(written.groups.items()):
        scratch = scratch_name(ctx.drill_id, group)
        offsets = {(t, p): o for t, parts in by_topic.items() for p, o in parts.items()}
        kgroups.alter_group_offsets(admin, scratch, offsets, admin.timeout_s)
        names[group] = scratch
    return names


def _rto(ctx: DrillContext, job: str, seconds: float | None, why: str | None) -> None:
    ctx.recorder.objective(
        Objective(
            scenario=SCENARIO,
            kind="rto",
            subject=f"job {job}",
            target_seconds=ctx.settings.job_objectives(job).rto_seconds,
            measured_seconds=None if seconds is None else round(seconds, 3),
            unmeasured=why,
            how="restore of the latest backup: segment check, topics, records, group offsets",
        )
    )
