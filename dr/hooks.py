"""Operator hooks: the commands a playbook runs before and after its steps, the way clients are
moved in production (a DNS switch, a service-discovery update, a config push).

The contract, as barman's hooks: each hook is a program run without a shell, in its own process
group, with the run's context in ``KAFKA_DR_*`` environment variables (beside kafka-dr's own
environment and the hook's ``env``) and as one JSON document on stdin. Exit 0 is success; any
other exit, or running past ``timeout_s`` (the whole process group is then killed), is a failed
attempt, tried again ``retries`` times after ``retry_delay_s``. When the last attempt fails,
``on_failure: abort`` raises HookFailed and ``continue`` records the failure and goes on.

A hook's output (stdout and stderr together) is logged, redacted and truncated, one event per
hook; it is never parsed. Results carry the last output line, redacted; never the hook's env.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, Any, Literal

from dr.config.playbooks import RESERVED_ENV_PREFIX, HookSettings, When
from dr.errors import DrError
from dr.log import get_logger, redact_text

log = get_logger(__name__)

# After SIGTERM to a timed-out hook's process group, how long before SIGKILL.
KILL_GRACE_S = 2.0
# After a hook exits, how long its output may still be read (a child it left running may hold
# the pipe open; kafka-dr does not wait for it).
OUTPUT_DRAIN_S = 1.0
OUTPUT_KEEP_BYTES = 64 * 1024
OUTPUT_LOG_CHARS = 4000
LAST_LINE_CHARS = 200

Outcome = Literal["succeeded", "failed", "timed_out", "not_started"]
RESERVED_KEYS = ("run_id", "playbook", "step", "when", "from", "to", "to_bootstrap")


@dataclass(frozen=True)
class HookContext:
    """What a hook is told about the run: who, which step, from where to where, and a payload
    of JSON-able facts (topic name map, translated group offsets...) added to its stdin."""

    run_id: str
    playbook: str
    step: str
    from_cluster: str
    to_cluster: str
    to_bootstrap: str
    payload: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        clash = sorted(set(self.payload) & set(RESERVED_KEYS))
        if clash:
            raise ValueError(f"hook payload key '{clash[0]}' is reserved for the context")

    def environment(self, when: When) -> dict[str, str]:
        """The KAFKA_DR_* variables a hook gets."""
        return {
            "KAFKA_DR_RUN_ID": self.run_id,
            "KAFKA_DR_PLAYBOOK": self.playbook,
            "KAFKA_DR_STEP": self.step,
            "KAFKA_DR_WHEN": when,
            "KAFKA_DR_FROM": self.from_cluster,
            "KAFKA_DR_TO": self.to_cluster,
            "KAFKA_DR_TO_BOOTSTRAP": self.to_bootstrap,
        }

    def document(self, when: When) -> str:
        """The JSON document a hook reads on stdin: the context, then the payload's keys."""
        head = {
            "run_id": self.run_id,
            "playbook": self.playbook,
            "step": self.step,
            "when": when,
            "from": self.from_cluster,
            "to": self.to_cluster,
            "to_bootstrap": self.to_bootstrap,
        }
        return json.dumps({**head, **self.payload}, default=_json_default)


@dataclass(frozen=True)
class HookResult:
    """How one hook went: what the engine journals. ``command`` is the hook's name (never its
    arguments); ``exit_code`` is None when it timed out or could not start; ``last_line`` is the
    last line of its output, redacted."""

    command: str
    when: When
    outcome: Outcome
    exit_code: int | None
    attempts: int
    duration_s: float
    last_line: str
    on_failure: Literal["abort", "continue"]
    reason: str

    @property
    def ok(self) -> bool:
        return self.outcome == "succeeded"


@dataclass(frozen=True)
class HookResults:
    """The hooks run before or after one step, in order."""

    step: str
    when: When
    hooks: tuple[HookResult, ...]

    @property
    def ok(self) -> bool:
        """True when every hook succeeded (a failure under on_failure: continue makes it False)."""
        return all(hook.ok for hook in self.hooks)

    @property
    def failed(self) -> tuple[HookResult, ...]:
        return tuple(hook for hook in self.hooks if not hook.ok)


class HookFailed(DrError):
    """A hook with ``on_failure: abort`` failed; ``results`` holds every hook run so far."""

    exit_code = 2

    def __init__(self, result: HookResult, results: HookResults) -> None:
        self.result = result
        self.results = results
        self.journal: list[dict[str, Any]] = []  # what the engine journals of them
        said = f": {result.last_line}" if result.last_line else ""
        super().__init__(
            f"hook {result.command} {results.when} step {results.step} {result.reason}{said}"
        )


def run_hooks(hooks: Sequence[HookSettings], *, when: When, context: HookContext) -> HookResults:
    """Run the hooks one after the other; returns how each went.

    Raises HookFailed when a hook with ``on_failure: abort`` fails (the hooks after it are not
    run); a failed hook with ``on_failure: continue`` is recorded and the next one runs.
    """
    document = context.document(when).encode("utf-8")
    # Variables named KAFKA_DR_* come from the context only, never from kafka-dr's own
    # environment: a hook must not mistake an inherited value for this run's.
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(RESERVED_ENV_PREFIX)}
    env = {**inherited, **context.environment(when)}
    done: list[HookResult] = []
    for hook in hooks:
        result = _run_hook(hook, when=when, context=context, stdin=document, env=env)
        done.append(result)
        if not result.ok and hook.on_failure == "abort":
            raise HookFailed(result, HookResults(context.step, when, tuple(done)))
    return HookResults(context.step, when, tuple(done))


