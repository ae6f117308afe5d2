"""Reassignment plans for adding and removing a broker: pure decisions, no cluster calls.

Adding broker N: replicas move onto N, one at a time, from the broker holding the most
replicas, until no broker holds two more than N (a balanced share: N ends with
floor(replicas/brokers) or so). Each move takes the donor's smallest partition (fewest bytes
moved; ties by name) that N does not already host and whose replica set does not lose a rack.

Removing broker N: every replica on N moves, and nothing else (the fewest moves there are).
Each goes, largest partition first, to the broker that keeps the replica set on the most
distinct racks, then holds the fewest replicas, then has the lowest id. A partition whose
replication factor the remaining brokers cannot hold is an error naming it.

A moved replica takes the slot of the one it replaces, so the preferred leader moves with it.
Racks: ``None`` for a broker without one; a set with no racks at all is never constrained.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from dr.errors import UsageError

TP = tuple[str, int]
Kind = Literal["add", "remove"]


@dataclass(frozen=True)
class Move:
    """One partition's replica set, before and after; ``bytes`` is what the new replica copies."""

    topic: str
    partition: int
    before: tuple[int, ...]
    after: tuple[int, ...]
    bytes: int

    @property
    def tp(self) -> TP:
        return (self.topic, self.partition)

    @property
    def name(self) -> str:
        return f"{self.topic}-{self.partition}"

    def as_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "before": list(self.before),
            "after": list(self.after),
            "bytes": self.bytes,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Move:
        return cls(
            topic=str(doc["topic"]),
            partition=int(doc["partition"]),
            before=tuple(int(b) for b in doc["before"]),
            after=tuple(int(b) for b in doc["after"]),
            bytes=int(doc["bytes"]),
        )


@dataclass(frozen=True)
class ReassignmentPlan:
    """What a broker add or remove moves, and each broker's replica count before and after."""

    kind: Kind
    broker: int
    moves: tuple[Move, ...]
    replicas_before: Mapping[int, int]
    replicas_after: Mapping[int, int]
    size_source: str

    @property
    def moved_bytes(self) -> int:
        return sum(m.bytes for m in self.moves)

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "broker": self.broker,
            "moves": [m.as_json() for m in self.moves],
            "replicas_before": {str(b): n for b, n in sorted(self.replicas_before.items())},
            "replicas_after": {str(b): n for b, n in sorted(self.replicas_after.items())},
            "moved_bytes": self.moved_bytes,
            "size_source": self.size_source,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> ReassignmentPlan:
        kind: Kind = "add" if doc["kind"] == "add" else "remove"
        return cls(
            kind=kind,
            broker=int(doc["broker"]),
            moves=tuple(Move.from_json(m) for m in doc["moves"]),
            replicas_before={int(b): int(n) for b, n in doc["replicas_before"].items()},
            replicas_after={int(b): int(n) for b, n in doc["replicas_after"].items()},
            size_source=str(doc["size_source"]),
        )


def replica_counts(placement: Mapping[TP, tuple[int, ...]], brokers: list[int]) -> dict[int, int]:
    """How many replicas each broker holds (brokers holding none included)."""
    counts = Counter(b for replicas in placement.values() for b in replicas)
    return {b: counts.get(b, 0) for b in sorted(set(brokers) | set(counts))}


def plan_add(
    placement: Mapping[TP, tuple[int, ...]],
    sizes: Mapping[TP, int],
    *,
    brokers: list[int],
    new_broker: int,
    racks: Mapping[int, str | None],
    size_source: str,
) -> ReassignmentPlan:
    """The moves that give ``new_broker`` a balanced share (see the module); raises UsageError
    when it is not among ``brokers``."""
    if new_broker not in brokers:
        raise UsageError(f"broker {new_broker} is not online: start it before 'broker add'")
    current = {tp: tuple(r) for tp, r in placement.items()}
    counts = replica_counts(current, brokers)
    before = dict(counts)
    moves: dict[TP, Move] = {}
    while True:
        move = _next_add_move(current, sizes, counts, new_broker, racks)
        if move is None:
            break
        donor = next(b for b in move.before if b not in move.after)
        counts[donor] -= 1
        counts[new_broker] += 1
        current[move.tp] = move.after
        moves[move.tp] = move
    ordered = tuple(sorted(moves.values(), key=lambda m: m.tp))
    return ReassignmentPlan("add", new_broker, ordered, before, dict(counts), size_source)


def _next_add_move(
    current: Mapping[TP, tuple[int, ...]],
    sizes: Mapping[TP, int],
    counts: Mapping[int, int],
    new_broker: int,
    racks: Mapping[int, str | None],
) -> Move | None:
    donors = sorted(
        (b for b in counts if b != new_broker and counts[b] - counts[new_broker] >= 2),
        key=lambda b: (-counts[b], b),
    )
    for donor in donors:
        candidates = sorted(
            (
                tp
                for tp, replicas in current.items()
                if donor in replicas and new_broker not in replicas
            ),
            key=lambda tp: (sizes.get(tp, 0), tp),
        )
        for tp in candidates:
            replicas = current[tp]
            after = tuple(new_broker if b == donor else b for b in replicas)
            if _rack_spread(after, racks) >= _rack_spread(replicas, racks):
                return Move(tp[0], tp[1], replicas, after, sizes.get(tp, 0))
    return None


def plan_remove(
    placement: Mapping[TP, tuple[int, ...]],
    sizes: Mapping[TP, int],
    *,
    brokers: list[int],
    leaving: int,
    racks: Mapping[int, str | None],
    size_source: str,
) -> ReassignmentPlan:
    """The moves that take every replica off ``leaving`` (see the module); raises UsageError
    naming the first partition the remaining brokers cannot hold."""
    remaining = sorted(b for b in set(brokers) if b != leaving)
    current = {tp: tuple(r) for tp, r in placement.items()}
    counts = replica_counts(current, remaining)
    before = replica_counts(current, [*remaining, leaving])
    counts.pop(leaving, None)
    hosted = sorted(
        (tp for tp, replicas in current.items() if leaving in replicas),
        key=lambda tp: (-sizes.get(tp, 0), tp),
    )
    moves = []
    for tp in hosted:
        replicas = current[tp]
        options = [b for b in remaining if b not in replicas]
        if not options:
            raise UsageError(
                f"partition {tp[0]}-{tp[1]} has {len(replicas)} replicas and only "
                f"{len(remaining)} brokers would remain: lower its replication factor or add a "
                f"broker before removing broker {leaving}"
            )

        def score(b: int, replicas: tuple[int, ...] = replicas) -> tuple[int, int, int]:
            after = tuple(b if r == leaving else r for r in replicas)
            return (-_rack_spread(after, racks), counts[b], b)

        target = min(options, key=score)
        after = tuple(target if r == leaving else r for r in replicas)
        counts[target] += 1
        moves.append(Move(tp[0], tp[1], replicas, after, sizes.get(tp, 0)))
    after_counts = {**counts, leaving: 0}
    ordered = tuple(sorted(moves, key=lambda m: m.tp))
    return ReassignmentPlan("remove", leaving, ordered, before, after_counts, size_source)


def _rack_spread(replicas: tuple[int, ...], racks: Mapping[int, str | None]) -> int:
    """How many distinct racks the replicas are on; a broker without a rack counts as its own."""
    return len({racks.get(b) or f"broker-{b}" for b in replicas})
