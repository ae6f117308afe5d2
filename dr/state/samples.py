"""Time series samples (RPO, lag...): one value of ``metric{labels}`` at one instant."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from dr.state.database import Database, from_epoch, to_epoch

_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Sample:
    """One value of a time series at one instant."""

    metric: str
    labels: Mapping[str, str]
    value: float
    at: datetime


class SampleSeries(Database):
    """The samples table: values appended, selected by time window and labels, pruned."""

    def add_sample(
        self, metric: str, labels: Mapping[str, str], value: float, at: datetime | None = None
    ) -> None:
        """Append one value of the time series ``metric{labels}``. Raises StateError."""
        with self._write() as db:
            db.execute(
                "INSERT INTO samples (metric, labels, at, value) VALUES (?, ?, ?, ?)",
                (metric, _labels_json(labels), to_epoch(at), float(value)),
            )

    def samples(
        self, metric: str, since: datetime, labels: Mapping[str, str] | None = None
    ) -> list[Sample]:
        """The samples of ``metric`` at or after ``since``, oldest first.

        With ``labels``, only the samples carrying every one of those label values.
        """
        where = ["metric = ?", "at >= ?"]
        params: list[object] = [metric, to_epoch(since)]
        for name, value in (labels or {}).items():
            where.append(f"json_extract(labels, '$.{_label_name(name)}') = ?")
            params.append(value)
        sql = f"SELECT metric, labels, value, at FROM samples WHERE {' AND '.join(where)}"
        with self._read() as db:
            rows = db.execute(sql + " ORDER BY at, rowid", params).fetchall()
        return [
            Sample(metric=m, labels=json.loads(lab), value=v, at=from_epoch(at))
            for m, lab, v, at in rows
        ]

    def prune_samples(self, before: datetime) -> int:
        """Delete the samples older than ``before``; returns how many."""
        with self._write() as db:
            cursor = db.execute("DELETE FROM samples WHERE at < ?", (to_epoch(before),))
        return cursor.rowcount


def _label_name(name: str) -> str:
    if not _LABEL_NAME.match(name):
        raise ValueError(f"'{name}' is not a label name (letters, digits and '_')")
    return name


def _labels_json(labels: Mapping[str, str]) -> str:
    for name in labels:
        _label_name(name)
    return json.dumps({k: str(v) for k, v in labels.items()}, sort_keys=True)
