"""Restore as a playbook: a backup's topics (and group offsets) put onto a cluster, step by step.

Steps, in order (each safe to run twice; a resumed run skips those journaled done):

1. verify           the chosen topics' segments are all there with their checksums (--deep:
                    every record decoded); skipped with --no-verify.
2. restore_acls     (--acls, --acls-all) the backed-up ACL bindings the target lacks
                    (dr.backup.restore_acls: which, under which names); first, so that a
                    refusal stops the restore with nothing else written.
3. create_topics    the target topics the cluster does not have, with the plan's configs.
4. write_records    every record not yet on the target (with ``workers`` > 1, by worker
                    processes in shares). The restore keeps its own journal
                    (``backup->cluster id``: where each partition began), so a step killed
                    half-way carries on exactly where the target ends, never writing a record
                    twice (dr.backup.restore.write_records).
5. restore_groups   (--groups) each group's offsets, mapped onto the restored records.

The run's pair is ``backup:<job> -> <target cluster>``: a restore excludes another restore of
the same job onto the same cluster, never a failover (a cluster name cannot hold ':').
The parameters are JSON and hold everything the steps need, so ``kafka-dr playbook resume``
builds the same restore again; the backup and the plan are read only when a step needs them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Any

from dr.backup.catalog import Manifest
from dr.backup.lookup import find_backup, load_metadata
from dr.backup.restore import (
    GroupSkip,
    RestorePlan,
    check_backup,
    create_missing_topics,
    mark_done,
    plan_restore,
    write_records,
)
from dr.backup.restore_acls import Acl, AclMode, apply_acls
from dr.backup.restore_configs import ConfigPolicy
from dr.backup.restore_groups import Mapped, commit_group_offsets
from dr.backup.restore_plan import JOURNAL, RestoreError
from dr.config.schema import Settings
from dr.kafka.client import admin_client
from dr.state import StateStore
from dr.steps import Outputs, Playbook, Step, StepContext
from dr.storage import ObjectStore

PLAYBOOK = "restore"
Progress = Callable[[int, int], None]


def restore_params(
    *,
    backup_id: str,
    job: str,
    to: str,
    topics: str | None,
    renames: Mapping[str, str],
    until: datetime | None,
    groups: bool,
    force: bool,
    configs: ConfigPolicy,
    verify: str,
    acls: AclMode | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    """The run's parameters, as JSON: a resolved backup id (never 'latest')."""
    return {
        "backup_id": backup_id,
        "job": job,
        "to": to,
        "topics": topics,
        "renames": dict(renames),
        "until": until.isoformat() if until else None,
        "groups": groups,
        "force": force,
        "configs": {
            "keep_source": configs.keep_source,
            "overrides": dict(configs.overrides),
            "drops": sorted(configs.drops),
        },
        "verify": verify,
        "acls": acls,
        "workers": workers,
    }


