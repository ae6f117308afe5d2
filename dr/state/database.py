"""The SQLite file under the state store: created with its directory on first use, in WAL
mode, migrated to the schema this kafka-dr knows; connections opened per call, writes in one
immediate transaction, every SQLite error turned into a StateError naming the file."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from dr.errors import DrError
from dr.log import get_logger
from dr.state.schema import MIGRATIONS

log = get_logger(__name__)


class StateError(DrError):
    """The state store could not be opened, read or written."""


class Database:
    """The SQLite file at ``path``; the base of the store's parts (runs, samples, journals)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._ready = False

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
            if current > len(MIGRATIONS):
                raise StateError(
                    f"state store {self.path} has schema version {current}, newer than this "
                    f"kafka-dr knows ({len(MIGRATIONS)}): upgrade kafka-dr"
                )
            for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
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


def to_epoch(at: datetime | None) -> float:
    """Seconds since the epoch of at (an aware datetime), or of now when at is None; raises
    ValueError for a naive datetime."""
    if at is None:
        return datetime.now(UTC).timestamp()
    if at.tzinfo is None:
        raise ValueError(f"{at.isoformat()} has no time zone; pass an aware datetime")
    return at.timestamp()


def from_epoch(epoch: float) -> datetime:
    """The aware (UTC) datetime of seconds since the epoch."""
    return datetime.fromtimestamp(epoch, UTC)
