"""Procedure journals: the JSON state a procedure resumes from, one per kind and key."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

from dr.state.database import Database, to_epoch


class Journals(Database):
    """The journals table: saved (replaced), loaded and deleted whole."""

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
                (kind, key, text, to_epoch(None)),
            )

    def load_journal(self, kind: str, key: str) -> dict[str, Any] | None:
        """The journal ``kind``/``key`` as last saved, or None."""
        with self._read() as db:
            row = db.execute(
                "SELECT data FROM journals WHERE kind = ? AND key = ?", (kind, key)
            ).fetchone()
        return None if row is None else cast(dict[str, Any], json.loads(row[0]))

    def delete_journal(self, kind: str, key: str) -> bool:
        """Forget the journal ``kind``/``key``; returns whether there was one."""
        with self._write() as db:
            cursor = db.execute("DELETE FROM journals WHERE kind = ? AND key = ?", (kind, key))
        return cursor.rowcount > 0

    def journals_of(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        """Every journal of ``kind`` as (key, data), by key."""
        with self._read() as db:
            rows = db.execute(
                "SELECT key, data FROM journals WHERE kind = ? ORDER BY key", (kind,)
            ).fetchall()
        return [(key, cast(dict[str, Any], json.loads(data))) for key, data in rows]
