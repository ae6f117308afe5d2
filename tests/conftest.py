"""Unit tests: each starts from structlog's defaults, whatever level an earlier test's CLI run
configured (a CLI test at --log-level warning would hide the info events a later test captures)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def _structlog_defaults() -> Iterator[None]:
    yield
    structlog.reset_defaults()