def missing_programs(hooks: Sequence[HookSettings]) -> list[str]:
    """One line per hook whose program cannot be run from here (not found, not executable),
    for a plan to show before anything is changed."""
    problems: list[str] = []
    for hook in hooks:
        program = hook.command[0]
        if "/" in program:
            if not os.path.isfile(program):
                problems.append(f"hook {hook.label}: program {program} does not exist")
            elif not os.access(program, os.X_OK):
                problems.append(f"hook {hook.label}: program {program} is not executable")
        elif shutil.which(program) is None:
            problems.append(f"hook {hook.label}: program {program} is not found on PATH")
    return problems


@dataclass(frozen=True)
class _Attempt:
    outcome: Outcome
    exit_code: int | None
    output: str  # redacted
    reason: str


def _run_hook(
    hook: HookSettings, *, when: When, context: HookContext, stdin: bytes, env: dict[str, str]
) -> HookResult:
    started = time.monotonic()
    hook_env = {**env, **{k: v.get_secret_value() for k, v in hook.env.items()}}
    tries = hook.retries + 1
    attempts = 0
    while True:
        attempts += 1
        attempt = _attempt(hook.command, env=hook_env, stdin=stdin, timeout_s=hook.timeout_s)
        if attempt.outcome in ("succeeded", "not_started") or attempts >= tries:
            break
        log.info(
            "hook_retry",
            step=context.step,
            when=when,
            command=hook.label,
            attempt=attempts,
            reason=attempt.reason,
            retry_in_s=hook.retry_delay_s,
        )
        time.sleep(hook.retry_delay_s)
    lines = attempt.output.strip().splitlines()
    last = lines[-1].strip()[:LAST_LINE_CHARS] if lines else ""
    tried = f" ({attempts} attempts)" if attempts > 1 else ""
    result = HookResult(
        command=hook.label,
        when=when,
        outcome=attempt.outcome,
        exit_code=attempt.exit_code,
        attempts=attempts,
        duration_s=round(time.monotonic() - started, 3),
        last_line=last,
        on_failure=hook.on_failure,
        reason=attempt.reason + ("" if attempt.outcome == "succeeded" else tried),
    )
    _log_result(result, context=context, output=attempt.output)
    return result


def _log_result(result: HookResult, *, context: HookContext, output: str) -> None:
    if len(output) > OUTPUT_LOG_CHARS:
        output = f"[{len(output) - OUTPUT_LOG_CHARS} chars before]...{output[-OUTPUT_LOG_CHARS:]}"
    fields: dict[str, Any] = {
        "run_id": context.run_id,
        "playbook": context.playbook,
        "step": context.step,
        "when": result.when,
        "command": result.command,
        "exit_code": result.exit_code,
        "duration_s": result.duration_s,
        "attempts": result.attempts,
        "output": output,
    }
    if result.ok:
        log.info("hook_done", **fields)
    elif result.on_failure == "continue":
        # The run goes on: this line is where the failure is reported.
        log.warning("hook_failed", reason=result.reason, on_failure="continue", **fields)
    else:
        # HookFailed reports the failure where it is handled; this records what the hook said.
        log.info("hook_failed", reason=result.reason, on_failure="abort", **fields)


def _attempt(argv: list[str], *, env: dict[str, str], stdin: bytes, timeout_s: float) -> _Attempt:
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its own process group, killed whole on timeout
        )
    except OSError as exc:
        reason = redact_text(f"could not start {argv[0]}: {exc.strerror or exc}")
        return _Attempt("not_started", None, "", reason)
    assert proc.stdin is not None and proc.stdout is not None
    tail = _Tail(proc.stdout)
    threading.Thread(target=_feed, args=(proc.stdin, stdin), daemon=True).start()
    try:
        code = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        tail.join(OUTPUT_DRAIN_S)
        return _Attempt("timed_out", None, tail.text(), f"timed out after {timeout_s:g}s")
    tail.join(OUTPUT_DRAIN_S)
    if code == 0:
        return _Attempt("succeeded", 0, tail.text(), "exited 0")
    reason = f"was killed by signal {-code}" if code < 0 else f"exited {code}"
    return _Attempt("failed", code, tail.text(), reason)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the hook's process group, then SIGKILL to whatever is left after a grace:
    children that ignored SIGTERM or outlived the hook do not survive its timeout."""
    _signal_group(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=KILL_GRACE_S)
    _signal_group(proc.pid, signal.SIGKILL)
    proc.wait()


def _signal_group(group: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # no process is left in the group
        os.killpg(group, sig)


def _feed(pipe: IO[bytes], data: bytes) -> None:
    # A hook need not read its stdin: a pipe it closed is not an error.
    with contextlib.suppress(OSError):
        try:
            pipe.write(data)
        finally:
            pipe.close()


class _Tail:
    """Reads a pipe in a thread, keeping its last OUTPUT_KEEP_BYTES."""

    def __init__(self, pipe: IO[bytes]) -> None:
        self._pipe = pipe
        self._kept = bytearray()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            while chunk := os.read(self._pipe.fileno(), 65536):
                with self._lock:
                    self._kept += chunk
                    del self._kept[:-OUTPUT_KEEP_BYTES]
        finally:
            self._pipe.close()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def text(self) -> str:
        """What was read so far, decoded and redacted."""
        with self._lock:
            raw = bytes(self._kept)
        return redact_text(raw.decode("utf-8", errors="replace"))


def _json_default(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    raise TypeError(f"hook payload value of type {type(value).__name__} is not JSON")
