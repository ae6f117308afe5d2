"""How the report writes times, durations and sizes for people."""

from __future__ import annotations

from datetime import UTC, datetime

MB = 1_000_000


def parse_time(text: str) -> datetime:
    """An ISO 8601 time from the payload as an aware UTC datetime (naive means UTC)."""
    at = datetime.fromisoformat(text)
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def when(text: str) -> str:
    """A payload time as people read it: ``2026-12-01 04:00:12 UTC``."""
    try:
        return parse_time(text).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return text


def duration(seconds: float) -> str:
    """``850 ms``, ``12.3 s``, ``4 min 05 s``, ``1 h 00 min 12 s``, ``26 h 03 min``: exact
    to the second below ten hours, so that a missed objective never reads as met."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours >= 10 or secs == 0:
        return f"{hours} h {minutes:02d} min"
    return f"{hours} h {minutes:02d} min {secs:02d} s"


def time_unit(largest_seconds: float) -> tuple[str, float]:
    """The unit a chart's time axis reads best in, for values up to largest_seconds: its
    name and its length in seconds."""
    if largest_seconds >= 3 * 3600:
        return "hours", 3600.0
    if largest_seconds >= 180:
        return "minutes", 60.0
    return "seconds", 1.0


def size(count: float) -> str:
    """A byte count in decimal units: ``512 B``, ``12.3 MB``."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count:.0f} B"
