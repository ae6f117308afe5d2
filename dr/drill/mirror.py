"""Scenario mirror (being built)."""

from __future__ import annotations

from typing import Any

from dr.drill.context import DrillContext
from dr.errors import DrError


def run_mirror(ctx: DrillContext, scenario: Any) -> None:
    raise DrError("scenario not built yet")
