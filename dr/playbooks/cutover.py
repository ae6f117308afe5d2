"""Blue-green cutover: clients move, planned, from a healthy cluster to its replica, losing and
repeating nothing.

Steps, in order (each safe to run twice; a resumed run skips those journaled done):

1. preflight         both clusters answer (their cluster ids are recorded); the replication
                     lag is small (``playbooks.cutover.max_lag_records``) unless --force.
2. stop_producers    the operator's hooks stop the producers; the write-unavailability window
                     (the planned RTO) starts here.
3. wait_quiet        no end offset of a replicated topic moves for ``quiet_s``.
4. drain             every replica holds its source's last record (compared by digest: key,
                     value, headers, timestamp), not a sleep.
5. stop_replication  the flow is stopped; where each replica ends is recorded (the rollback
                     starts from there).
6. verify            per partition, source and replica read from a common anchor (the newest
                     MirrorMaker offset sync at least ``verify_records`` records before the
                     end, else both log starts: the whole partition) hold the same records:
                     same count, same digests, the last one included.
7. commit_offsets    once the consumers have committed where they stopped, every group's
                     commits are moved to the replica record by record (a group at the end goes
                     to the replica's end) and committed there; a group with members on the
                     target is reported, never overwritten.
8. switch_clients    the operator's hooks move the clients; the window ends here.
9. prepare_rollback  records what ``kafka-dr cutover rollback RUN_ID`` starts from.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from dr.config.playbooks import PlaybookSettings
from dr.config.schema import MirrorFlow, Settings
from dr.errors import DrError, KafkaError
from dr.kafka import admin as kadmin
from dr.kafka.client import admin_client
from dr.kafka.reader import last_records
from dr.log import get_logger
from dr.mirror.offsets import flow_for, read_offset_syncs
from dr.mirror.topics import group_excluded, topic_map
from dr.mirror.translate import usable_syncs
from dr.objectives.rpo import measure_flow
from dr.playbooks import planned, replication
from dr.playbooks.history import failed_over
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
from dr.steps import Playbook, Step, StepContext

log = get_logger(__name__)
TP = tuple[str, int]


def cutover_playbook(
    settings: Settings,
    *,
    source: str,
    target: str,
    groups: str | None = None,
    force: bool = False,
) -> Playbook:
    """The cutover source -> target; raises UsageError when no flow replicates it."""
    flow = flow_for(settings, source, target)
    planned.check_pattern(groups)
    params = {"from": source, "to": target, "groups": groups, "force": force}
    steps = _Steps(settings, flow, params)
    return Playbook(
        name="cutover",
        source=source,
        target=target,
        params=params,
        steps=(
            Step(
                "preflight",
                "check both clusters answer and the lag is small",
                steps.preflight,
                touches="nothing (reads both clusters)",
            ),
            Step(
                "stop_producers",
                f"run the hooks that stop the producers of {source}",
                steps.stop_producers,
                destructive=True,
                stops_writes=True,
                touches="whatever the stop_producers hooks change",
            ),
            Step(
                "wait_quiet",
                f"wait until no replicated topic of {source} is written to",
                steps.wait_quiet,
                touches="nothing (reads end offsets)",
            ),
            Step(
                "drain",
                f"wait until every replica on {target} holds its last record",
                steps.drain,
                touches="nothing (reads both clusters)",
            ),
            Step(
                "stop_replication",
                f"stop replication into {target}",
                steps.stop_replication,
                destructive=True,
                touches=replication.touches(settings, flow),
            ),
            Step(
                "verify",
                "compare every partition with its replica, record by record",
                steps.verify,
                touches="nothing (reads both clusters)",
            ),
            Step(
                "commit_offsets",
                f"commit every group's exact offsets on {target}",
                steps.commit_offsets,
                destructive=True,
                touches=f"consumer group offsets on {target}",
            ),
            Step(
                "switch_clients",
                f"run the hooks that move clients to {target}",
                steps.switch_clients,
                destructive=True,
                switches_clients=True,
                touches="whatever the switch_clients hooks change (DNS, discovery, configs)",
            ),
            Step(
                "prepare_rollback",
                "record where a rollback starts",
                steps.prepare_rollback,
                touches="nothing",
            ),
        ),
        hook_payload=steps.hook_payload,
    )


def playbook_settings(settings: Settings, name: str) -> PlaybookSettings:
    return settings.playbooks.get(name) or PlaybookSettings()


def cluster_ids(settings: Settings, names: list[str]) -> dict[str, str]:
    """Each named cluster's id; raises DrError naming the one that does not answer."""
    out = {}
    for name in names:
        cluster = settings.clusters[name]
        try:
            out[name] = kadmin.cluster_id(admin_client(cluster), cluster.timeout_s)
        except KafkaError as exc:
            # The error names the cluster and its bootstrap servers.
            raise DrError(f"{exc}; a planned move needs both clusters") from None
    return out


