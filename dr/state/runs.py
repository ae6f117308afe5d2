"""The runs of jobs and operations: started, finished (succeeded, failed, cancelled) or skipped
because another run held the lock; and the runs a dead process left 'running'.

Nothing secret is stored: error texts are passed through ``redact_text`` and cut to one line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, cast

from dr.log import get_logger, redact_text
from dr.state.database import Database, StateError, from_epoch, to_epoch

log = get_logger(__name__)

RunStatus = Literal["running", "succeeded", "failed", "cancelled", "skipped"]
# "skipped": the run did not start because another run of the same procedure held its lock;
# it is neither a failure nor a success.
FinalStatus = Literal["succeeded", "failed", "cancelled", "skipped"]

INTERRUPTED = "interrupted (process died)"
_MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class RunRecord:
    """One run of a job, as recorded; ``finished_at`` and ``duration_s`` are None while running.

    ``kind`` is the kind of operation (``backup``...); a skipped run has ``error`` = the reason.
    """

    id: int
    job: str
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None
    backup_id: str | None
    records: int
    bytes: int
    error: str | None
    kind: str = "backup"

    @property
    def duration_s(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class RunHistory(Database):
    """The job_runs table: one row per run of a job (an operation of some kind)."""

    def start_run(self, job: str, *, kind: str = "backup", at: datetime | None = None) -> int:
        """Record that a run of ``job`` (an operation of ``kind``) started; returns its id.

        Raises StateError.
        """
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO job_runs (kind, job, status, started_at, pid) "
                "VALUES (?, ?, 'running', ?, ?)",
                (kind, job, to_epoch(at), os.getpid()),
            )
        run_id = cursor.lastrowid
        assert run_id is not None
        return run_id

    def finish_run(
        self,
        run_id: int,
        *,
        status: FinalStatus,
        backup_id: str | None = None,
        records: int = 0,
        bytes: int = 0,
        error: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Record how a run ended. Raises StateError when the run is unknown or already ended."""
        with self._write() as db:
            cursor = db.execute(
                "UPDATE job_runs SET status = ?, finished_at = ?, backup_id = ?, records = ?, "
                "bytes = ?, error = ? WHERE id = ? AND status = 'running'",
                (status, to_epoch(at), backup_id, records, bytes, _one_line(error), run_id),
            )
        if cursor.rowcount != 1:
            raise StateError(f"state store {self.path}: run {run_id} is unknown or already ended")

    def record_skipped(
        self, job: str, *, reason: str, kind: str = "backup", at: datetime | None = None
    ) -> int:
        """Record a run of ``job`` that did not start (another run held the lock), with the
        reason; returns its id. Raises StateError."""
        moment = to_epoch(at)
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO job_runs (kind, job, status, started_at, finished_at, error, pid) "
                "VALUES (?, ?, 'skipped', ?, ?, ?, ?)",
                (kind, job, moment, moment, _one_line(reason), os.getpid()),
            )
        run_id = cursor.lastrowid
        assert run_id is not None
        return run_id

    def last_run(
        self, job: str, *, kind: str = "backup", include_skipped: bool = True
    ) -> RunRecord | None:
        """The most recent run of ``job`` in any status, or None; without the skipped ones
        when ``include_skipped`` is False (a skipped run says nothing of how the job fares)."""
        where = "WHERE kind = ? AND job = ?"
        if not include_skipped:
            where += " AND status != 'skipped'"
        rows = self._runs(where, (kind, job), limit=1)
        return rows[0] if rows else None

    def last_success(self, job: str, *, kind: str = "backup") -> RunRecord | None:
        """The most recent successful run of ``job``, or None."""
        rows = self._runs(
            "WHERE kind = ? AND job = ? AND status = 'succeeded'", (kind, job), limit=1
        )
        return rows[0] if rows else None

    def last_failure(self, job: str, *, kind: str = "backup") -> RunRecord | None:
        """The most recent failed run of ``job``, or None."""
        rows = self._runs("WHERE kind = ? AND job = ? AND status = 'failed'", (kind, job), limit=1)
        return rows[0] if rows else None

    def runs(
        self, job: str | None = None, limit: int = 50, *, kind: str | None = None
    ) -> list[RunRecord]:
        """The latest runs, newest first, of one job or of all, of one kind or of all."""
        where: list[str] = []
        params: list[object] = []
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        if job is not None:
            where.append("job = ?")
            params.append(job)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        return self._runs(clause, tuple(params), limit=limit)

    def recover_interrupted_runs(self) -> int:
        """Mark as failed the runs still 'running' whose process has died; returns how many.

        A run whose process is alive (another kafka-dr command running now) is left alone.
        """
        with self._write() as db:
            running = db.execute("SELECT id, pid FROM job_runs WHERE status = 'running'")
            dead = [(run_id,) for run_id, pid in running.fetchall() if not _alive(pid)]
            now = to_epoch(None)
            db.executemany(
                "UPDATE job_runs SET status = 'failed', finished_at = ?, error = ? WHERE id = ?",
                [(now, INTERRUPTED, run_id) for (run_id,) in dead],
            )
        if dead:
            log.warning("interrupted_runs_recovered", runs=[r for (r,) in dead])
        return len(dead)

    def _runs(self, where: str, params: tuple[object, ...], *, limit: int) -> list[RunRecord]:
        sql = (
            "SELECT id, job, status, started_at, finished_at, backup_id, records, bytes, error, "
            f"kind FROM job_runs {where} ORDER BY id DESC LIMIT ?"
        )
        with self._read() as db:
            rows = db.execute(sql, (*params, limit)).fetchall()
        return [
            RunRecord(
                id=row[0],
                job=row[1],
                status=cast(RunStatus, row[2]),
                started_at=from_epoch(row[3]),
                finished_at=None if row[4] is None else from_epoch(row[4]),
                backup_id=row[5],
                records=row[6],
                bytes=row[7],
                error=row[8],
                kind=row[9],
            )
            for row in rows
        ]


def _one_line(error: str | None) -> str | None:
    if error is None:
        return None
    text = " ".join(redact_text(error).split())
    if len(text) > _MAX_ERROR_CHARS:
        text = text[: _MAX_ERROR_CHARS - 3] + "..."
    return text


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True
