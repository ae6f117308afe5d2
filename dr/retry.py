"""Retries at the I/O edge (Kafka, S3, Kafka Connect): exponential backoff with jitter, a
deadline, and one log event per retry. What counts as transient is the caller's to say."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_before_delay,
    wait_exponential,
    wait_random,
)

from dr.log import get_logger

log = get_logger(__name__)
T = TypeVar("T")


@dataclass
class Attempts:
    """How a retried call went: attempts made and time spent (for the final error message)."""

    count: int = 0
    started: float = field(default_factory=time.monotonic)

    def summary(self) -> str:
        """' after N attempts in Xs' when it was retried, '' otherwise."""
        if self.count <= 1:
            return ""
        return f" after {self.count} attempts in {time.monotonic() - self.started:.1f}s"


def call_with_retries(
    action: Callable[[], T],
    *,
    deadline_s: float,
    transient: Callable[[BaseException], bool],
    event: str,
    fields: dict[str, Any],
    describe: Callable[[BaseException], str] = str,
    max_wait_s: float = 3.0,
    jitter_s: float = 0.2,
    attempts: Attempts | None = None,
    level: str = "warning",
) -> T:
    """Run action; retry while it raises a transient error and the next try fits before the
    deadline; log `event` with `fields` at `level` before each retry. Re-raises the last error.

    A caller that reports the final failure itself in one line logs its retries at "debug", so
    that a worker that is down does not print a dozen warnings before the one error.
    """
    tally = attempts if attempts is not None else Attempts()

    def attempt() -> T:
        tally.count += 1
        return action()

    def log_retry(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        getattr(log, level)(
            event,
            **fields,
            attempt=state.attempt_number,
            error=describe(error) if error else "unknown",
            retry_in_s=round(state.upcoming_sleep, 2),
        )

    retrying = Retrying(
        stop=stop_before_delay(deadline_s),
        wait=wait_exponential(multiplier=0.1, max=max_wait_s) + wait_random(0, jitter_s),
        retry=retry_if_exception(transient),
        before_sleep=log_retry,
        reraise=True,
    )
    return retrying(attempt)
