"""Failover: the source cluster is lost (or declared lost); its clients move to the target.

Steps, in order (each safe to run twice; a resumed run skips those journaled done):

1. assess            the target answers (its cluster id is recorded: later steps act only on
                     that cluster); the source answers or not. A source that answers refuses
                     the failover unless --force: a planned move is a cutover.
2. record_loss       what a failover now loses, per partition: measured exactly while the source
                     answers; otherwise the last replicated record of each replica and the
                     replication's last heartbeat, with the loss itself `unmeasured`.
3. stop_replication  nothing more is copied into the target: the flow's connectors paused
                     (Connect), or the dedicated MirrorMaker stopped (mirror.stop_command).
4. commit_offsets    every group with checkpoints (or matching --groups) gets its translated
                     offsets committed on the target; a group with members there is reported,
                     never overwritten.
5. verify_target     a canary record is produced to and read back from the target.
6. switch_clients    the operator's hooks move the clients (DNS, service discovery, config);
                     the RTO ends here.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from dr.config.schema import MirrorFlow, Settings
from dr.errors import DrError, KafkaError
from dr.kafka import admin as kadmin
from dr.kafka import groups as kgroups
from dr.kafka.client import admin_client
from dr.log import get_logger
from dr.mirror.heartbeats import newest_heartbeat_ms
from dr.mirror.offsets import flow_for, load_translation
from dr.mirror.topics import topic_map
from dr.objectives.replicas import replicated_until
from dr.objectives.rpo import measure_flow
from dr.playbooks import planned, replication
from dr.playbooks.canary import canary_round_trip
from dr.steps import Playbook, Step, StepContext

log = get_logger(__name__)


def failover_playbook(
    settings: Settings,
    *,
    source: str,
    target: str,
    groups: str | None = None,
    force: bool = False,
) -> Playbook:
    """The failover source -> target; raises UsageError when no flow replicates it."""
    flow = flow_for(settings, source, target)
    planned.check_pattern(groups)
    params = {"from": source, "to": target, "groups": groups, "force": force}
    steps = _Steps(settings, flow, params)
    return Playbook(
        name="failover",
        source=source,
        target=target,
        params=params,
        steps=(
            Step(
                "assess",
                "check the target answers and whether the source does",
                steps.assess,
                touches="nothing (reads both clusters)",
            ),
            Step(
                "record_loss",
                "record what is lost, per partition",
                steps.record_loss,
                touches="nothing (reads both clusters)",
            ),
            Step(
                "stop_replication",
                f"stop replication into {target}",
                steps.stop_replication,
                destructive=True,
                touches=steps.replication_touches(),
            ),
            Step(
                "commit_offsets",
                f"commit the consumer groups' translated offsets on {target}",
                steps.commit_offsets,
                destructive=True,
                touches=f"consumer group offsets on {target}",
            ),
            Step(
                "verify_target",
                f"produce and read back a canary record on {target}",
                steps.verify_target,
                touches=f"topic kafka-dr.canary on {target}",
            ),
            Step(
                "switch_clients",
                f"run the hooks that move clients to {target}",
                steps.switch_clients,
                destructive=True,
                touches="whatever the switch_clients hooks change (DNS, discovery, configs)",
                switches_clients=True,
            ),
        ),
        hook_payload=steps.hook_payload,
    )


class _Steps:
    """The failover's steps over one flow; each takes the run's context."""

    def __init__(self, settings: Settings, flow: MirrorFlow, params: dict[str, Any]) -> None:
        self.settings, self.flow, self.params = settings, flow, params
        self.source = settings.clusters[flow.source]
        self.target = settings.clusters[flow.target]

    # -- 1 ------------------------------------------------------------------------------------
    def assess(self, ctx: StepContext) -> dict[str, Any]:
        try:
            target_id = kadmin.cluster_id(admin_client(self.target), self.target.timeout_s)
            target_topics = kadmin.list_topic_partitions(
                admin_client(self.target), self.target.timeout_s
            )
        except KafkaError as exc:
            # The error names the target and its bootstrap servers.
            raise DrError(f"{exc}; a failover needs a working target") from None
        source_id, source_topics, why = None, None, None
        try:
            admin = admin_client(self.source)
            source_id = kadmin.cluster_id(admin, self.source.timeout_s)
            source_topics = list(kadmin.list_topic_partitions(admin, self.source.timeout_s))
        except KafkaError as exc:
            why = str(exc)
        if source_id is not None and not self.params["force"]:
            raise DrError(
                f"source '{self.flow.source}' answers (cluster id {source_id}): a failover is "
                "for a lost source. For a planned move use 'kafka-dr cutover --from "
                f"{self.flow.source} --to {self.flow.target}'; to fail over anyway add --force"
            )
        topics = topic_map(self.flow, source_topics=source_topics, target_topics=target_topics)
        return {
            "target_cluster_id": target_id,
            "source_reachable": source_id is not None,
            "source_cluster_id": source_id,
            "source_unreachable": why,
            "topics": topics,
        }

    def _same_target(self, ctx: StepContext) -> None:
        """Act only on the cluster assessed: a rebuilt cluster behind the same address is not
        the one this run decided about."""
        expected = ctx.output("assess")["target_cluster_id"]
        found = kadmin.cluster_id(admin_client(self.target), self.target.timeout_s)
        if found != expected:
            raise DrError(
                f"target '{self.flow.target}' now has cluster id {found}, not {expected} as "
                "assessed: it is another cluster; start a new failover"
            )

    # -- 2 ------------------------------------------------------------------------------------
    def record_loss(self, ctx: StepContext) -> dict[str, Any]:
        assessed = ctx.output("assess")
        if assessed["source_reachable"]:
            flow_rpo = measure_flow(self.settings, self.flow, now=time.time())
            return {
                "measured": flow_rpo.unmeasured is None,
                "unmeasured": flow_rpo.unmeasured,
                "rpo_seconds": flow_rpo.rpo_seconds,
                "lost_records_estimate": flow_rpo.lag_messages,
                "partitions": [
                    {
                        "topic": p.topic,
                        "partition": p.partition,
                        "target_topic": p.target_topic,
                        "lost_records": p.lag_messages,
                        "rpo_seconds": p.rpo_seconds,
                        "unmeasured": p.unmeasured,
                    }
                    for p in flow_rpo.partitions
                ],
            }
        return self._loss_without_source(assessed)

    def _loss_without_source(self, assessed: Mapping[str, Any]) -> dict[str, Any]:
        now = time.time()
        admin = admin_client(self.target)
        targets = kadmin.list_topic_partitions(admin, self.target.timeout_s)
        tps = [
            (replica, p)
            for replica in sorted(assessed["topics"].values())
            if replica in targets
            for p in range(targets[replica].partitions)
        ]
        ends = kadmin.offsets(admin, tps, "latest", self.target.timeout_s, committed=False)
        last, unread = replicated_until(self.target, ends, timeout_s=self.target.timeout_s)
        beat = newest_heartbeat_ms(self.target, admin, targets, self.flow.source)
        originals = {v: k for k, v in assessed["topics"].items()}
        return {
            "measured": False,
            "unmeasured": (
                f"source '{self.flow.source}' cannot be read ({assessed['source_unreachable']}): "
                "what it held beyond the replicas is unknown until it returns (a failback "
                "measures and archives it)"
            ),
            "rpo_seconds": None,
            "lost_records_estimate": None,
            "heartbeat_age_seconds": None if beat is None else round(now - beat / 1000, 3),
            "partitions": [
                {
                    "topic": originals[t],
                    "partition": p,
                    "target_topic": t,
                    "replicated_records_end": ends[(t, p)],
                    "last_replicated_age_seconds": (
                        round(now - last[(t, p)] / 1000, 3) if (t, p) in last else None
                    ),
                    "unmeasured": unread.get((t, p)),
                }
                for t, p in tps
            ],
        }

    # -- 3 ------------------------------------------------------------------------------------
    def replication_touches(self) -> str:
        return replication.touches(self.settings, self.flow)

    def stop_replication(self, ctx: StepContext) -> dict[str, Any]:
        """Stop the flow, then record where each replica ends: what comes after those offsets
        was written on the target by clients (a failback starts from them)."""
        if replication.stopped(self.settings, self.flow):
            out: dict[str, Any] = {"already_stopped": True}
        else:
            out = replication.stop(self.settings, self.flow, ctx.run_id)
        replicas = list(ctx.output("assess")["topics"].values())
        out["replica_ends"] = replication.partition_ends(self.settings, self.flow.target, replicas)
        return out

    # -- 4 ------------------------------------------------------------------------------------
    def commit_offsets(self, ctx: StepContext) -> dict[str, Any]:
        self._same_target(ctx)
        pattern = self.params.get("groups")
        assessed = ctx.output("assess")
        translation = load_translation(
            self.settings,
            self.flow.source,
            self.flow.target,
            source_lost=None if assessed["source_reachable"] else assessed["source_unreachable"],
        )
        chosen = (
            [g for g in translation.groups if re.fullmatch(pattern, g)]
            if pattern
            else sorted(translation.checkpoints)
        )
        admin = admin_client(self.target)
        members = kgroups.group_members(admin, chosen, self.target.timeout_s)
        replicas = kadmin.list_topic_partitions(admin, self.target.timeout_s)
        wanted: dict[str, dict[tuple[str, int], int]] = {}
        missing: list[dict[str, Any]] = []
        for group in chosen:
            if members.get(group):
                wanted[group] = {}  # never overwritten: commit_on reports it as skipped
                continue
            result = translation.translate(group)
            missing += [
                {"group": group, "topic": m.topic, "partition": m.partition, "kind": m.kind}
                for m in result.missing
            ]
            offsets = {}
            for p in result.partitions:
                if p.topic in replicas and p.partition < replicas[p.topic].partitions:
                    offsets[(p.topic, p.partition)] = p.offset
                else:  # a replica deleted on the target since MirrorMaker checkpointed it
                    missing.append(
                        {"group": group, "topic": p.topic, "partition": p.partition,
                         "kind": "replica-missing"}
                    )  # fmt: skip
            wanted[group] = offsets
        committed, skipped, failed = planned.commit_on(self.target, self.flow.target, wanted)
        return {
            "committed": committed,
            "failed": failed,
            "skipped": skipped,
            "missing": missing,
            "translated_from": "checkpoints only (source lost)"
            if translation.source_unreachable
            else "the groups' commits on the source",
        }

    # -- 5 ------------------------------------------------------------------------------------
    def verify_target(self, ctx: StepContext) -> dict[str, Any]:
        self._same_target(ctx)
        return canary_round_trip(self.target, ctx.run_id)

    # -- 6 ------------------------------------------------------------------------------------
    def switch_clients(self, ctx: StepContext) -> dict[str, Any]:
        return {"to_bootstrap": self.target.bootstrap_servers}

    def hook_payload(self, ctx: StepContext) -> dict[str, Any]:
        assessed = ctx.outputs.get("assess", {})
        committed = ctx.outputs.get("commit_offsets", {})
        return {
            "topics": assessed.get("topics", {}),
            "groups": committed.get("committed", {}),
            "source_cluster_id": assessed.get("source_cluster_id"),
            "target_cluster_id": assessed.get("target_cluster_id"),
        }
