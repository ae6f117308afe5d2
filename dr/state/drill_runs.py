"""DR drill runs: one row per drill, created as running and finished with its outcome.

The summary is the small JSON `drill list` and the daemon's metrics read (outcome, checks
failed, measured RTO and RPO, where the reports went); never a secret. A row left running by
a process that died is the trace of a killed drill: the next drill cleans up after it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

from dr.state.database import Database, from_epoch, to_epoch

DrillStatus = Literal["running", "passed", "failed", "error"]


@dataclass(frozen=True)
class DrillRun:
    """One drill run as recorded."""

    drill_id: str
    drill: str
    status: DrillStatus
    started_at: datetime
    finished_at: datetime | None
    summary: Mapping[str, Any]
    pid: int


class DrillRuns(Database):
    """The drill_runs table."""

    def start_drill_run(
        self, drill_id: str, drill: str, *, started_at: datetime, summary: Mapping[str, Any]
    ) -> None:
        """Record a drill as running. Raises StateError (also when drill_id exists)."""
        with self._write() as db:
            db.execute(
                "INSERT INTO drill_runs (drill_id, drill, status, started_at, summary, pid) "
                "VALUES (?, ?, 'running', ?, ?, ?)",
                (drill_id, drill, to_epoch(started_at), _json(summary), os.getpid()),
            )

    def finish_drill_run(
        self, drill_id: str, status: DrillStatus, *, summary: Mapping[str, Any]
    ) -> None:
        """Record how the drill ended. Raises StateError."""
        with self._write() as db:
            db.execute(
                "UPDATE drill_runs SET status = ?, finished_at = ?, summary = ? WHERE drill_id = ?",
                (status, to_epoch(None), _json(summary), drill_id),
            )

    def drill_run(self, drill_id: str) -> DrillRun | None:
        """The drill recorded as drill_id, or None."""
        with self._read() as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM drill_runs WHERE drill_id = ?", (drill_id,))
            found = row.fetchone()
        return None if found is None else _run(found)

    def drill_runs(
        self, *, drill: str | None = None, since: datetime | None = None, limit: int = 100
    ) -> list[DrillRun]:
        """The newest drill runs first (of one drill, and since a time, when given)."""
        where: list[str] = ["started_at >= ?"]
        params: list[object] = [to_epoch(since) if since else 0.0]
        if drill is not None:
            where.append("drill = ?")
            params.append(drill)
        sql = f"SELECT {_COLUMNS} FROM drill_runs WHERE {' AND '.join(where)}"
        with self._read() as db:
            rows = db.execute(sql + " ORDER BY started_at DESC LIMIT ?", (*params, limit))
            return [_run(r) for r in rows.fetchall()]


_COLUMNS = "drill_id, drill, status, started_at, finished_at, summary, pid"


def _json(summary: Mapping[str, Any]) -> str:
    return json.dumps(summary, sort_keys=True, default=str)


def _run(row: tuple[Any, ...]) -> DrillRun:
    drill_id, drill, status, started, finished, summary, pid = row
    return DrillRun(
        drill_id=drill_id,
        drill=drill,
        status=cast(DrillStatus, status),
        started_at=from_epoch(started),
        finished_at=None if finished is None else from_epoch(finished),
        summary=json.loads(summary),
        pid=int(pid),
    )