def same_clusters(settings: Settings, expected: Mapping[str, str]) -> None:
    """Act only on the clusters assessed: a rebuilt cluster behind the same address is not
    the one the run decided about."""
    for name, found in cluster_ids(settings, list(expected)).items():
        if found != expected[name]:
            raise DrError(
                f"cluster '{name}' now has cluster id {found}, not {expected[name]} as first "
                "assessed: it is another cluster; start a new run"
            )


def flow_syncs(settings: Settings, flow: MirrorFlow) -> dict[TP, list[Any]]:
    """The flow's usable offset syncs by source partition; none when they cannot be read (the
    pairings then start from both log starts)."""
    try:
        return usable_syncs(read_offset_syncs(settings, flow))
    except KafkaError as exc:
        log.info("offset_syncs_unread", flow=flow.name, reason=str(exc))
        return {}


def log_starts(settings: Settings, cluster: str, tps: list[TP]) -> dict[TP, int]:
    admin = admin_client(settings.clusters[cluster])
    return kadmin.offsets(admin, tps, "earliest", admin.timeout_s, committed=False)


class _Steps:
    """The cutover's steps over one flow."""

    def __init__(self, settings: Settings, flow: MirrorFlow, params: dict[str, Any]) -> None:
        self.settings, self.flow, self.params = settings, flow, params
        self.source = settings.clusters[flow.source]
        self.target = settings.clusters[flow.target]
        self.options = playbook_settings(settings, "cutover")

    def _topics(self, ctx: StepContext) -> dict[str, str]:
        return dict(ctx.output("preflight")["topics"])

    def _ids(self, ctx: StepContext) -> dict[str, str]:
        return dict(ctx.output("preflight")["cluster_ids"])

    # -- 1 ------------------------------------------------------------------------------------
    def preflight(self, ctx: StepContext) -> dict[str, Any]:
        stopped_by = failed_over(self.settings).get(self.flow.name)
        if stopped_by is not None:
            raise DrError(
                f"flow {self.flow.name} was stopped by run {stopped_by} and not brought back: "
                f"its clients are on {self.flow.target} already (undo that run first: "
                "'kafka-dr cutover rollback' or 'kafka-dr failback')"
            )
        ids = cluster_ids(self.settings, [self.flow.source, self.flow.target])
        topics = topic_map(
            self.flow,
            source_topics=list(
                kadmin.list_topic_partitions(admin_client(self.source), self.source.timeout_s)
            ),
            target_topics=list(
                kadmin.list_topic_partitions(admin_client(self.target), self.target.timeout_s)
            ),
        )
        flow_rpo = measure_flow(self.settings, self.flow, now=time.time())
        limit = self.options.max_lag_records
        if not self.params["force"]:
            if flow_rpo.unmeasured is not None:
                raise DrError(
                    f"the replication lag of {self.flow.name} cannot be measured "
                    f"({flow_rpo.unmeasured}); fix it or add --force"
                )
            if (flow_rpo.lag_messages or 0) > limit:
                raise DrError(
                    f"{self.flow.name} lags {flow_rpo.lag_messages} records, more than "
                    f"playbooks.cutover.max_lag_records ({limit}): let MirrorMaker catch up, "
                    "or add --force"
                )
        return {
            "cluster_ids": ids,
            "topics": topics,
            "lag_records": flow_rpo.lag_messages,
            "rpo_seconds": flow_rpo.rpo_seconds,
        }

    # -- 2 ------------------------------------------------------------------------------------
    def stop_producers(self, ctx: StepContext) -> dict[str, Any]:
        return {"note": "the stop_producers hooks stop the producers; the window starts here"}

    # -- 3 ------------------------------------------------------------------------------------
    def wait_quiet(self, ctx: StepContext) -> dict[str, Any]:
        ends = planned.wait_quiet(
            self.source,
            self.flow.source,
            list(self._topics(ctx)),
            quiet_s=self.options.quiet_s,
            deadline_s=self.options.drain_timeout_s,
        )
        return {"source_ends": ends}

    # -- 4 ------------------------------------------------------------------------------------
    def drain(self, ctx: StepContext) -> dict[str, Any]:
        topics = self._topics(ctx)
        source_ends = {parse_tp(k): v for k, v in ctx.output("wait_quiet")["source_ends"].items()}
        isolation = copy_isolation(self.settings.mirror, self.flow)
        wanted = last_records(
            self.source, source_ends, timeout_s=self.source.timeout_s, isolation=isolation
        )
        started = time.monotonic()
        while True:
            replica_ends = replication.partition_ends(
                self.settings, self.flow.target, list(topics.values())
            )
            ends = {(topics[t], p): replica_ends.get(tp_key((topics[t], p)), 0) for t, p in wanted}
            have = last_records(
                self.target, ends, timeout_s=self.target.timeout_s, isolation=isolation
            )
            behind = [
                (t, p)
                for (t, p), rec in sorted(wanted.items())
                if (topics[t], p) not in have or have[(topics[t], p)].digest() != rec.digest()
            ]
            if not behind:
                return {
                    "replica_ends": replica_ends,
                    "partitions": len(wanted),
                    "waited_s": round(time.monotonic() - started, 3),
                }
            if time.monotonic() - started > self.options.drain_timeout_s:
                t, p = behind[0]
                raise DrError(
                    f"{len(behind)} replica(s) still lack their source's last record after "
                    f"{self.options.drain_timeout_s:.0f}s, first {topics[t]}-{p} (source "
                    f"{t}-{p} ends at {source_ends[(t, p)]}): is MirrorMaker running?"
                )
            time.sleep(1.0)

    # -- 5 ------------------------------------------------------------------------------------
    def stop_replication(self, ctx: StepContext) -> dict[str, Any]:
        if replication.stopped(self.settings, self.flow):
            out: dict[str, Any] = {"already_stopped": True}
        else:
            out = replication.stop(self.settings, self.flow, ctx.run_id)
        out["replica_ends"] = replication.partition_ends(
            self.settings, self.flow.target, list(self._topics(ctx).values())
        )
        return out

    # -- 6 ------------------------------------------------------------------------------------
    def _pairings(
        self, ctx: StepContext, commits: Mapping[TP, int] | None = None
    ) -> dict[TP, Pairing]:
        """Each source partition paired with its replica, from the newest anchor (at or before
        the lowest of ``commits`` on the partition, when given)."""
        topics = self._topics(ctx)
        source_ends = {parse_tp(k): v for k, v in ctx.output("wait_quiet")["source_ends"].items()}
        replica_ends = {
            parse_tp(k): v for k, v in ctx.output("stop_replication")["replica_ends"].items()
        }
        tps = sorted(source_ends if commits is None else commits)
        starts = log_starts(self.settings, self.flow.source, tps)
        replica_tps = [(topics[t], p) for t, p in tps]
        replica_starts = log_starts(self.settings, self.flow.target, replica_tps)
        syncs = flow_syncs(self.settings, self.flow)
        isolation = copy_isolation(self.settings.mirror, self.flow)
        out = {}
        depth = self.options.verify_records
        for t, p in tps:
            rtp = (topics[t], p)
            anchor: Anchor = anchor_before(
                syncs.get((t, p), []),
                source_offset=source_ends[(t, p)] - depth if commits is None else commits[(t, p)],
                copy_offset=replica_ends.get(rtp, 0) - 1,
                source_start=starts[(t, p)],
                copy_start=replica_starts[rtp],
            )
            out[(t, p)] = pair_sides(
                Side(self.source, (t, p), source_ends[(t, p)], isolation),
                Side(self.target, rtp, replica_ends.get(rtp, 0), isolation),
                anchor,
                what=f"{t}-{p} and its replica {rtp[0]}-{p}",
            )
        return out

    def verify(self, ctx: StepContext) -> dict[str, Any]:
        same_clusters(self.settings, self._ids(ctx))
        try:
            pairings = self._pairings(ctx)
        except PairingError as exc:
            raise DrError(f"verify: {exc.message}; nothing was switched") from None
        return {
            "partitions": {
                tp_key(tp): {
                    "records_compared": p.records,
                    "whole_partition": p.anchor.how == "log starts",
                    "from": p.anchor.how,
                    "source_end": p.source_end,
                    "replica_end": p.copy_end,
                }
                for tp, p in sorted(pairings.items())
            },
            "records_compared": sum(p.records for p in pairings.values()),
        }

    # -- 7 ------------------------------------------------------------------------------------
    def commit_offsets(self, ctx: StepContext) -> dict[str, Any]:
        same_clusters(self.settings, self._ids(ctx))
        topics = self._topics(ctx)
        ends = ctx.output("wait_quiet")["source_ends"]
        mirror = self.settings.mirror
        commits, notes = planned.wait_groups_settled(
            self.source,
            self.flow.source,
            set(topics),
            ends,
            pattern=self.params.get("groups"),
            allowed=lambda g: group_excluded(g, self.flow, mirror) is None,
            quiet_s=self.options.quiet_s,
            deadline_s=self.options.drain_timeout_s,
        )
        lowest: dict[TP, int] = {}
        for by_tp in commits.values():
            for tp, o in by_tp.items():
                if o < ends[tp_key(tp)]:
                    lowest[tp] = min(o, lowest.get(tp, o))
        try:
            pairings = self._pairings(ctx, lowest) if lowest else {}
        except PairingError as exc:
            raise DrError(f"commit_offsets: {exc.message}") from None
        replica_ends = ctx.output("stop_replication")["replica_ends"]
        wanted: dict[str, dict[TP, int]] = {}
        for group, by_tp in commits.items():
            moved = {}
            for (t, p), o in by_tp.items():
                rtp = (topics[t], p)
                if o >= ends[tp_key((t, p))]:
                    moved[rtp] = replica_ends[tp_key(rtp)]
                else:
                    moved[rtp] = pairings[(t, p)].copy_offset(o)
            wanted[group] = moved
        committed, skipped, failed = planned.commit_on(self.target, self.flow.target, wanted)
        return {"committed": committed, "skipped": skipped, "failed": failed, "notes": notes}

    # -- 8 ------------------------------------------------------------------------------------
    def switch_clients(self, ctx: StepContext) -> dict[str, Any]:
        return {"to_bootstrap": self.target.bootstrap_servers}

    # -- 9 ------------------------------------------------------------------------------------
    def prepare_rollback(self, ctx: StepContext) -> dict[str, Any]:
        return {
            "rollback_from": ctx.output("stop_replication")["replica_ends"],
            "command": f"kafka-dr cutover rollback {ctx.run_id}",
        }

    def hook_payload(self, ctx: StepContext) -> dict[str, Any]:
        pre = ctx.outputs.get("preflight", {})
        committed = ctx.outputs.get("commit_offsets", {})
        ids = pre.get("cluster_ids", {})
        return {
            "topics": pre.get("topics", {}),
            "groups": committed.get("committed", {}),
            "source_cluster_id": ids.get(self.flow.source),
            "target_cluster_id": ids.get(self.flow.target),
        }
