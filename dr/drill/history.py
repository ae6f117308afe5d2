"""What a drill report shows of the past: RPO samples of the drill's flows and jobs over the
last days (from the state store), and earlier drills' outcomes and figures."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from dr.config.drills import DrillSettings
from dr.config.schema import Settings
from dr.drill.context import now
from dr.drill.model import PastDrill, Series, SeriesPoint, iso
from dr.errors import DrError, UsageError
from dr.objectives.history import RPO_METRIC, rpo_target
from dr.state import StateStore
from dr.storage import ObjectStore, open_store

MAX_POINTS = 400  # per series: the report stays small whatever the sampling interval


def history_series(
    settings: Settings, state: StateStore, spec: DrillSettings, *, days: int
) -> tuple[Series, ...]:
    """The RPO series of each flow and job the drill covers, over the last ``days``, thinned
    to at most MAX_POINTS by keeping the worst value of each bucket (a breach never
    disappears from the chart). A flow or job with no samples gets an empty series."""
    since = now() - timedelta(days=days)
    wanted: list[tuple[str, str, str]] = []
    if spec.scenarios.mirror is not None:
        wanted += [("rpo-flow", "flow", f) for f in spec.scenarios.mirror.flows]
    if (
        spec.scenarios.failover is not None
        and ("rpo-flow", "flow", spec.scenarios.failover.flow) not in wanted
    ):
        wanted.append(("rpo-flow", "flow", spec.scenarios.failover.flow))
    if spec.scenarios.backup_restore is not None:
        wanted += [("rpo-job", "job", j) for j in spec.scenarios.backup_restore.jobs]
    out: list[Series] = []
    for kind, label, subject in wanted:
        samples = state.samples(RPO_METRIC, since, {label: subject})
        step = max(1, -(-len(samples) // MAX_POINTS))
        points = []
        for i in range(0, len(samples), step):
            bucket = samples[i : i + step]
            worst = max(bucket, key=lambda s: s.value)
            points.append(SeriesPoint(iso(worst.at), round(worst.value, 3)))
        target = rpo_target(settings, label, subject)
        out.append(Series(kind, subject, target, tuple(points)))  # type: ignore[arg-type]
    return tuple(out)


def past_drills(
    state: StateStore, drill: str, *, exclude: str, limit: int = 50
) -> tuple[PastDrill, ...]:
    """Earlier finished runs of the same drill, oldest first, with their worst measured RTO and
    RPO (None when none was measured)."""
    runs = [
        r
        for r in state.drill_runs(drill=drill, limit=limit + 1)
        if r.drill_id != exclude and r.status != "running" and r.finished_at is not None
    ][:limit]
    return tuple(
        PastDrill(
            drill_id=r.drill_id,
            finished_at=iso(r.finished_at),  # type: ignore[arg-type]
            outcome=r.status,  # type: ignore[arg-type]
            rto_seconds=r.summary.get("rto_seconds"),
            rpo_seconds=r.summary.get("rpo_seconds"),
        )
        for r in reversed(runs)
    )


def drill_entries(settings: Settings, *, limit: int = 100) -> list[dict[str, Any]]:
    """Past drills, newest first, as `drill list` shows them: a drill still marked running
    whose process is gone is ``killed`` (its scratch topics go with the next drill)."""
    state = StateStore(settings.state)  # type: ignore[arg-type]
    out = []
    for run in state.drill_runs(limit=limit):
        status: str = run.status
        if status == "running" and not _alive(run.pid):
            status = "killed"
        out.append(
            {
                "drill_id": run.drill_id,
                "drill": run.drill,
                "status": status,
                "started_at": iso(run.started_at),
                "finished_at": iso(run.finished_at) if run.finished_at else None,
                **dict(run.summary),
            }
        )
    return out


def load_drill(settings: Settings, drill_id: str) -> dict[str, Any]:
    """The report payload of one drill, from its JSON file or, failing that, the store.
    Raises UsageError when no drill has that id, DrError when its report cannot be read."""
    state = StateStore(settings.state)  # type: ignore[arg-type]
    run = state.drill_run(drill_id)
    if run is None:
        raise UsageError(f"no drill with id '{drill_id}' (see kafka-dr drill list)")
    summary = dict(run.summary)
    path = summary.get("json")
    raw: bytes | None = None
    if path and Path(path).is_file():
        raw = Path(path).read_bytes()
    elif summary.get("store_json"):
        store = report_store(settings, run.drill)
        if store is not None:
            raw = store.get_bytes(str(summary["store_json"]))
    if raw is None:
        raise DrError(f"drill {drill_id} left no report (status {run.status}; killed or failed?)")
    try:
        envelope = json.loads(raw)
        return dict(envelope["report"])
    except (ValueError, KeyError, TypeError):
        raise DrError(f"the report of drill {drill_id} ({path}) is not a drill report") from None


def report_store(settings: Settings, drill: str) -> ObjectStore | None:
    """The store a drill's reports are kept in: its own, its first job's, or the first one."""
    spec = settings.drills.get(drill)
    name = spec.storage if spec else None
    if name is None and spec is not None and spec.scenarios.backup_restore is not None:
        name = settings.backups[spec.scenarios.backup_restore.jobs[0]].storage
    if name is None and settings.storage:
        name = next(iter(settings.storage))
    return open_store(settings.storage[name]) if name else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
