"""First contact with a cluster: a permanent failure is said in a second, naming the cluster.

librdkafka retries a refused connection or an unknown host name for as long as a request
waits, and says why only on its log and through ``error_cb``. A client made by
``dr.kafka.client.admin_client`` records those reports; until the cluster has answered once,
each request first waits for that answer and raises ClusterUnreachable as soon as the reports
show it will not come: every bootstrap broker failing to connect for PERMANENT_AFTER_S
(unknown host, refused connection, a listener that speaks another protocol) or authentication
failed. Once the
cluster has answered, a lost connection is a transient error again, retried by the caller.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from confluent_kafka import KafkaException

from dr.errors import ClusterUnreachableError

T = TypeVar("T")

# Every bootstrap broker failing this long before any answer is not a blip: a dual-stack name
# is tried address by address within ~100 ms, and librdkafka retries a refused or
# unresolvable broker about 20 times a second, each failure reported.
PERMANENT_AFTER_S = 1.0
# Reports that no retry can heal: wrong credentials, a TLS handshake that is refused.
_FINAL = frozenset({"_AUTHENTICATION", "_SSL", "SASL_AUTHENTICATION_FAILED"})
# A bootstrap broker that could not be connected to (refused, unknown host, timed out, closed).
_CONNECT = frozenset({"_TRANSPORT", "_RESOLVE"})
_POLL_S = 0.05
# "127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused (after 0ms
# in state CONNECT), 3 identical error(s) suppressed"
_REPORT = re.compile(
    r"^(?:(?P<broker>\S+/\S+): )?(?P<cause>.*?)"
    r"(?: \(after \d+ms in state [A-Z_]+(?:, \d+ identical error\(s\) suppressed)?\))?"
    r"(?:, \d+ identical error\(s\) suppressed)?$"
)


class ClusterUnreachable(ClusterUnreachableError, KafkaException):
    """The cluster cannot be reached at all; also a KafkaException, so that code written for
    the client's own errors (``except KafkaException``) handles it as it would a timeout."""


class ConnectionWatch:
    """What librdkafka reported through error_cb about reaching the cluster's bootstrap
    brokers since the last ``reset``."""

    def __init__(self, brokers: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._brokers = max(1, brokers)
        self._clock = clock
        self._lock = threading.Lock()
        self._causes: dict[str, str] = {}
        self._last_failed: dict[str, float] = {}
        self._all_failing_since: float | None = None
        self._final: str | None = None

    def reset(self) -> None:
        """Forget what was reported: a new first contact judges on new reports."""
        with self._lock:
            self._causes.clear()
            self._last_failed.clear()
            self._all_failing_since = None
            self._final = None

    def record(self, error: Any) -> None:
        """error_cb: keep a report (a confluent_kafka.KafkaError) that bears on reaching."""
        name, text = str(error.name()), str(error.str())
        broker, cause = split_report(text)
        with self._lock:
            if name in _FINAL or error.fatal():
                self._final = cause
            elif name in _CONNECT:
                self._causes[broker] = cause
                self._last_failed[broker] = self._clock()

    def verdict(self) -> str | None:
        """Why the cluster will not answer (authentication failed, or every bootstrap broker
        failing to connect for PERMANENT_AFTER_S), or None while it still may."""
        with self._lock:
            if self._final is not None:
                return self._final
            now = self._clock()
            failing = [b for b, at in self._last_failed.items() if now - at <= PERMANENT_AFTER_S]
            if len(failing) < self._brokers:
                self._all_failing_since = None
                return None
            if self._all_failing_since is None:
                self._all_failing_since = now
            if now - self._all_failing_since < PERMANENT_AFTER_S:
                return None
            return "; ".join(dict.fromkeys(self._causes[b] for b in sorted(failing)))


def split_report(text: str) -> tuple[str, str]:
    """(broker, cause) of a librdkafka report, without its timing and suppression notes."""
    match = _REPORT.match(text.strip())
    if match is None:  # the pattern matches any line; kept for the type checker
        return "", text
    return match.group("broker") or "", match.group("cause")


def await_first_answer(
    ask: Callable[[], Any],
    *,
    poll: Callable[[], object],
    watch: ConnectionWatch,
    label: str,
    timeout_s: float,
) -> Any:
    """Run ask (a request any live broker answers) and return its answer, polling the client's
    reports meanwhile. Raises ClusterUnreachable naming label as soon as the reports say the
    cluster cannot be reached, or when ask fails or has no answer within timeout_s."""
    done = threading.Event()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["answer"] = ask()
        except Exception as exc:  # handed to the waiting thread
            outcome["error"] = exc
        finally:
            done.set()

    # A thread asks while this one watches the reports (and stays interruptible by Ctrl-C).
    threading.Thread(target=run, name="kafka-dr-first-contact", daemon=True).start()
    deadline = time.monotonic() + timeout_s
    while not done.wait(_POLL_S):
        poll()
        why = watch.verdict()
        if why is not None:
            raise ClusterUnreachable(f"{label} is unreachable: {why}")
        if time.monotonic() > deadline + 1:
            break
    if "answer" in outcome:
        return outcome["answer"]
    poll()
    why = watch.verdict() or _reason(outcome.get("error"))
    raise ClusterUnreachable(f"{label} did not answer within {timeout_s:g}s: {why}")


def interruptibly(call: Callable[[], T]) -> T:
    """call's result; from the main thread, call runs in a thread of its own so that Ctrl-C
    is not held up until a client library's blocking request returns (it never checks)."""
    if threading.current_thread() is not threading.main_thread():
        return call()
    done = threading.Event()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["answer"] = call()
        except BaseException as exc:  # handed to the waiting thread
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name="kafka-dr-request", daemon=True).start()
    done.wait()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["answer"]  # type: ignore[no-any-return]


def _reason(error: BaseException | None) -> str:
    if error is None:
        return "no answer"
    if isinstance(error, KafkaException) and error.args and hasattr(error.args[0], "str"):
        return str(error.args[0].str())
    return str(error) or type(error).__name__
