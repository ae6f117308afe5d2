"""The embedded state store (SQLite): job runs, time series samples and procedure journals.

The file is created on first use, with its directory, in WAL mode so that readers (the CLI,
/healthz) never wait for the daemon's writers. Each call opens its own connection: a store is
safe to share between threads, and between processes through SQLite's own locking. The schema
is versioned; ``_MIGRATIONS`` only ever grows.

Nothing secret is stored: error texts are passed through ``redact_text`` and cut to one line.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast

from dr.errors import DrError
from dr.log import get_logger, redact_text

log = get_logger(__name__)

RunStatus = Literal["running", "succeeded", "failed", "cancelled", "skipped"]
# "skipped": the run did not start because another run of the same procedure held its lock;
# it is neither a failure nor a success.
FinalStatus = Literal["succeeded", "failed", "cancelled", "skipped"]

INTERRUPTED = "interrupted (process died)"
_MAX_ERROR_CHARS = 2000
_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Each entry moves the schema one version up; never edit one that has shipped.
_MIGRATIONS: list[str] = [
    """
    CREATE TABLE job_runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job TEXT NOT NULL,
        status TEXT NOT NULL
            CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
        started_at REAL NOT NULL,
        finished_at REAL,
        backup_id TEXT,
        records INTEGER NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        pid INTEGER NOT NULL
    );
    CREATE INDEX job_runs_by_job ON job_runs (job, id);
    CREATE INDEX job_runs_by_status ON job_runs (status);
    CREATE TABLE samples (
        metric TEXT NOT NULL,
        labels TEXT NOT NULL,
        at REAL NOT NULL,
        value REAL NOT NULL
    );
    CREATE INDEX samples_by_metric ON samples (metric, at);
    CREATE TABLE journals (
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        data TEXT NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (kind, key)
    );
    """,
    # 2: runs of every kind of operation (backup, prune, restore...), and the status 'skipped'.
    # SQLite cannot change a CHECK constraint in place: the table is rebuilt, ids kept.
    """
    CREATE TABLE job_runs_v2 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL DEFAULT 'backup',
        job TEXT NOT NULL,
        status TEXT NOT NULL
            CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled', 'skipped')),
        started_at REAL NOT NULL,
        finished_at REAL,
        backup_id TEXT,
        records INTEGER NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        pid INTEGER NOT NULL
    );
    INSERT INTO job_runs_v2
        (id, kind, job, status, started_at, finished_at, backup_id, records, bytes, error, pid)
    SELECT id, 'backup', job, status, started_at, finished_at, backup_id, records, bytes, error,
        pid
    FROM job_runs;
    DROP TABLE job_runs;
    ALTER TABLE job_runs_v2 RENAME TO job_runs;
    CREATE INDEX job_runs_by_job ON job_runs (kind, job, id);
    CREATE INDEX job_runs_by_status ON job_runs (status);
    """,
]


class StateError(DrError):
    """The state store could not be opened, read or written."""


class LockHeld(DrError):
    """Another run of the same procedure holds its lock."""


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


@dataclass(frozen=True)
class Sample:
    """One value of a time series at one instant."""

    metric: str
    labels: Mapping[str, str]
    value: float
    at: datetime


class StateStore:
    """The SQLite state store at ``path``; created with its directory on first use."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._ready = False

    # -- job runs -------------------------------------------------------------------------

    def start_run(self, job: str, *, kind: str = "backup", at: datetime | None = None) -> int:
        """Record that a run of ``job`` (an operation of ``kind``) started; returns its id.

        Raises StateError.
        """
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO job_runs (kind, job, status, started_at, pid) "
                "VALUES (?, ?, 'running', ?, ?)",
                (kind, job, _epoch(at), os.getpid()),
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
                (status, _epoch(at), backup_id, records, bytes, _one_line(error), run_id),
            )
        if cursor.rowcount != 1:
            raise StateError(f"state store {self.path}: run {run_id} is unknown or already ended")

    def record_skipped(
        self, job: str, *, reason: str, kind: str = "backup", at: datetime | None = None
    ) -> int:
        """Record a run of ``job`` that did not start (another run held the lock), with the
        reason; returns its id. Raises StateError."""
        moment = _epoch(at)
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
            now = _epoch(None)
            db.executemany(
                "UPDATE job_runs SET status = 'failed', finished_at = ?, error = ? WHERE id = ?",
                [(now, INTERRUPTED, run_id) for (run_id,) in dead],
            )
        if dead:
            log.warning("interrupted_runs_recovered", runs=[r for (r,) in dead])
        return len(dead)

    # -- samples --------------------------------------------------------------------------

    def add_sample(
        self, metric: str, labels: Mapping[str, str], value: float, at: datetime | None = None
    ) -> None:
        """Append one value of the time series ``metric{labels}``. Raises StateError."""
        with self._write() as db:
            db.execute(
                "INSERT INTO samples (metric, labels, at, value) VALUES (?, ?, ?, ?)",
                (metric, _labels_json(labels), _epoch(at), float(value)),
            )

    def samples(
        self, metric: str, since: datetime, labels: Mapping[str, str] | None = None
    ) -> list[Sample]:
        """The samples of ``metric`` at or after ``since``, oldest first.

        With ``labels``, only the samples carrying every one of those label values.
        """
        where = ["metric = ?", "at >= ?"]
        params: list[object] = [metric, _epoch(since)]
        for name, value in (labels or {}).items():
            where.append(f"json_extract(labels, '$.{_label_name(name)}') = ?")
            params.append(value)
        sql = f"SELECT metric, labels, value, at FROM samples WHERE {' AND '.join(where)}"
        with self._read() as db:
            rows = db.execute(sql + " ORDER BY at, rowid", params).fetchall()
        return [
            Sample(metric=m, labels=json.loads(lab), value=v, at=_datetime(at))
            for m, lab, v, at in rows
        ]

    def prune_samples(self, before: datetime) -> int:
        """Delete the samples older than ``before``; returns how many."""
        with self._write() as db:
            cursor = db.execute("DELETE FROM samples WHERE at < ?", (_epoch(before),))
        return cursor.rowcount

    # -- journals -------------------------------------------------------------------------

    def save_journal(self, kind: str, key: str, data: Mapping[str, Any]) -> None:
        """Store (replace) the journal ``kind``/``key``: JSON data a procedure resumes from.

        Raises StateError; ValueError when the data is not JSON. Never put a secret in it.
        """
        try:
            text = json.dumps(data, sort_keys=True)
        except TypeError as exc:
            raise ValueError(f"journal {kind}/{key} is not JSON: {exc}") from None
        with self._write() as db:
            db.execute(
                "INSERT INTO journals (kind, key, data, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (kind, key) DO UPDATE SET data = excluded.data, "
                "updated_at = excluded.updated_at",
                (kind, key, text, _epoch(None)),
            )

    def load_journal(self, kind: str, key: str) -> dict[str, Any] | None:
        """The journal ``kind``/``key`` as last saved, or None."""
        with self._read() as db:
            row = db.execute(
                "SELECT data FROM journals WHERE kind = ? AND key = ?", (kind, key)
            ).fetchone()
        return None if row is None else cast(dict[str, Any], json.loads(row[0]))

    @contextmanager
    def exclusive(self, name: str, *, what: str) -> Iterator[None]:
        """Hold the lock `name` for this host while the block runs (patroni-style: one run of
        a procedure at a time). Raises LockHeld naming `what` and the holder's pid."""
        folder = self.path.parent / f"{self.path.name}.locks"
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / f"{name}.lock").open("a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "?"
                raise LockHeld(f"{what} is already running (pid {holder}); wait for it") from None
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            try:
                yield
            finally:
                handle.truncate(0)
                fcntl.flock(handle, fcntl.LOCK_UN)

    def delete_journal(self, kind: str, key: str) -> bool:
        """Forget the journal ``kind``/``key``; returns whether there was one."""
        with self._write() as db:
            cursor = db.execute("DELETE FROM journals WHERE kind = ? AND key = ?", (kind, key))
        return cursor.rowcount > 0

    # -- plumbing -------------------------------------------------------------------------

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
                started_at=_datetime(row[3]),
                finished_at=None if row[4] is None else _datetime(row[4]),
                backup_id=row[5],
                records=row[6],
                bytes=row[7],
                error=row[8],
                kind=row[9],
            )
            for row in rows
        ]

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as db:
            yield db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        # The lock spares this process's threads SQLite's busy-waiting; BEGIN IMMEDIATE and the
        # busy timeout order the writers of other processes.
        self._initialise()
        with self._lock, self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.rollback()
                raise
            db.commit()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        if not self._ready:
            self._initialise()
        try:
            db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            # With WAL, NORMAL cannot corrupt the file and survives a crash of the process; only
            # a power cut may lose the last commits. FULL would fsync every run and sample.
            db.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as exc:
            raise self._error("cannot open", exc) from exc
        try:
            yield db
        except sqlite3.Error as exc:
            raise self._error("cannot read or write", exc) from exc
        finally:
            db.close()

    def _initialise(self) -> None:
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            except (OSError, sqlite3.Error) as exc:
                raise self._error("cannot create", exc) from exc
            try:
                db.execute("PRAGMA journal_mode=WAL")
                self._migrate(db)
            except sqlite3.Error as exc:
                raise self._error("cannot prepare", exc) from exc
            finally:
                db.close()
            self._ready = True

    def _migrate(self, db: sqlite3.Connection) -> None:
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
            current = row[0] or 0
            if current > len(_MIGRATIONS):
                raise StateError(
                    f"state store {self.path} has schema version {current}, newer than this "
                    f"kafka-dr knows ({len(_MIGRATIONS)}): upgrade kafka-dr"
                )
            for version, script in enumerate(_MIGRATIONS[current:], start=current + 1):
                for statement in _statements(script):
                    db.execute(statement)
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
                log.info("state_store_migrated", path=str(self.path), version=version)
        except BaseException:
            db.rollback()
            raise
        db.commit()

    def _error(self, doing: str, exc: BaseException) -> StateError:
        return StateError(
            f"state store {self.path}: {doing} ({exc}); check the path and its permissions"
        )


def _statements(script: str) -> list[str]:
    # executescript would COMMIT the open transaction; run the statements one by one instead.
    return [s.strip() for s in script.split(";") if s.strip()]


def _epoch(at: datetime | None) -> float:
    if at is None:
        return datetime.now(UTC).timestamp()
    if at.tzinfo is None:
        raise ValueError(f"{at.isoformat()} has no time zone; pass an aware datetime")
    return at.timestamp()


def _datetime(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _one_line(error: str | None) -> str | None:
    if error is None:
        return None
    text = " ".join(redact_text(error).split())
    if len(text) > _MAX_ERROR_CHARS:
        text = text[: _MAX_ERROR_CHARS - 3] + "..."
    return text


def _label_name(name: str) -> str:
    if not _LABEL_NAME.match(name):
        raise ValueError(f"'{name}' is not a label name (letters, digits and '_')")
    return name


def _labels_json(labels: Mapping[str, str]) -> str:
    for name in labels:
        _label_name(name)
    return json.dumps({k: str(v) for k, v in labels.items()}, sort_keys=True)


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