class RestoreBook:
    """The restore playbook and what its steps share: the backup and the plan (read once,
    when first needed), and the error a step failed with (for the CLI's one line)."""

    def __init__(
        self,
        settings: Settings,
        params: Mapping[str, Any],
        *,
        plan: RestorePlan | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.settings, self.params, self.progress = settings, dict(params), progress
        self._plan = plan
        self._backup: tuple[ObjectStore, Manifest, dict[str, Any]] | None = None
        self.state = StateStore(settings.state)  # type: ignore[arg-type]
        self.playbook = Playbook(
            name=PLAYBOOK,
            source=f"backup:{params['job']}",
            target=str(params["to"]),
            params=self.params,
            steps=self._steps(),
        )

    # -- what the steps read ------------------------------------------------------------------
    def backup(self) -> tuple[ObjectStore, Manifest, dict[str, Any]]:
        if self._backup is None:
            store, manifest = find_backup(
                self.settings, self.params["backup_id"], self.params["job"]
            )
            self._backup = (store, manifest, load_metadata(store, manifest))
        return self._backup

    @property
    def plan(self) -> RestorePlan:
        """The plan, as the CLI showed it or (on a resume) as it stands now."""
        if self._plan is None:
            _, manifest, metadata = self.backup()
            p = self.params
            self._plan = plan_restore(
                self.settings,
                manifest,
                metadata,
                to=p["to"],
                state=self.state,
                topics=p["topics"],
                renames=dict(p["renames"]),
                until=datetime.fromisoformat(p["until"]) if p["until"] else None,
                groups=bool(p["groups"]),
                force=bool(p["force"]),
                configs=ConfigPolicy(
                    keep_source=bool(p["configs"]["keep_source"]),
                    overrides=dict(p["configs"]["overrides"]),
                    drops=frozenset(p["configs"]["drops"]),
                ),
                acls=p.get("acls"),
            )
        return self._plan

    def _steps(self) -> tuple[Step, ...]:
        to, verify = self.params["to"], self.params["verify"]
        how = "every record decoded" if verify == "deep" else "checksums"
        steps = []
        if verify != "none":
            steps.append(
                Step(
                    "verify",
                    f"check the backup's segments ({how})",
                    self.verify,
                    touches="nothing (reads the backup)",
                )
            )
        if self.params.get("acls"):
            steps.append(
                Step(
                    "restore_acls",
                    f"create the backed-up ACL bindings {to} does not have",
                    self.restore_acls,
                    destructive=True,
                    touches=f"ACLs on {to}",
                )
            )
        steps += [
            Step(
                "create_topics",
                f"create the target topics {to} does not have",
                self.create_topics,
                check=self.topics_exist,
                destructive=True,
                touches=f"topics on {to}",
            ),
            Step(
                "write_records",
                f"write the backed-up records not yet on {to} (resumes where the target ends)",
                self.write_records,
                destructive=True,
                touches=f"records of the restored topics on {to}",
            ),
        ]
        if self.params["groups"]:
            steps.append(
                Step(
                    "restore_groups",
                    f"commit the consumer groups' offsets, mapped, on {to}",
                    self.restore_groups,
                    destructive=True,
                    touches=f"consumer group offsets on {to}",
                )
            )
        return tuple(steps)

    # -- the steps ------------------------------------------------------------------------------
    def verify(self, _ctx: StepContext) -> Outputs:
        plan = self.plan
        if plan.problems:
            raise RestoreError(f"restore refused: {plan.problems[0]}")
        store, manifest, _ = self.backup()
        checked = check_backup(store, manifest, plan, deep=self.params["verify"] == "deep")
        return {"segments": checked.segments, "records": checked.records, "deep": checked.deep}

    def topics_exist(self, _ctx: StepContext) -> bool:
        return all(t.exists for t in self.plan.topics)

    def create_topics(self, _ctx: StepContext) -> Outputs:
        return {"created": create_missing_topics(self.settings, self.plan)}

    def restore_acls(self, _ctx: StepContext) -> Outputs:
        plan = self.plan
        if plan.acls is None:
            return {"created": [], "existed": []}
        done = apply_acls(self.settings.clusters[plan.cluster], plan.acls, to=plan.cluster)
        return {
            "created": [a.as_dict() for a in done.created],
            "existed": [a.as_dict() for a in done.existed],
        }

    def write_records(self, ctx: StepContext) -> Outputs:
        store, manifest, metadata = self.backup()
        self._take_over(ctx)
        created = ctx.outputs.get("create_topics", {}).get("created", [])
        written = write_records(
            self.settings,
            store,
            manifest,
            metadata,
            self.plan,
            state=self.state,
            created=created,
            run_id=ctx.run_id,
            final=not self.params["groups"],
            progress=self.progress,
            workers=int(self.params.get("workers", 1)),  # runs journaled before --workers: 1
        )
        return {
            "records": written.records,
            "already_present": written.already_present,
            "resumed": written.resumed,
            "topics": written.topics,
            "bases": written.bases,
            "groups": written.groups,
            "group_skips": [asdict(s) for s in written.group_skips],
            "complete_partitions": self.plan.partitions(),
        }

    def _take_over(self, ctx: StepContext) -> None:
        """Another run wrote the restore's journal: carry on its interrupted restore (that run
        is then superseded), but never redo one it completed since this run stopped."""
        journal = self.state.load_journal(JOURNAL, self.plan.journal_key)
        other = str(journal.get("run_id") or "") if journal else ""
        if journal is None or not other or other == ctx.run_id:
            return
        if journal.get("status") == "running":
            run = self.state.playbook_run(other)
            if run is not None and run.status != "completed":
                self.state.set_playbook_status(
                    other, "failed", error=f"superseded by run {ctx.run_id}, which carried it on"
                )
            return
        attempts = [
            e
            for e in self.state.playbook_events(ctx.run_id)
            if e.step == "write_records" and e.event == "step_started"
        ]
        if len(attempts) > 1:  # this run had started writing: another one finished the restore
            raise RestoreError(
                f"run {other} completed this restore of {self.plan.backup_id} onto "
                f"'{self.plan.cluster}' since this run stopped: nothing left to resume "
                f"(see 'kafka-dr playbook show {other}')"
            )

    def restore_groups(self, ctx: StepContext) -> Outputs:
        written = ctx.output("write_records")
        admin = admin_client(self.settings.clusters[self.plan.cluster])
        committed = commit_group_offsets(admin, groups_of(written))
        mark_done(self.state, self.plan, dict(written["bases"]), ctx.run_id)
        return {"groups": committed}


def groups_of(outputs: Outputs) -> Mapped:
    """The group offsets of a step's outputs, partitions as numbers again (JSON made them
    strings)."""
    return {
        group: {t: {int(p): int(o) for p, o in parts.items()} for t, parts in by_topic.items()}
        for group, by_topic in dict(outputs.get("groups", {})).items()
    }


def acls_of(outputs: Outputs, key: str) -> tuple[Acl, ...]:
    """The ACL bindings a restore_acls step journaled as ``key`` ('created', 'existed')."""
    return tuple(Acl.of(b) for b in outputs.get(key, []))


def group_skips_of(outputs: Outputs) -> tuple[GroupSkip, ...]:
    return tuple(GroupSkip(**s) for s in outputs.get("group_skips", []))
