"""What the recorded runs say about the flows and about each other: which flows a failover or
a cutover stopped, and whether a run was already undone."""

from __future__ import annotations

from dr.config.schema import Settings
from dr.state import StateStore


def state_of(settings: Settings) -> StateStore:
    """The state store the config names (where runs are journaled)."""
    assert settings.state is not None  # set by the config loader
    return StateStore(settings.state)


def failed_over(settings: Settings) -> dict[str, str]:
    """The flows a completed failover or cutover stopped and no failback or rollback has
    brought back since: flow name -> the run's id. Restarting such a flow would copy the old
    cluster, should it return or be written to, into the cluster the clients now write to."""
    out: dict[str, str] = {}
    runs = state_of(settings).playbook_runs(limit=500)  # newest first
    for flow in settings.mirror.flows if settings.mirror else []:
        pair = {flow.name, f"{flow.target}->{flow.source}"}
        for run in runs:
            if run.playbook == "mirror-apply":
                continue  # an apply --force starts a flow, it does not bring it back
            if run.pair in pair and run.status == "completed":
                if run.playbook in ("failover", "cutover") and run.pair == flow.name:
                    out[flow.name] = run.run_id
                break  # the newest completed run on the pair decides
    return out


# The steps of a way back from which on it has changed something that a second one would repeat.
_ACTING = frozenset({"plan_copy", "copy_back", "verify_copy", "commit_offsets", "switch_clients",
                     "restore_flow"})  # fmt: skip


def undone_by(
    settings: Settings, playbook: str, earlier: str, run_id: str
) -> tuple[str, str] | None:
    """Another run of ``playbook`` (a rollback, a failback) that undoes the run ``earlier``, or
    has started to (it reached its copy), with its status; None when there is none. ``run_id``
    is the run asking (a resume). A run that stopped before its copy changed nothing."""
    state = state_of(settings)
    for run in state.playbook_runs(limit=500):
        if run.playbook != playbook or run.run_id == run_id:
            continue
        if earlier not in (run.params.get("cutover_run"), run.params.get("failover_run")):
            continue
        if run.status == "completed" or any(
            e.step in _ACTING for e in state.playbook_events(run.run_id)
        ):
            return run.run_id, run.status
    return None
