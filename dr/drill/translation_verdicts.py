"""What the translation check finds, as data: the records read around a translated offset
(Probe), what they say about it (PartitionVerdict, decided by dr.drill.translation_check) and a
group's judgement over its partitions (judge_group). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from dr.drill.model import CheckOutcome
from dr.kafka.reader import RecordAt
from dr.mirror.translate import Basis, MissingKind, MissingOffset

Verdict = Literal[
    "exact", "redelivered", "at-end", "pending", "skipped", "past-end", "beyond-bound", "unverified"
]
PASSED: frozenset[Verdict] = frozenset({"exact", "redelivered", "at-end", "pending"})
FAILED: frozenset[Verdict] = frozenset({"skipped", "past-end", "beyond-bound"})
# Partitions that cannot be translated for a reason the config gives are no finding.
BY_DESIGN: frozenset[MissingKind] = frozenset({"not-replicated", "group-excluded"})


@dataclass(frozen=True)
class Window:
    """The records of one partition read in offsets [start, stop); ``complete`` is False when
    the read's deadline came before it got them all."""

    start: int
    stop: int
    records: tuple[RecordAt, ...] = ()
    complete: bool = True


@dataclass(frozen=True)
class Probe:
    """One translated partition of a group, with the records read around C and T."""

    group: str
    topic: str  # the source-side name
    target_topic: str
    partition: int
    committed: int  # C: the group's commit on the source (or what its checkpoint translated)
    translated: int  # T
    basis: Basis
    bound: int | None  # the most records the translation says the group re-reads
    source: Window
    target: Window
    source_end: int
    target_end: int
    target_cluster: str = "the target"
    # S's copy on the target outside the window read around T, found by its timestamp.
    elsewhere: RecordAt | None = None


@dataclass(frozen=True)
class PartitionVerdict:
    """What the records say about one probe; ``problem`` is one line when it did not pass."""

    probe: Probe
    verdict: Verdict
    problem: str | None = None
    source_offset: int | None = None  # S's offset
    source_digest: str | None = None
    target_digest: str | None = None  # R's
    target_record_source_offset: int | None = None  # which source record R is, when known
    target_offset_found: int | None = None  # where S's copy is on the target
    redelivered: int | None = None
    skipped: int | None = None

    @property
    def outcome(self) -> CheckOutcome:
        if self.verdict in PASSED:
            return "passed"
        return "failed" if self.verdict in FAILED else "warning"

    def evidence(self) -> dict[str, Any]:
        p = self.probe
        return {
            "group": p.group,
            "topic": p.topic,
            "partition": p.partition,
            "target_topic": p.target_topic,
            "committed": p.committed,
            "translated": p.translated,
            "basis": p.basis,
            "max_redelivered": p.bound,
            "verdict": self.verdict,
            "source_offset": self.source_offset,
            "source_digest": self.source_digest,
            "target_digest": self.target_digest,
            "target_record_source_offset": self.target_record_source_offset,
            "target_offset_found": self.target_offset_found,
            "redelivered": self.redelivered,
            "skipped": self.skipped,
            "source_read": [p.source.start, p.source.stop],
            "target_read": [p.target.start, p.target.stop],
            "found_by_timestamp": p.elsewhere is not None,
            "problem": self.problem,
        }


@dataclass(frozen=True)
class GroupJudgement:
    """A group's translation check: its outcome and the one line a person reads first."""

    outcome: CheckOutcome
    summary: str


def judge_group(
    group: str,
    target: str,
    verdicts: Sequence[PartitionVerdict],
    *,
    missing: Sequence[MissingOffset] = (),
    unchecked: Sequence[str] = (),
) -> GroupJudgement:
    """Failed when a partition failed (the first one named); a warning when one could not be
    verified or translated, or nothing was checked at all; passed otherwise."""
    failed = [v for v in verdicts if v.outcome == "failed"]
    if failed:
        more = len(failed) - 1
        tail = f" (and {more} more partition{'s' if more > 1 else ''})" if more else ""
        return GroupJudgement("failed", f"{failed[0].problem}{tail}")
    untranslated = [m for m in missing if m.kind not in BY_DESIGN]
    doubts = [v.problem or v.verdict for v in verdicts if v.outcome == "warning"]
    doubts += [
        f"group {group}: {m.topic}-{m.partition} (commit {m.source_committed}) cannot be "
        f"translated: {m.reason}"
        for m in untranslated
    ]
    doubts += list(unchecked)
    if not verdicts:
        why = doubts[0] if doubts else f"group {group}: no translated partition on {target}"
        return GroupJudgement("warning", f"{why} (nothing to check)")
    if doubts:
        total = len(verdicts) + len(untranslated) + len(unchecked)
        return GroupJudgement(
            "warning", f"{doubts[0]} ({len(doubts)} of {total} partitions not verified)"
        )
    exact = sum(v.verdict == "exact" for v in verdicts)
    again = [v.redelivered or 0 for v in verdicts if v.verdict != "exact"]
    detail = f"{exact} exact" + (f", up to {max(again)} records re-read" if again else "")
    return GroupJudgement(
        "passed",
        f"group {group}: {len(verdicts)} partitions resume on {target} at the record they "
        f"left off at on the source ({detail})",
    )
