"""The ledger of a lab application (DIR/apps/NAME.ledger): one JSON line per record the app
saw acknowledged or consumed, and the reconciliation of a set of ledgers (lost and duplicated
keys, per cluster).

A line is written with one ``write`` on a file opened for appending, so a reader that looks
while the app runs sees whole lines, and a ``kill -9`` of the app loses at most the line being
formatted: an incomplete last line is ignored by the reader.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from dr.errors import LabError

Event = Literal["acked", "consumed"]
EVENTS: tuple[Event, ...] = ("acked", "consumed")


@dataclass(frozen=True)
class LedgerEntry:
    """One record as an application saw it: acknowledged by the cluster, or consumed."""

    event: Event
    key: str
    topic: str
    partition: int
    offset: int
    cluster_bootstrap: str
    time: datetime
    group: str | None = None  # the consumer group, on consumed entries

    def to_line(self) -> str:
        """The entry as one JSON line (with its newline)."""
        payload: dict[str, object] = {
            "event": self.event,
            "key": self.key,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "cluster_bootstrap": self.cluster_bootstrap,
            "time": self.time.isoformat(),
        }
        if self.group is not None:
            payload["group"] = self.group
        return json.dumps(payload, separators=(",", ":")) + "\n"


class LedgerWriter:
    """Appends entries to a ledger file, one ``write`` per line, nothing buffered."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, entry: LedgerEntry) -> None:
        os.write(self._fd, entry.to_line().encode())

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def parse_line(line: str, *, where: str) -> LedgerEntry:
    """One ledger line as an entry; raises LabError naming where (file:line) when it is not one."""
    try:
        raw = json.loads(line)
        event = raw["event"]
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r}")
        stamp = datetime.fromisoformat(raw["time"])
        group = raw.get("group")
        return LedgerEntry(
            event=event,
            key=str(raw["key"]),
            topic=str(raw["topic"]),
            partition=int(raw["partition"]),
            offset=int(raw["offset"]),
            cluster_bootstrap=str(raw["cluster_bootstrap"]),
            time=stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC),
            group=str(group) if group is not None else None,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise LabError(f"{where}: not a ledger entry ({exc})") from None


def read_ledger(path: Path) -> list[LedgerEntry]:
    """Every entry of a ledger, in the order written; [] when the file does not exist.

    An incomplete last line (no newline: the app is writing it, or was killed while writing it)
    is left out; any other unreadable line raises LabError naming its file and line number.
    """
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    lines = text.split("\n")
    complete = lines[:-1]  # the part after the last newline is incomplete (or empty)
    return [
        parse_line(line, where=f"{path}:{number}")
        for number, line in enumerate(complete, start=1)
        if line.strip()
    ]


@dataclass(frozen=True)
class ClusterTally:
    """What happened on one cluster (named by the bootstrap servers the apps used)."""

    cluster_bootstrap: str
    acked: int
    consumed: int
    lost: tuple[str, ...]  # acknowledged here, consumed nowhere
    duplicated: dict[str, int]  # key -> times consumed here, when more than once


@dataclass(frozen=True)
class Reconciliation:
    """Acknowledged against consumed records, for a set of ledgers.

    ``lost``: acknowledged and never consumed anywhere. ``duplicated``: consumed more than once
    (key -> times, across clusters). ``unacknowledged``: consumed but never seen acknowledged
    (a produce whose acknowledgement did not reach the app, or a key from outside the set).
    """

    acked: int
    consumed: int
    lost: tuple[str, ...]
    duplicated: dict[str, int]
    unacknowledged: tuple[str, ...]
    clusters: dict[str, ClusterTally] = field(default_factory=dict)

    @property
    def duplicates(self) -> int:
        """How many extra deliveries there were (a key consumed 3 times counts 2)."""
        return sum(n - 1 for n in self.duplicated.values())


def reconcile(entries: Iterable[LedgerEntry], *, group: str | None = None) -> Reconciliation:
    """Compare what the apps saw acknowledged with what they consumed.

    With ``group``, only that consumer group's consumption counts (ledgers of several groups
    each consume every record once). Keys are compared across clusters: a record acknowledged on
    primary and consumed on dr after a failover is not lost.
    """
    acked_on: dict[str, str] = {}  # key -> cluster where it was first acknowledged
    consumed: Counter[str] = Counter()
    consumed_on: dict[str, Counter[str]] = {}
    acked_count: Counter[str] = Counter()
    for entry in entries:
        if entry.event == "acked":
            acked_on.setdefault(entry.key, entry.cluster_bootstrap)
            acked_count[entry.cluster_bootstrap] += 1
        elif group is None or entry.group == group:
            consumed[entry.key] += 1
            consumed_on.setdefault(entry.cluster_bootstrap, Counter())[entry.key] += 1
    lost = tuple(key for key in acked_on if key not in consumed)
    clusters = {
        bootstrap: ClusterTally(
            cluster_bootstrap=bootstrap,
            acked=acked_count[bootstrap],
            consumed=sum(consumed_on.get(bootstrap, Counter()).values()),
            lost=tuple(key for key in lost if acked_on[key] == bootstrap),
            duplicated={k: n for k, n in consumed_on.get(bootstrap, Counter()).items() if n > 1},
        )
        for bootstrap in sorted(set(acked_count) | set(consumed_on))
    }
    return Reconciliation(
        acked=len(acked_on),
        consumed=sum(consumed.values()),
        lost=lost,
        duplicated={key: n for key, n in consumed.items() if n > 1},
        unacknowledged=tuple(key for key in consumed if key not in acked_on),
        clusters=clusters,
    )


def reconcile_files(paths: Iterable[Path], *, group: str | None = None) -> Reconciliation:
    """reconcile() over the entries of several ledger files."""
    return reconcile((e for path in paths for e in read_ledger(path)), group=group)
