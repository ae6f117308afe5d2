"""How a backup job or a drill stands: failing, stale or fine — one judgement for /healthz, and
the same arithmetic as the alert rules in configs/prometheus/kafka-dr-rules.yml.

- **failing**: its last failure is more recent than its last success (a cancelled or skipped
  run changes nothing).
- **stale**: it has a schedule and its last success is older than ``stale_after_s``: twice the
  longest interval between two runs of its schedule, and never less than five minutes (one
  late or failed run is not staleness; a schedule of seconds does not flap).
- **never succeeded**: it has a schedule, no success at all, and the daemon has been up for
  longer than ``stale_after_s`` (a job just added is given the time to run).

A job or drill without a schedule is never stale: nothing says when it should have run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Literal

from dr.cron import crontab_trigger

STALE_INTERVALS = 2
STALE_FLOOR_S = 300.0
# How far ahead a schedule is read to find its longest interval: a week and a day covers
# weekday-only schedules; at least three intervals cover monthly ones; the cap bounds the cost
# of a schedule every second (its interval is found long before).
_LOOKAHEAD = timedelta(days=8)
_MIN_INTERVALS = 3
_MAX_FIRES = 12_000
_GIVE_UP = timedelta(days=800)

Kind = Literal["backup", "drill"]
_SUCCESS = {"backup": "success", "drill": "passed run"}


@lru_cache(maxsize=256)
def longest_interval_s(expr: str, *, start: datetime | None = None) -> float:
    """The longest time between two consecutive runs of cron ``expr`` over the next week or
    so (or three intervals, whichever is longer). Raises ValueError for an invalid expression
    or one that fires fewer than twice in two years."""
    trigger = crontab_trigger(expr)
    begin = start or datetime.now(UTC)
    fire = trigger.get_next_fire_time(None, begin)
    longest, intervals, fires = 0.0, 0, 0
    while fire is not None and fires < _MAX_FIRES and fire - begin < _GIVE_UP:
        if fire - begin >= _LOOKAHEAD and intervals >= _MIN_INTERVALS:
            break
        following = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
        if following is None:
            break
        longest = max(longest, (following - fire).total_seconds())
        fire, intervals, fires = following, intervals + 1, fires + 1
    if intervals == 0:
        raise ValueError(f"'{expr}' does not fire twice within {_GIVE_UP.days} days")
    return longest


def stale_after_s(schedule: str | None) -> float | None:
    """How old the last success of a job on ``schedule`` may be before it is stale; None
    without a schedule."""
    if schedule is None:
        return None
    return max(STALE_INTERVALS * longest_interval_s(schedule), STALE_FLOOR_S)


@dataclass(frozen=True)
class Problem:
    """One failing check of /healthz: ``check`` names what is wrong (``backup_failed``),
    ``subject`` the job or drill, ``detail`` one line for people."""

    check: str
    subject: str
    detail: str


@dataclass(frozen=True)
class Standing:
    """A backup job or drill as its runs leave it (times are aware UTC datetimes)."""

    kind: Kind
    name: str
    last_success_at: datetime | None
    last_failure_at: datetime | None
    last_error: str | None = None
    stale_after_s: float | None = None

    @property
    def failing(self) -> bool:
        """Its last failure is more recent than its last success."""
        if self.last_failure_at is None:
            return False
        return self.last_success_at is None or self.last_failure_at > self.last_success_at

    def stale(self, *, now: datetime, started_at: datetime) -> bool:
        """Its last success (or, when there is none, the daemon's start) is older than
        ``stale_after_s``."""
        if self.stale_after_s is None:
            return False
        since = self.last_success_at or started_at
        return (now - since).total_seconds() > self.stale_after_s

    def problems(self, *, now: datetime, started_at: datetime) -> tuple[Problem, ...]:
        """What /healthz reports failing for it: failed, stale, never succeeded."""
        found: list[Problem] = []
        if self.failing and self.last_failure_at is not None:
            error = f": {self.last_error}" if self.last_error else ""
            found.append(
                Problem(
                    f"{self.kind}_failed",
                    self.name,
                    f"last run failed at {self.last_failure_at.isoformat()}{error}",
                )
            )
        if self.stale(now=now, started_at=started_at):
            found.append(self._stale_problem(now=now, started_at=started_at))
        return tuple(found)

    def _stale_problem(self, *, now: datetime, started_at: datetime) -> Problem:
        limit = f"stale after {duration(self.stale_after_s or 0)}"
        success = _SUCCESS[self.kind]
        if self.last_success_at is None:
            never = "never_passed" if self.kind == "drill" else "never_succeeded"
            up = duration((now - started_at).total_seconds())
            return Problem(
                f"{self.kind}_{never}",
                self.name,
                f"no {success} since the daemon started {up} ago ({limit})",
            )
        ago = duration((now - self.last_success_at).total_seconds())
        return Problem(f"{self.kind}_stale", self.name, f"last {success} {ago} ago ({limit})")


def duration(seconds: float) -> str:
    """``2d 3h``, ``3h 5m``, ``4m 10s`` or ``12s``: the two largest units."""
    whole = max(int(seconds), 0)
    parts = [(whole // 86400, "d"), (whole % 86400 // 3600, "h"), (whole % 3600 // 60, "m")]
    parts.append((whole % 60, "s"))
    first = next((i for i, (n, _) in enumerate(parts) if n), len(parts) - 1)
    return " ".join(f"{n}{unit}" for n, unit in parts[first : first + 2] if n or first == 3)
