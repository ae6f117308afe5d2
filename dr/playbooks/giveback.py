"""Clients return to the cluster they left: a cutover's rollback, or a failback after a
failover. Both are planned moves over the flow that replicated ORIGINAL -> REPLICA, run in the
other direction, and both start from where the earlier run stopped that flow (the replica ends
it journaled): what the replicas hold beyond those offsets was written there by clients.

Steps, in order (each safe to run twice; a resumed run skips those journaled done):

1. assess            both clusters answer; the earlier run is found in the state store and the
                     cluster it moved clients to is the one it was (cluster id).
2. find_divergence   (failback) the records the original cluster holds that never reached the
                     replicas before the failover: per partition, counted, with times.
3. archive_divergence (failback) those records, copied into the backup store as a backup of
                     job ``divergence-RUN_ID``: restorable, never discarded.
4. stop_producers    the operator's hooks stop the producers on the replica cluster; the
                     write-unavailability window starts here.
5. wait_quiet        no end offset of the replica topics moves for ``quiet_s``.
6. plan_copy         where each partition's copy starts and where each original partition ends
                     now (after any divergence): journaled before anything is written.
7. copy_back         what clients wrote on the replicas goes, in order, to the original topic
                     names on the original cluster (default policy: ``primary.orders`` ->
                     ``orders``; identity: ``orders`` -> ``orders``).
8. verify_copy       each copied range compared record by record with what it was copied from.
9. commit_offsets    every group's commits on the replica cluster moved to the original
                     cluster record by record; a group with members there is reported, never
                     overwritten.
10. switch_clients   the operator's hooks move the clients back; the window ends here.
11. restore_flow     the original flow starts again from the original cluster's end (what was
                     copied back is not copied a second time).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from dr.config.schema import MirrorFlow, Settings
from dr.errors import DrError, UsageError
from dr.log import get_logger
from dr.mirror.offsets import flow_for
from dr.mirror.topics import group_excluded
from dr.playbooks import planned, replication
from dr.playbooks.copyback import CopySpan, copy_spans, plan_copy
from dr.playbooks.cutover import (
    cluster_ids,
    flow_syncs,
    log_starts,
    playbook_settings,
    same_clusters,
)
from dr.playbooks.divergence import find_divergence
from dr.playbooks.divergence_archive import archive_divergence
from dr.playbooks.history import state_of, undone_by
from dr.playbooks.positions import (
    Anchor,
    Pairing,
    PairingError,
    Side,
    anchor_before,
    copy_isolation,
    pair_sides,
)
from dr.playbooks.replication import parse_tp, tp_key
from dr.state import StateStore
from dr.steps import Playbook, Step, StepContext, summarise

log = get_logger(__name__)
TP = tuple[str, int]


def rollback_playbook(settings: Settings, state: StateStore, cutover_run: str) -> Playbook:
    """Undo a completed cutover: its clients go back to the cluster they came from."""
    run = state.playbook_run(cutover_run)
    if run is None or run.playbook != "cutover":
        raise UsageError(
            f"no cutover run '{cutover_run}' in the state store (kafka-dr playbook list)"
        )
    source, target = run.pair.split("->")
    params = {"cutover_run": cutover_run, "from": target, "to": source, "groups": None}
    return _build(settings, "rollback", flow_for(settings, source, target), params)


def failback_playbook(
    settings: Settings,
    state: StateStore,
    *,
    source: str,
    target: str,
    groups: str | None = None,
    failover_run: str | None = None,
    archive_storage: str | None = None,
) -> Playbook:
    """Clients return from ``source`` (where a failover moved them) to ``target``, the
    original cluster; the failover is the newest completed one target -> source."""
    flow = flow_for(settings, target, source)
    planned.check_pattern(groups)
    if failover_run is None:
        runs = [
            r
            for r in state.playbook_runs(limit=500)
            if r.playbook == "failover" and r.pair == flow.name and r.status == "completed"
        ]
        if not runs:
            raise UsageError(
                f"no completed failover {flow.name} in the state store: nothing to fail back "
                "(a planned move back is 'kafka-dr cutover')"
            )
        failover_run = runs[0].run_id
    storage = archive_storage or _archive_storage(settings, target)
    params = {
        "failover_run": failover_run,
        "from": source,
        "to": target,
        "groups": groups,
        "archive_storage": storage,
    }
    return _build(settings, "failback", flow, params)


def _archive_storage(settings: Settings, cluster: str) -> str:
    chosen = playbook_settings(settings, "failback").archive_storage
    if chosen is not None:
        if chosen not in settings.storage:
            raise UsageError(
                f"playbooks.failback.archive_storage: no storage named '{chosen}' "
                f"(storage: {', '.join(settings.storage) or 'none'})"
            )
        return chosen
    for job in settings.backups.values():
        if job.cluster == cluster:
            return job.storage
    if not settings.storage:
        raise UsageError(
            "a failback archives the records that never reached the replicas, and no storage "
            "is configured: add one (storage:) or set playbooks.failback.archive_storage"
        )
    return next(iter(settings.storage))


def _build(settings: Settings, name: str, flow: MirrorFlow, params: dict[str, Any]) -> Playbook:
    s = _Steps(settings, name, flow, params)
    back, to = flow.target, flow.source  # clients leave the replica cluster for the original
    steps = [
        Step("assess", "check both clusters answer and find where the replicas stopped",
             s.assess, touches="nothing (reads both clusters and the state store)"),
    ]  # fmt: skip
    if name == "failback":
        steps += [
            Step("find_divergence", f"find the records on {to} that never reached {back}",
                 s.find_divergence, touches="nothing (reads both clusters)"),
            Step("archive_divergence", "copy them into the backup store",
                 s.archive_divergence,
                 touches=f"storage '{params['archive_storage']}' (a new backup)"),
        ]  # fmt: skip
    steps += [
        Step("stop_producers", f"run the hooks that stop the producers of {back}",
             s.stop_producers, destructive=True, stops_writes=True,
             touches="whatever the stop_producers hooks change"),
        Step("wait_quiet", f"wait until no replica topic of {back} is written to",
             s.wait_quiet, touches="nothing (reads end offsets)"),
        Step("plan_copy", "record where each copy starts and ends", s.plan_copy,
             touches="nothing (reads end offsets)"),
        Step("copy_back", f"append what clients wrote on {back} to the topics of {to}",
             s.copy_back, destructive=True, touches=f"the original topics on {to} (appended)"),
        Step("verify_copy", "compare every copied record with its original", s.verify_copy,
             touches="nothing (reads both clusters)"),
        Step("commit_offsets", f"commit every group's exact offsets on {to}",
             s.commit_offsets, destructive=True, touches=f"consumer group offsets on {to}"),
        Step("switch_clients", f"run the hooks that move clients to {to}", s.switch_clients,
             destructive=True, switches_clients=True,
             touches="whatever the switch_clients hooks change (DNS, discovery, configs)"),
        Step("restore_flow", f"start replication {flow.name} again from {to}'s end",
             s.restore_flow, destructive=True, touches=f"MirrorMaker's positions for {flow.name}"),
    ]  # fmt: skip
    return Playbook(
        name=name,
        source=back,
        target=to,
        params=params,
        steps=tuple(steps),
        hook_payload=s.hook_payload,
    )


class _Steps:
    def __init__(
        self, settings: Settings, name: str, flow: MirrorFlow, params: dict[str, Any]
    ) -> None:
        self.settings, self.name, self.flow, self.params = settings, name, flow, params
        self.original = settings.clusters[flow.source]  # clients return here
        self.replica = settings.clusters[flow.target]  # clients leave from here
        self.options = playbook_settings(settings, name)

    def _earlier(self, this_run: str) -> tuple[str, Mapping[str, Mapping[str, Any]]]:
        """The earlier run (the cutover or failover this run undoes) and its steps' outputs;
        raises DrError when it did not move the clients or another run undoes it."""
        run_id = self.params.get("cutover_run") or self.params["failover_run"]
        other = undone_by(self.settings, self.name, run_id, this_run)
        if other is not None and other[1] == "completed":
            raise DrError(f"run {run_id} was undone already, by {self.name} run {other[0]}")
        if other is not None:
            raise DrError(
                f"{self.name} run {other[0]} ({other[1]}) already undoes run {run_id}: carry "
                f"it on with 'kafka-dr playbook resume {other[0]}'"
            )
        result = summarise(run_id, state_of(self.settings))
        outputs = {s.name: s.outputs for s in result.steps if s.status in ("done", "already-done")}
        if "switch_clients" not in outputs:
            raise DrError(
                f"run {run_id} never switched the clients ({result.status}): there is nothing "
                f"to undo; finish it with 'kafka-dr playbook resume {run_id}' first"
            )
        return run_id, outputs

    def _topics(self, ctx: StepContext) -> dict[str, str]:
        """Original topic -> replica topic."""
        return dict(ctx.output("assess")["topics"])

    # -- assess -------------------------------------------------------------------------------
    def assess(self, ctx: StepContext) -> dict[str, Any]:
        run_id, earlier = self._earlier(ctx.run_id)
        ids = cluster_ids(self.settings, [self.flow.source, self.flow.target])
        if self.name == "rollback":
            expected = dict(earlier.get("preflight", {}).get("cluster_ids", {}))
            topics = dict(earlier.get("preflight", {}).get("topics", {}))
            starts = dict(earlier.get("stop_replication", {}).get("replica_ends", {}))
            bounds = dict(earlier.get("wait_quiet", {}).get("source_ends", {}))
        else:
            assessed = earlier.get("assess", {})
            expected = {self.flow.target: assessed.get("target_cluster_id")}
            if assessed.get("source_cluster_id"):
                expected[self.flow.source] = assessed["source_cluster_id"]
            topics = dict(assessed.get("topics", {}))
            starts = dict(earlier.get("stop_replication", {}).get("replica_ends", {}))
            bounds = {}
        if not starts or not topics:
            raise DrError(
                f"run {run_id} did not record where the replicas stopped: it cannot be undone "
                "by kafka-dr (was it completed by this version?)"
            )
        for name, found in ids.items():
            if expected.get(name) and expected[name] != found:
                raise DrError(
                    f"cluster '{name}' has cluster id {found}, not {expected[name]} as run "
                    f"{run_id} recorded: it is another cluster"
                )
        return {
            "earlier_run": run_id,
            "cluster_ids": ids,
            "topics": topics,
            "replica_starts": starts,
            "original_bounds": bounds,
        }

    # -- failback: divergence -----------------------------------------------------------------
    def find_divergence(self, ctx: StepContext) -> dict[str, Any]:
        found = find_divergence(
            self.settings,
            self.flow,
            self._topics(ctx),
            ctx.output("assess")["replica_starts"],
        )
        return {
            "records": found.records,
            "partitions": [
                {
                    "topic": p.topic,
                    "partition": p.partition,
                    "replica_topic": p.replica_topic,
                    "start_offset": p.start_offset,
                    "end_offset": p.end_offset,
                    "records": p.records,
                    "first_timestamp": _iso(p.first_timestamp),
                    "last_timestamp": _iso(p.last_timestamp),
                    "found_by": p.found_by,
                    "topic_id": p.topic_id,
                }
                for p in found.partitions
            ],
        }

    def archive_divergence(self, ctx: StepContext) -> dict[str, Any]:
        from dr.playbooks.divergence import DivergedPartition

        parts = [
            DivergedPartition(
                topic=p["topic"],
                partition=p["partition"],
                replica_topic=p["replica_topic"],
                start_offset=p["start_offset"],
                end_offset=p["end_offset"],
                records=p["records"],
                first_timestamp=_time(p["first_timestamp"]),
                last_timestamp=_time(p["last_timestamp"]),
                found_by=p["found_by"],
                topic_id=p.get("topic_id"),
            )
            for p in ctx.output("find_divergence")["partitions"]
        ]
        archive = archive_divergence(
            self.settings, self.params["archive_storage"], ctx.run_id, self.flow.source, parts
        )
        return {
            "backup_id": archive.backup_id,
            "job": archive.job,
            "storage": archive.storage,
            "prefix": archive.prefix,
            "records": archive.records,
            "bytes": archive.bytes,
            "first_timestamp": _iso(archive.first_timestamp),
            "last_timestamp": _iso(archive.last_timestamp),
            "restore": f"kafka-dr restore {archive.backup_id} --job {archive.job} --to CLUSTER",
        }

    # -- the move -----------------------------------------------------------------------------
    def stop_producers(self, ctx: StepContext) -> dict[str, Any]:
        return {"note": "the stop_producers hooks stop the producers; the window starts here"}

    def wait_quiet(self, ctx: StepContext) -> dict[str, Any]:
        ends = planned.wait_quiet(
            self.replica,
            self.flow.target,
            list(self._topics(ctx).values()),
            quiet_s=self.options.quiet_s,
            deadline_s=self.options.drain_timeout_s,
        )
        return {"replica_ends": ends}

    def plan_copy(self, ctx: StepContext) -> dict[str, Any]:
        same_clusters(self.settings, ctx.output("assess")["cluster_ids"])
        topics = self._topics(ctx)
        back = {r: o for o, r in topics.items()}  # replica topic -> original topic
        starts = ctx.output("assess")["replica_starts"]
        ends = ctx.output("wait_quiet")["replica_ends"]
        wanted = {
            parse_tp(k): start
            for k, start in starts.items()
            if parse_tp(k)[0] in back and ends.get(k, start) > start
        }
        spans = plan_copy(self.original, back, wanted, self.flow.source)
        return {"spans": [s.to_json() for s in spans]}

    def _spans(self, ctx: StepContext) -> list[CopySpan]:
        return [CopySpan.from_json(d) for d in ctx.output("plan_copy")["spans"]]

    def copy_back(self, ctx: StepContext) -> dict[str, Any]:
        same_clusters(self.settings, ctx.output("assess")["cluster_ids"])
        report = copy_spans(self.replica, self.original, self._spans(ctx))
        return {
            "records": sum(e["copied"] + e["already_copied"] for e in report.values()),
            "partitions": report,
        }

    def _copy_pairing(self, ctx: StepContext, span: CopySpan) -> Pairing:
        ends = ctx.output("wait_quiet")["replica_ends"]
        copied = ctx.output("copy_back")["partitions"][tp_key((span.source_topic, span.partition))]
        end_on_original = span.base + copied["copied"] + copied["already_copied"]
        return pair_sides(
            Side(self.replica, (span.source_topic, span.partition), ends[tp_key(
                (span.source_topic, span.partition))]),
            Side(self.original, (span.dest_topic, span.partition), end_on_original),
            Anchor(span.start, span.base, "copy start"),
            what=f"{span.source_topic}-{span.partition} and its copy "
            f"{span.dest_topic}-{span.partition}",
        )  # fmt: skip

    def verify_copy(self, ctx: StepContext) -> dict[str, Any]:
        out = {}
        for span in self._spans(ctx):
            try:
                pairing = self._copy_pairing(ctx, span)
            except PairingError as exc:
                raise DrError(f"verify_copy: {exc.message}; clients were not switched") from None
            out[tp_key((span.dest_topic, span.partition))] = {
                "records": pairing.records,
                "from": f"{span.source_topic}:{span.partition}@{span.start}",
                "at": span.base,
            }
        # Where the original topics end now, their writers still stopped: the flow starts
        # again from here (computed later, it would skip what clients write after the switch).
        ends = replication.partition_ends(self.settings, self.flow.source, list(self._topics(ctx)))
        return {
            "partitions": out,
            "records": sum(v["records"] for v in out.values()),
            "original_ends": ends,
        }

    def commit_offsets(self, ctx: StepContext) -> dict[str, Any]:
        same_clusters(self.settings, ctx.output("assess")["cluster_ids"])
        topics = self._topics(ctx)
        back = {r: o for o, r in topics.items()}
        ends = ctx.output("wait_quiet")["replica_ends"]
        starts = ctx.output("assess")["replica_starts"]
        commits, notes = planned.wait_groups_settled(
            self.replica,
            self.flow.target,
            set(back),
            ends,
            pattern=self.params.get("groups"),
            allowed=lambda g: group_excluded(g, self.flow, self.settings.mirror) is None,
            quiet_s=self.options.quiet_s,
            deadline_s=self.options.drain_timeout_s,
        )
        copies = {(s.source_topic, s.partition): s for s in self._spans(ctx)}
        pairings: dict[TP, Pairing] = {}
        older = self._older_pairings(ctx, commits, starts)
        wanted: dict[str, dict[TP, int]] = {}
        try:
            for group, by_tp in commits.items():
                moved = {}
                for rtp, o in by_tp.items():
                    otp = (back[rtp[0]], rtp[1])
                    start = starts.get(tp_key(rtp), 0)
                    if rtp in copies and o >= start:
                        if rtp not in pairings:
                            pairings[rtp] = self._copy_pairing(ctx, copies[rtp])
                        moved[otp] = pairings[rtp].copy_offset(o)
                    elif o >= start:  # nothing written there since: the original's end
                        moved[otp] = self._original_end(ctx, otp)
                    else:
                        moved[otp] = older[rtp].source_offset(o)
                wanted[group] = moved
        except PairingError as exc:
            raise DrError(f"commit_offsets: {exc.message}") from None
        committed, skipped, failed = planned.commit_on(self.original, self.flow.source, wanted)
        return {"committed": committed, "skipped": skipped, "failed": failed, "notes": notes}

    def _original_end(self, ctx: StepContext, otp: TP) -> int:
        """Where the original partition ends after the copy (a partition nothing was copied to
        ends where it ended when the copy was planned, or now)."""
        ends = replication.partition_ends(self.settings, self.flow.source, [otp[0]])
        return ends[tp_key(otp)]

    def _older_pairings(
        self, ctx: StepContext, commits: Mapping[str, Mapping[TP, int]], starts: Mapping[str, int]
    ) -> dict[TP, Pairing]:
        """For commits before the replica's start (records MirrorMaker had copied): the replica
        paired with the original, from the newest offset sync at or before the lowest such
        commit, up to the replica's start and the original's matching bound."""
        lowest: dict[TP, int] = {}
        for by_tp in commits.values():
            for rtp, o in by_tp.items():
                if o < starts.get(tp_key(rtp), 0):
                    lowest[rtp] = min(o, lowest.get(rtp, o))
        if not lowest:
            return {}
        topics = self._topics(ctx)
        back = {r: o for o, r in topics.items()}
        bounds = self._original_bounds(ctx)
        otps = [(back[t], p) for t, p in lowest]
        original_starts = log_starts(self.settings, self.flow.source, otps)
        replica_starts = log_starts(self.settings, self.flow.target, list(lowest))
        syncs = flow_syncs(self.settings, self.flow)
        out = {}
        for rtp, o in lowest.items():
            otp = (back[rtp[0]], rtp[1])
            anchor = anchor_before(
                syncs.get(otp, []),
                copy_offset=o,
                source_start=original_starts[otp],
                copy_start=replica_starts[rtp],
            )
            isolation = copy_isolation(self.settings.mirror, self.flow)
            out[rtp] = pair_sides(
                Side(self.original, otp, bounds[tp_key(otp)], isolation),
                Side(self.replica, rtp, int(starts[tp_key(rtp)]), isolation),
                anchor,
                what=f"{otp[0]}-{otp[1]} and its replica {rtp[0]}-{rtp[1]}",
            )
        return out

    def _original_bounds(self, ctx: StepContext) -> dict[str, int]:
        """Where, on the original cluster, the records the replicas got end: the cutover's
        quiet ends, or the start of the divergence."""
        if self.name == "rollback":
            return dict(ctx.output("assess")["original_bounds"])
        return {
            tp_key((p["topic"], p["partition"])): p["start_offset"]
            for p in ctx.output("find_divergence")["partitions"]
        }

    def switch_clients(self, ctx: StepContext) -> dict[str, Any]:
        return {"to_bootstrap": self.original.bootstrap_servers}

    def restore_flow(self, ctx: StepContext) -> dict[str, Any]:
        ends = ctx.output("verify_copy")["original_ends"]
        return replication.start_from_ends(self.settings, self.flow, ends)

    def hook_payload(self, ctx: StepContext) -> dict[str, Any]:
        assessed = ctx.outputs.get("assess", {})
        committed = ctx.outputs.get("commit_offsets", {})
        ids = assessed.get("cluster_ids", {})
        return {
            # the clients' topics map back: replica name -> original name
            "topics": {r: o for o, r in assessed.get("topics", {}).items()},
            "groups": committed.get("committed", {}),
            "source_cluster_id": ids.get(self.flow.target),
            "target_cluster_id": ids.get(self.flow.source),
        }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)
