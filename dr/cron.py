"""Cron expressions as crontab(5) reads them, turned into APScheduler 3 triggers.

Five fields as in crontab; or six, with a leading seconds field (as Spring and Quartz write
it) for schedules finer than a minute.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger

_CRON_DAYS = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
_APS_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]  # APScheduler counts from Monday


def crontab_trigger(expr: str) -> Any:
    """An APScheduler trigger firing as crontab(5) would for ``expr`` (UTC). Raises ValueError.

    APScheduler 3 departs from cron twice: its weekday 0 is Monday (cron's is Sunday), and it
    requires both day-of-month and day-of-week to match where cron accepts either when both
    are restricted. Both are translated here.
    """
    fields = expr.split()
    if len(fields) not in (5, 6):
        raise ValueError(f"expected 5 fields (or 6 with seconds first), got {len(fields)}")
    second = fields.pop(0) if len(fields) == 6 else "0"
    minute, hour, day, month, weekday = fields
    weekdays = _weekdays(weekday)

    def cron(day: str, day_of_week: str) -> Any:
        return CronTrigger(
            second=second,
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=day_of_week,
            timezone=UTC,
        )

    if not day.startswith("*") and not weekday.startswith("*"):
        return OrTrigger([cron(day, "*"), cron("*", weekdays)])
    return cron(day, weekdays)


def _weekdays(field: str) -> str:
    """A crontab day-of-week field (0-7, names, ranges, steps) as APScheduler weekday names."""
    if field == "*":
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        base, has_step, step_text = part.partition("/")
        if has_step and not (step_text.isdigit() and int(step_text) > 0):
            raise ValueError(f"'{part}' has an invalid step")
        step = int(step_text) if has_step else 1
        if base == "*":
            first, last = 0, 6
        elif "-" in base:
            low, high = base.split("-", 1)
            first, last = _weekday(low), _weekday(high)
        else:
            first = _weekday(base)
            last = 6 if has_step else first
        if first > last:
            raise ValueError(f"'{part}' is a backwards range")
        days.update(d % 7 for d in range(first, last + 1, step))
    return ",".join(name for number, name in enumerate(_APS_DAYS, 1) if number % 7 in days)


def _weekday(text: str) -> int:
    if text.isdigit() and int(text) <= 7:
        return int(text)
    if text.lower() in _CRON_DAYS:
        return _CRON_DAYS[text.lower()]
    raise ValueError(f"'{text}' is not a weekday (0-7 or sun-sat)")


def checked_schedule(value: str | None) -> str | None:
    """A config schedule, unchanged when it is a cron expression this module reads (None:
    no schedule). Raises ValueError naming the expression, for the config's validators."""
    if value is not None:
        try:
            crontab_trigger(value)
        except ValueError as exc:
            raise ValueError(f"'{value}' is not a cron expression: {exc}") from None
    return value
