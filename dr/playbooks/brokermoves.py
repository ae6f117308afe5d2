"""``broker add`` and ``broker remove`` as playbooks: a confirmed reassignment plan carried out.

The plan (dr.playbooks.balance, proposed by dr.playbooks.reassign.propose) is shown first and
travels in the run's params, so the run moves exactly what the operator confirmed, and a
resume moves the same. Steps (each safe to run twice):

1. preflight       the cluster answers; for add, the broker is online; for remove, it is no
                   controller voter; no other reassignment runs; each planned partition still
                   has the replicas the plan started from (or already its target: a resume).
2. submit          the plan goes to the controller with a replication throttle (``--throttle``
                   MB/s on the brokers and topics involved). Done already when every planned
                   partition is at its target or listed as moving there: a run killed after
                   submitting never submits twice.
3. wait_moved      until no planned partition is moving and each has its target replicas, all
                   in sync; progress reported as partitions and bytes done. Deadline: the
                   moved bytes at the throttle, three times over, plus 5 minutes.
4. verify          every target replica in its partition's ISR; for remove, no replica of any
                   partition left on the broker.
5. clear_throttle  Kafka's ``--verify`` clears the throttles; none is left on any broker or
                   moved topic.
remove only:
6. stop_broker     the broker stopped through its host access (``clusters.NAME.access``).
7. unregister      its registration removed from the metadata (``kafka-cluster unregister``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dr.config.schema import Settings
from dr.errors import DrError, KafkaError
from dr.hosts import HostAccess, access_for
from dr.kafka import reassign as kreassign
from dr.kafka.quorum import describe_quorum
from dr.log import get_logger
from dr.playbooks.balance import Move, ReassignmentPlan
from dr.playbooks.reassign import ClusterView, refuse_ongoing
from dr.steps import Outputs, Playbook, Step, StepContext

log = get_logger(__name__)

TP = tuple[str, int]
MB = 1_000_000
POLL_S = 2.0
STOP_DEADLINE_S = 120.0
FENCE_DEADLINE_S = 60.0


@dataclass(frozen=True)
class MoveProgress:
    """How far a reassignment has come."""

    partitions_done: int
    partitions: int
    bytes_done: int
    bytes_total: int
    moving: tuple[str, ...]


ProgressFn = Callable[[MoveProgress], None]


def broker_move_playbook(
    settings: Settings,
    params: Mapping[str, Any],
    progress: ProgressFn | None = None,
    view: ClusterView | None = None,
) -> Playbook:
    """The ``broker-add`` or ``broker-remove`` playbook of ``params`` (cluster, broker,
    throttle_mb, plan), reading the cluster through ``view`` (default: the live cluster);
    raises UsageError for an unknown cluster."""
    return _BrokerMove(settings, params, progress, view).playbook()


def move_params(
    cluster: str, plan: ReassignmentPlan, *, throttle_mb: float | None
) -> dict[str, Any]:
    """The params of a run carrying out ``plan``."""
    return {
        "cluster": cluster,
        "broker": plan.broker,
        "throttle_mb": throttle_mb,
        "plan": plan.as_json(),
    }


class _BrokerMove:
    def __init__(
        self,
        settings: Settings,
        params: Mapping[str, Any],
        progress: ProgressFn | None,
        view: ClusterView | None,
    ) -> None:
        self.settings, self.params, self.progress = settings, params, progress
        self.view = view or ClusterView(settings, str(params["cluster"]))
        self.plan = ReassignmentPlan.from_json(params["plan"])
        self.broker = self.plan.broker
        self.targets = {m.tp: m.after for m in self.plan.moves}
        mb = params.get("throttle_mb")
        self.throttle = None if mb is None else max(1, int(float(mb) * MB))

    def playbook(self) -> Playbook:
        name, broker, cluster = self.plan.kind, self.broker, self.view.name
        moves = len(self.plan.moves)
        rate = f"{self.params.get('throttle_mb')} MB/s" if self.throttle else "no throttle"
        steps = [
            Step(
                "preflight",
                f"check {cluster} and broker {broker} are ready for the moves",
                self.preflight,
                touches="nothing (reads the cluster)",
            ),
            Step(
                "submit",
                f"submit {moves} partition moves ({self.plan.moved_bytes} bytes), {rate}",
                self.submit,
                check=self.submitted,
                destructive=True,
                touches=f"replica sets of {moves} partitions; replication throttle configs",
            ),
            Step(
                "wait_moved",
                "wait until every moved replica is in sync",
                self.wait_moved,
                touches="nothing (reads the cluster)",
            ),
            Step(
                "verify",
                self._verify_description(),
                self.verify,
                touches="nothing (reads the cluster)",
            ),
            Step(
                "clear_throttle",
                "remove the replication throttles",
                self.clear_throttle,
                check=self.no_throttle,
                touches="broker and topic throttle configs",
            ),
        ]
        if name == "remove":
            steps += [
                Step(
                    "stop_broker",
                    f"stop broker {broker} (controlled shutdown) through its host access",
                    self.stop_broker,
                    check=self.broker_stopped,
                    destructive=True,
                    touches=f"the Kafka process of broker {broker}",
                ),
                Step(
                    "unregister",
                    f"unregister broker {broker} from {cluster}'s metadata",
                    self.unregister,
                    check=self.unregistered,
                    destructive=True,
                    touches=f"the broker registration of {broker}",
                ),
            ]
        return Playbook(
            name=f"broker-{name}",
            source=cluster,
            target=cluster,
            params=dict(self.params),
            steps=tuple(steps),
        )

    def _verify_description(self) -> str:
        if self.plan.kind == "remove":
            return f"check every moved replica is in sync and none is left on {self.broker}"
        return "check every moved replica is in sync"

    # -- 1 --------------------------------------------------------------------------------
    def preflight(self, _ctx: StepContext) -> Outputs:
        online = [b.id for b in self.view.online()]
        if self.plan.kind == "add" and self.broker not in online:
            raise DrError(
                f"broker {self.broker} is not online in '{self.view.name}': start it "
                "first (and check its log), then run again"
            )
        if self.plan.kind == "remove":
            self._refuse_voter()
        ours = [o for o in self.view.ongoing() if not self._ours(o)]
        refuse_ongoing(self.view, tuple(ours))
        current = self.view.replicas()
        for move in self.plan.moves:
            found = current.get(move.tp)
            if found is None:
                raise DrError(
                    f"partition {move.name} is gone from '{self.view.name}': the "
                    "plan is stale; run the command again for a new plan"
                )
            if set(found.replicas) not in (set(move.before), set(move.after)):
                raise DrError(
                    f"partition {move.name} has replicas {list(found.replicas)}, not "
                    f"{list(move.before)} as planned: the plan is stale; run the command again"
                )
            if found.leader is None:
                raise DrError(
                    f"partition {move.name} has no leader: bring its replicas back before moving it"
                )
        return {"online": online}

    def _refuse_voter(self) -> None:
        try:
            quorum = describe_quorum(self.view.cluster, self.view.jars)
        except KafkaError as exc:
            raise DrError(
                f"cannot read the quorum of '{self.view.name}' to check broker "
                f"{self.broker} is no controller: {exc.message}"
            ) from None
        if any(v.node_id == self.broker for v in quorum.voters):
            raise DrError(
                f"node {self.broker} is a controller (a voter of the metadata quorum): "
                "'broker remove' moves replicas off brokers only; remove a controller with a "
                "quorum change (kafka-metadata-quorum remove-controller) instead"
            )

    # -- 2 --------------------------------------------------------------------------------
    def _pending(self) -> tuple[dict[TP, tuple[int, ...]], list[kreassign.Ongoing]]:
        """The planned partitions neither at their target nor moving there, and what moves."""
        ongoing = list(self.view.ongoing())
        moving = {o.tp for o in ongoing if self._ours(o)}
        current = self.view.replicas()
        pending = {
            tp: after
            for tp, after in self.targets.items()
            if tp not in moving and (tp not in current or current[tp].replicas != after)
        }
        return pending, ongoing

    def _ours(self, ongoing: kreassign.Ongoing) -> bool:
        """A reassignment moving a planned partition to its planned replicas (in any order:
        the listing puts the new replicas where the controller keeps them)."""
        target = self.targets.get(ongoing.tp)
        return target is not None and set(target) == set(ongoing.target)

    def submitted(self, _ctx: StepContext) -> bool:
        return not self._pending()[0]

    def submit(self, _ctx: StepContext) -> Outputs:
        pending, ongoing = self._pending()
        kreassign.submit_reassignment(
            self.view.cluster,
            self.view.jars,
            pending,
            throttle_bytes_s=self.throttle,
            additional=bool(ongoing),
        )
        log.info(
            "reassignment_submitted",
            cluster=self.view.name,
            partitions=len(pending),
            throttle_bytes_s=self.throttle,
        )
        return {"submitted": len(pending), "throttle_bytes_s": self.throttle}

    # -- 3 --------------------------------------------------------------------------------
    def wait_moved(self, _ctx: StepContext) -> Outputs:
        limit = 300.0 + (3 * self.plan.moved_bytes / self.throttle if self.throttle else 0.0)
        deadline = time.monotonic() + limit
        started = time.monotonic()
        while True:
            state = self._progress()
            if self.progress is not None:
                self.progress(state)
            log.info(
                "reassignment_progress",
                cluster=self.view.name,
                done=state.partitions_done,
                partitions=state.partitions,
                bytes_done=state.bytes_done,
            )
            if not state.moving:
                return {
                    "partitions": state.partitions,
                    "bytes": state.bytes_total,
                    "seconds": round(time.monotonic() - started, 1),
                }
            if time.monotonic() > deadline:
                raise DrError(
                    f"{len(state.moving)} partitions still moving after {limit:.0f}s (first "
                    f"{state.moving[0]}); the reassignment goes on: follow it with 'kafka-dr "
                    f"reassign status --cluster {self.view.name}', then resume this run"
                )
            time.sleep(POLL_S)  # polling the cluster's real state, with a deadline

    def _progress(self) -> MoveProgress:
        moving_now = {o.tp for o in self.view.ongoing()}
        current = self.view.replicas()
        done: list[Move] = []
        for move in self.plan.moves:
            found = current.get(move.tp)
            if (
                move.tp not in moving_now
                and found is not None
                and found.replicas == move.after
                and set(move.after) <= set(found.isr)
            ):
                done.append(move)
        left = tuple(m.name for m in self.plan.moves if m not in done)
        return MoveProgress(
            len(done), len(self.plan.moves), sum(m.bytes for m in done), self.plan.moved_bytes, left
        )

    # -- 4 --------------------------------------------------------------------------------
    def verify(self, _ctx: StepContext) -> Outputs:
        current = self.view.replicas()
        for move in self.plan.moves:
            found = current.get(move.tp)
            if found is None or found.replicas != move.after:
                have = list(found.replicas) if found else "none"
                raise DrError(
                    f"partition {move.name} has replicas {have}, not {list(move.after)} as planned"
                )
            missing = [b for b in move.after if b not in found.isr]
            if missing:
                raise DrError(
                    f"partition {move.name}: replicas {missing} are not in sync "
                    f"(ISR {list(found.isr)})"
                )
        left = sorted(f"{t}-{p}" for (t, p), r in current.items() if self.broker in r.replicas)
        if self.plan.kind == "remove" and left:
            raise DrError(
                f"{len(left)} partitions still have a replica on broker "
                f"{self.broker} (first {left[0]}): a partition created meanwhile? "
                "run 'broker remove' again for a new plan"
            )
        counts: dict[int, int] = {}
        for r in current.values():
            for b in r.replicas:
                counts[b] = counts.get(b, 0) + 1
        return {
            "replicas_by_broker": {str(b): n for b, n in sorted(counts.items())},
            "on_broker": counts.get(self.broker, 0),
        }

    # -- 5 --------------------------------------------------------------------------------
    def _topics(self) -> list[str]:
        return sorted({m.topic for m in self.plan.moves})

    def no_throttle(self, _ctx: StepContext) -> bool:
        return not self.view.throttles([b.id for b in self.view.online()], self._topics())

    def clear_throttle(self, _ctx: StepContext) -> Outputs:
        left = self.view.clear_throttles(self._topics())
        if left:
            raise DrError(
                f"replication throttles are still set ({left[0]}): remove them with "
                "kafka-configs --delete-config, then resume"
            )
        return {"throttles": []}

    # -- 6, 7 (remove) --------------------------------------------------------------------
    def _access(self) -> HostAccess:
        """The broker's host access; raises UsageError when the cluster has none configured."""
        return access_for(self.settings, self.view.name, self.broker)

    def broker_stopped(self, _ctx: StepContext) -> bool:
        return self._access().status().running is False

    def stop_broker(self, _ctx: StepContext) -> Outputs:
        stopped = self._access().stop(deadline_s=STOP_DEADLINE_S)
        log.info("broker_stopped", cluster=self.view.name, broker=self.broker, how=stopped.how)
        return {"how": stopped.how, "seconds": round(stopped.seconds, 1)}

    def unregistered(self, _ctx: StepContext) -> bool:
        registered = kreassign.registered_brokers(self.view.cluster, self.view.jars)
        return registered is not None and self.broker not in registered

    def unregister(self, _ctx: StepContext) -> Outputs:
        deadline = time.monotonic() + FENCE_DEADLINE_S
        while self.broker in [b.id for b in self.view.online()]:
            if time.monotonic() > deadline:
                raise DrError(
                    f"broker {self.broker} is still online {FENCE_DEADLINE_S:.0f}s "
                    "after it was stopped: stop it, then resume"
                )
            time.sleep(POLL_S)  # until the controller fences it (its session ends)
        now = kreassign.unregister_broker(self.view.cluster, self.view.jars, self.broker)
        return {"unregistered": self.broker, "was_registered": now}
