"""The procedures built on the step engine, and how they are run, resumed and recorded.

``run_playbook`` is the one way a playbook runs (the CLI's commands and ``playbook resume``):
under the cluster pair's lock, with the configured hooks, journaled in the state store; a
completed run's RTO is recorded as a sample (``rto_seconds{playbook,pair}``) beside the RPO
history.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal

from dr.config.playbooks import PlaybookSettings
from dr.config.schema import Settings
from dr.errors import DrError, UsageError
from dr.hooks import HookContext, HookFailed, HookResult, missing_programs, run_hooks
from dr.log import get_logger
from dr.playbooks.apply import ApplyBook
from dr.playbooks.broker_replace import replace_playbook
from dr.playbooks.broker_restart import restart_playbook
from dr.playbooks.brokermoves import broker_move_playbook
from dr.playbooks.cutover import cutover_playbook
from dr.playbooks.failover import failover_playbook
from dr.playbooks.giveback import failback_playbook, rollback_playbook
from dr.playbooks.history import failed_over as failed_over
from dr.playbooks.history import state_of as state_of
from dr.playbooks.lock import PlaybookLock
from dr.playbooks.prune import PruneBook
from dr.playbooks.reassign import cancel_playbook
from dr.playbooks.restore import RestoreBook
from dr.playbooks.snapshot_restore import restore_playbook as snapshot_restore_playbook
from dr.playbooks.snapshot_run import snapshot_playbook
from dr.state.playbook_runs import PlaybookRun
from dr.steps import HookRunner, Playbook, RunResult, StepContext, execute, summarise

log = get_logger(__name__)

Builder = Callable[[Settings, Mapping[str, Any]], Playbook]
BUILDERS: dict[str, Builder] = {
    "failover": lambda settings, p: failover_playbook(
        settings,
        source=p["from"],
        target=p["to"],
        groups=p.get("groups"),
        force=bool(p.get("force")),
    ),
    "cutover": lambda settings, p: cutover_playbook(
        settings,
        source=p["from"],
        target=p["to"],
        groups=p.get("groups"),
        force=bool(p.get("force")),
    ),
    "rollback": lambda settings, p: rollback_playbook(
        settings, state_of(settings), p["cutover_run"]
    ),
    "failback": lambda settings, p: failback_playbook(
        settings,
        state_of(settings),
        source=p["from"],
        target=p["to"],
        groups=p.get("groups"),
        failover_run=p["failover_run"],
        archive_storage=p.get("archive_storage"),
    ),
    # Restore, prune and `mirror apply` are playbooks too: one engine for destructive work.
    "restore": lambda settings, p: RestoreBook(settings, p).playbook,
    "prune": lambda settings, p: PruneBook(settings, dict(p)).playbook,
    "mirror-apply": lambda settings, p: ApplyBook(settings, dict(p), failed_over).playbook,
    # Broker procedures run on the pair C->C: one at a time per cluster (broker_common).
    "broker-restart": lambda settings, p: restart_playbook(settings, p),
    "broker-replace": lambda settings, p: replace_playbook(settings, p),
    # Replicas moved onto a new broker or off a leaving one; the confirmed plan is in p.
    "broker-add": broker_move_playbook,
    "broker-remove": broker_move_playbook,
    "reassign-cancel": lambda settings, p: cancel_playbook(settings, p["cluster"]),
    # Log-dir snapshots and their restore: the snapshot id and nodes are in p.
    "snapshot-run": lambda settings, p: snapshot_playbook(settings, p),
    "snapshot-restore": lambda settings, p: snapshot_restore_playbook(settings, p),
}


def run_playbook(
    settings: Settings,
    playbook: Playbook,
    *,
    run_id: str | None = None,
    incident_start: datetime | None = None,
) -> RunResult:
    """Run (or resume) the playbook; returns how it ended (see dr.steps.execute)."""
    state = state_of(settings)
    configured = settings.playbooks.get(playbook.name)
    unknown = configured.unknown_steps([s.name for s in playbook.steps]) if configured else []
    problems = hook_plan(settings, playbook)[1] if run_id is None else []
    if problems:
        raise UsageError(f"{problems[0]}: fix it before the run starts (it would stop the run)")
    if unknown:
        raise UsageError(
            f"playbooks.{playbook.name}.hooks.{unknown[0]}: {playbook.name} has no step "
            f"'{unknown[0]}' (steps: {', '.join(s.name for s in playbook.steps)})"
        )
    result = execute(
        playbook,
        state=state,
        run_id=run_id,
        incident_start=incident_start,
        lock=PlaybookLock(settings, state, playbook.source, playbook.target),
        hooks=_hook_runner(configured, settings, playbook) if configured else None,
    )
    if result.status == "completed" and result.rto_seconds is not None:
        labels = {"playbook": playbook.name, "pair": playbook.pair}
        state.add_sample("rto_seconds", labels, result.rto_seconds)
    return result


def resume_playbook(settings: Settings, run_id: str) -> RunResult:
    """Carry on a recorded run from its journal; raises DrError for an unknown run."""
    run = state_of(settings).playbook_run(run_id)
    if run is None:
        raise DrError(f"no playbook run '{run_id}' in the state store (kafka-dr playbook list)")
    if run.status == "completed":
        raise UsageError(f"run '{run_id}' completed already: nothing to resume")
    builder = BUILDERS.get(run.playbook)
    if builder is None:
        raise DrError(f"run '{run_id}' is of playbook '{run.playbook}', unknown to this kafka-dr")
    return run_playbook(settings, builder(settings, run.params), run_id=run_id)


def recorded_runs(settings: Settings, limit: int = 50) -> list[tuple[PlaybookRun, str]]:
    """The newest runs, each with its effective status: a run recorded as running whose
    process is gone was interrupted (killed), whatever its row says."""
    return [(run, effective_status(run)) for run in state_of(settings).playbook_runs(limit)]


def recorded_run(settings: Settings, run_id: str) -> RunResult:
    """One recorded run as its journal tells it."""
    state = state_of(settings)
    run = state.playbook_run(run_id)
    if run is None:
        raise DrError(f"no playbook run '{run_id}' in the state store (kafka-dr playbook list)")
    builder = BUILDERS.get(run.playbook)
    steps = builder(settings, run.params).steps if builder is not None else None
    return summarise(run_id, state, steps)


def effective_status(run: PlaybookRun) -> str:
    if run.status != "running":
        return run.status
    try:
        os.kill(run.pid, 0)
    except ProcessLookupError:
        return "interrupted"
    except PermissionError:
        pass
    return "running"


def _hook_runner(
    configured: PlaybookSettings, settings: Settings, playbook: Playbook
) -> HookRunner:
    target = settings.clusters[playbook.target]

    def run(
        step: str, when: Literal["before", "after"], ctx: StepContext, payload: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        hooks = configured.hooks_for(step, when)
        if not hooks:
            return []
        context = HookContext(
            run_id=ctx.run_id,
            playbook=playbook.name,
            step=step,
            from_cluster=playbook.source,
            to_cluster=playbook.target,
            to_bootstrap=target.bootstrap_servers,
            payload=dict(payload),
        )
        try:
            results = run_hooks(hooks, when=when, context=context)
        except HookFailed as exc:
            exc.journal = [_hook_entry(r) for r in exc.results.hooks]
            raise
        return [_hook_entry(r) for r in results.hooks]

    return run


def _hook_entry(r: HookResult) -> dict[str, Any]:
    return {
        "command": r.command,
        "when": r.when,
        "outcome": r.outcome,
        "exit_code": r.exit_code,
        "attempts": r.attempts,
        "duration_s": r.duration_s,
        "last_line": r.last_line,
        "reason": r.reason,
        "on_failure": r.on_failure,
    }


def hook_plan(settings: Settings, playbook: Playbook) -> tuple[dict[str, list[str]], list[str]]:
    """For a plan: the hooks around each step (``before: name``...), and the hooks whose program
    cannot be run from here, one line each (those that would abort the run first)."""
    configured = settings.playbooks.get(playbook.name)
    if configured is None:
        return {}, []
    by_step: dict[str, list[str]] = {}
    problems: list[str] = []
    for step in playbook.steps:
        for when in ("before", "after"):
            hooks = configured.hooks_for(step.name, when)
            by_step.setdefault(step.name, []).extend(f"{when}: {h.label}" for h in hooks)
            aborting = [h for h in hooks if h.on_failure == "abort"]
            problems += [p for p in missing_programs(aborting) if p not in problems]
    return by_step, problems
