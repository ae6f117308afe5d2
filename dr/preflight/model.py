"""What a preflight reports: named checks, each ok, warn or fail, and the report of them all."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class PreflightCheck:
    """One named check: ``name`` says what was checked (``cluster primary reachable``),
    ``subject`` which configured thing it is about, ``detail`` what was found, ``hint`` what
    to do when it is not ok, ``seconds`` how long it took. A ``critical`` check that finds a
    problem fails the preflight; a problem found by a check that is not critical is a warning
    (as barman's checks are)."""

    name: str
    subject: str
    status: Status
    detail: str
    hint: str | None = None
    seconds: float = 0.0
    critical: bool = True


@dataclass(frozen=True)
class PreflightReport:
    """Every check run, in the order of the config (clusters, stores, tools, mirror, daemon,
    secrets), and how long the whole preflight took."""

    checks: tuple[PreflightCheck, ...]
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """No check failed (warnings do not fail the preflight)."""
        return all(c.status != "fail" for c in self.checks)

    @property
    def failed(self) -> tuple[PreflightCheck, ...]:
        return tuple(c for c in self.checks if c.status == "fail")

    @property
    def warnings(self) -> tuple[PreflightCheck, ...]:
        return tuple(c for c in self.checks if c.status == "warn")


def passed(name: str, subject: str, detail: str, *, seconds: float = 0.0) -> PreflightCheck:
    """A check that found nothing wrong."""
    return PreflightCheck(name, subject, "ok", detail, None, round(seconds, 3))


def problem(
    name: str,
    subject: str,
    detail: str,
    hint: str,
    *,
    critical: bool = True,
    seconds: float = 0.0,
) -> PreflightCheck:
    """A check that found a problem: it fails when critical, warns otherwise."""
    status: Status = "fail" if critical else "warn"
    return PreflightCheck(name, subject, status, detail, hint, round(seconds, 3), critical)


def warning(
    name: str, subject: str, detail: str, hint: str, *, seconds: float = 0.0
) -> PreflightCheck:
    """A check that found something to look at that does not stop kafka-dr."""
    return problem(name, subject, detail, hint, critical=False, seconds=seconds)


@dataclass
class Stopwatch:
    """Seconds since it was made: ``watch = Stopwatch()`` ... ``watch.seconds``."""

    started: float = field(default_factory=time.monotonic)

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started
