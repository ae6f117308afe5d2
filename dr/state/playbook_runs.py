"""Playbook runs and their journal: one row per run, and an append-only list of step events.

A run's events are only ever appended (``step_started``, ``step_done``, ``step_failed``,
``hook``...): the journal of a run killed at any point says exactly how far it got, and a
resumed run appends to the same list. Details are JSON; never a secret (errors are redacted
and cut to one line by the engine before they get here).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

from dr.state.database import Database, from_epoch, to_epoch

PlaybookStatus = Literal["running", "completed", "failed", "interrupted"]


@dataclass(frozen=True)
class PlaybookRun:
    """One run of a playbook as recorded: what it was asked and how it ended (so far)."""

    run_id: str
    playbook: str
    pair: str  # "SOURCE->TARGET"
    params: Mapping[str, Any]
    status: PlaybookStatus
    started_at: datetime
    incident_start: datetime
    finished_at: datetime | None
    error: str | None
    pid: int


@dataclass(frozen=True)
class PlaybookEvent:
    """One entry of a run's journal."""

    seq: int
    step: str
    event: str
    at: datetime
    detail: Mapping[str, Any]


class PlaybookRuns(Database):
    """The playbook_runs and playbook_events tables."""

    def create_playbook_run(
        self,
        run_id: str,
        *,
        playbook: str,
        pair: str,
        params: Mapping[str, Any],
        started_at: datetime,
        incident_start: datetime,
    ) -> None:
        """Record a new run as running. Raises StateError (also when run_id exists)."""
        with self._write() as db:
            db.execute(
                "INSERT INTO playbook_runs (run_id, playbook, pair, params, status, started_at, "
                "incident_start, pid) VALUES (?, ?, ?, ?, 'running', ?, ?, ?)",
                (
                    run_id,
                    playbook,
                    pair,
                    json.dumps(params, sort_keys=True),
                    to_epoch(started_at),
                    to_epoch(incident_start),
                    os.getpid(),
                ),
            )

    def set_playbook_status(
        self, run_id: str, status: PlaybookStatus, *, error: str | None = None
    ) -> None:
        """Mark the run running again (resumed, by this process) or ended with status."""
        finished = None if status == "running" else to_epoch(None)
        with self._write() as db:
            db.execute(
                "UPDATE playbook_runs SET status = ?, finished_at = ?, error = ?, pid = ? "
                "WHERE run_id = ?",
                (status, finished, error, os.getpid(), run_id),
            )

    def append_playbook_event(
        self, run_id: str, step: str, event: str, detail: Mapping[str, Any] | None = None
    ) -> None:
        """Append one event to the run's journal. Raises StateError, ValueError (not JSON)."""
        try:
            text = json.dumps(dict(detail or {}), sort_keys=True)
        except TypeError as exc:
            raise ValueError(f"journal event {step}/{event} is not JSON: {exc}") from None
        with self._write() as db:
            db.execute(
                "INSERT INTO playbook_events (run_id, step, event, at, detail) "
                "VALUES (?, ?, ?, ?, ?)",
                (run_id, step, event, to_epoch(None), text),
            )

    def playbook_run(self, run_id: str) -> PlaybookRun | None:
        """The run recorded as run_id, or None."""
        with self._read() as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM playbook_runs WHERE run_id = ?", (run_id,))
            found = row.fetchone()
        return None if found is None else _run(found)

    def playbook_runs(self, limit: int = 50) -> list[PlaybookRun]:
        """The newest runs first."""
        with self._read() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM playbook_runs ORDER BY started_at DESC LIMIT ?", (limit,)
            ).fetchall()
        return [_run(r) for r in rows]

    def playbook_events(self, run_id: str) -> list[PlaybookEvent]:
        """The run's journal, oldest first."""
        with self._read() as db:
            rows = db.execute(
                "SELECT seq, step, event, at, detail FROM playbook_events WHERE run_id = ? "
                "ORDER BY seq",
                (run_id,),
            ).fetchall()
        return [
            PlaybookEvent(seq, step, event, from_epoch(at), json.loads(detail))
            for seq, step, event, at, detail in rows
        ]


_COLUMNS = (
    "run_id, playbook, pair, params, status, started_at, incident_start, finished_at, error, pid"
)


def _run(row: tuple[Any, ...]) -> PlaybookRun:
    run_id, playbook, pair, params, status, started, incident, finished, error, pid = row
    return PlaybookRun(
        run_id=run_id,
        playbook=playbook,
        pair=pair,
        params=json.loads(params),
        status=cast(PlaybookStatus, status),
        started_at=from_epoch(started),
        incident_start=from_epoch(incident),
        finished_at=None if finished is None else from_epoch(finished),
        error=error,
        pid=int(pid),
    )
