"""`mirror apply` as a playbook: MirrorMaker 2 brought to the config, step by step.

Steps:

1. assess        refuse a flow a completed failover (or cutover) stopped, unless --force:
                 restarting it would copy the old cluster into the one clients now write to.
2. render        read-only: what the config wants (mm2.properties, or the connectors) against
                 what runs now; no secret is journaled (names and flags only).
3. dedicated:  write_and_restart   write mm2.properties and run mirror.restart_command (a
                                   restart that failed stays pending and is retried);
   connect:    deploy_connectors   create, update and delete the flows' Mirror connectors.
   Each is checked first: a step already done (a second apply) changes nothing.

The run's pair is the first flow (by name, ``source -> target``): an apply and a failover of
that flow exclude each other. Its destructive step also holds the lock of every other flow,
so no failover of any flow runs while MirrorMaker is rewritten.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict
from typing import Any

from dr.config.schema import MirrorFlow, Settings
from dr.errors import UsageError
from dr.mirror import deploy
from dr.mirror.apply import ApplyPlan
from dr.playbooks.lock import PlaybookLock
from dr.state import StateStore
from dr.steps import Outputs, Playbook, Step, StepContext

PLAYBOOK = "mirror-apply"
StoppedFlows = Callable[[Settings], dict[str, str]]


def refusal(stopped: dict[str, str], flow: str | None = None) -> UsageError | None:
    """The refusal of a flow a failover stopped (``stopped``: flow -> run), or None."""
    chosen = {f: r for f, r in stopped.items() if flow is None or f == flow}
    if not chosen:
        return None
    name, run = next(iter(chosen.items()))
    return UsageError(
        f"flow {name} was stopped by failover {run}: starting it would copy the old "
        f"{name.split('->')[0]}, should it return, into {name.split('->')[1]} where clients "
        "now write; bring it back with a failback, or add --force"
    )


class ApplyBook:
    """The apply playbook over every configured flow; ``stopped`` answers which flows a
    failover stopped (dr.playbooks.failed_over, passed in: that module registers this one)."""

    def __init__(self, settings: Settings, params: dict[str, Any], stopped: StoppedFlows) -> None:
        self.settings, self.params, self.stopped = settings, params, stopped
        self.mirror = deploy.mirror_settings(settings)
        self.flows: list[MirrorFlow] = sorted(self.mirror.flows, key=lambda f: f.name)
        dedicated = self.mirror.deploy == "dedicated"
        last = (
            Step(
                "write_and_restart",
                f"write {self.mirror.properties_file} and restart MirrorMaker",
                self.write_and_restart,
                check=self.dedicated_current,
                destructive=True,
                touches=f"{self.mirror.properties_file} and the MirrorMaker process",
            )
            if dedicated
            else Step(
                "deploy_connectors",
                "create, update and delete the flows' Mirror connectors",
                self.deploy_connectors,
                check=self.connectors_current,
                destructive=True,
                touches="Mirror connectors on the Connect cluster",
            )
        )
        self.playbook = Playbook(
            name=PLAYBOOK,
            source=self.flows[0].source if self.flows else "mirror",
            target=self.flows[0].target if self.flows else "flows",
            params=params,
            steps=(
                Step(
                    "assess",
                    "refuse a flow a failover stopped (unless --force)",
                    self.assess,
                    touches="nothing (reads the playbook runs)",
                ),
                Step(
                    "render",
                    "render the config and compare it with what runs",
                    self.render,
                    touches="nothing",
                ),
                last,
            ),
        )

    # -- the steps ------------------------------------------------------------------------------
    def assess(self, _ctx: StepContext) -> Outputs:
        stopped = self.stopped(self.settings)
        refused = refusal(stopped)
        if refused is not None and not self.params.get("force"):
            raise refused
        return {"flows": [f.name for f in self.flows], "forced_over": sorted(stopped)}

    def render(self, _ctx: StepContext) -> Outputs:
        if self.mirror.deploy == "dedicated":
            return asdict(deploy.apply_dedicated(self.settings, dry_run=True))
        return _connect_outputs(deploy.plan_connect(self.settings))

    def dedicated_current(self, _ctx: StepContext) -> bool:
        planned = deploy.apply_dedicated(self.settings, dry_run=True)
        return not (planned.changed or planned.restart_pending)

    def write_and_restart(self, _ctx: StepContext) -> Outputs:
        with self._other_flows_locked():
            return asdict(deploy.apply_dedicated(self.settings))

    def connectors_current(self, _ctx: StepContext) -> bool:
        return not deploy.plan_connect(self.settings).changed

    def deploy_connectors(self, _ctx: StepContext) -> Outputs:
        with self._other_flows_locked():
            plan = deploy.plan_connect(self.settings)
            deploy.apply_connect(self.settings, plan)
        return _connect_outputs(plan)

    def _other_flows_locked(self) -> ExitStack:
        """The locks of the flows past the first (the run holds the first one's)."""
        stack = ExitStack()
        state = StateStore(self.settings.state)  # type: ignore[arg-type]
        with stack:
            for flow in self.flows[1:]:  # the run holds the first one's
                pair = {flow.source, flow.target}
                if pair == {self.flows[0].source, self.flows[0].target}:
                    continue  # the same unordered pair: held already
                stack.enter_context(PlaybookLock(self.settings, state, flow.source, flow.target))
            return stack.pop_all()


def _connect_outputs(plan: ApplyPlan) -> Outputs:
    return {
        "changed": plan.changed,
        "creates": list(plan.creates),
        "updates": [u.name for u in plan.updates],
        "deletes": list(plan.deletes),
        "unchanged": list(plan.unchanged),
    }
