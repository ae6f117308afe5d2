"""Operator hooks, run as real processes: the context in the environment and on stdin, retries,
timeouts that kill the whole process group, abort or continue, secrets kept out of logs and
results, and a missing program named in one line."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

import dr.hooks
import dr.log
from dr.config import parse_config
from dr.config.playbooks import HookSettings
from dr.hooks import HookContext, HookFailed, missing_programs, run_hooks
from dr.log import MASK, configure

CONTEXT = HookContext(
    run_id="run-20261201-abc",
    playbook="failover",
    step="switch_clients",
    from_cluster="primary",
    to_cluster="dr",
    to_bootstrap="kafka-1.dr:9092,kafka-2.dr:9092",
    payload={"topics": {"orders": "primary.orders"}, "groups": {"billing": {"orders-0": 42}}},
)


def python(code: str, *args: str, **settings: Any) -> HookSettings:
    """A hook running a small Python program (argv, no shell)."""
    return HookSettings(command=[sys.executable, "-c", code, *args], **settings)


def shell(script: str, **settings: Any) -> HookSettings:
    return HookSettings(command=["/bin/sh", "-c", script], **settings)


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


@pytest.fixture(autouse=True)
def _isolated_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(dr.log, "_known_secrets", set())
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def log_events() -> Callable[[], list[dict[str, Any]]]:
    """The JSON log events written from now on."""
    out = io.StringIO()
    configure(fmt="json", stream=out)
    return lambda: [json.loads(line) for line in out.getvalue().splitlines()]


RECORD = """
import json, os, sys
context = {k: v for k, v in os.environ.items() if k.startswith(("KAFKA_DR_", "DNS_"))}
with open(sys.argv[1], "w") as f:
    json.dump({"env": context, "stdin": json.load(sys.stdin)}, f)
"""


def test_a_hook_gets_the_context_in_its_environment_and_as_json_on_stdin(tmp_path: Path) -> None:
    seen = tmp_path / "seen.json"

    results = run_hooks(
        [python(RECORD, str(seen), env={"DNS_ZONE": "kafka.acme.internal"})],
        when="after",
        context=CONTEXT,
    )

    assert results.ok
    recorded = json.loads(seen.read_text())
    assert recorded["env"] == {
        "KAFKA_DR_RUN_ID": "run-20261201-abc",
        "KAFKA_DR_PLAYBOOK": "failover",
        "KAFKA_DR_STEP": "switch_clients",
        "KAFKA_DR_WHEN": "after",
        "KAFKA_DR_FROM": "primary",
        "KAFKA_DR_TO": "dr",
        "KAFKA_DR_TO_BOOTSTRAP": "kafka-1.dr:9092,kafka-2.dr:9092",
        "DNS_ZONE": "kafka.acme.internal",
    }
    assert recorded["stdin"] == {
        "run_id": "run-20261201-abc",
        "playbook": "failover",
        "step": "switch_clients",
        "when": "after",
        "from": "primary",
        "to": "dr",
        "to_bootstrap": "kafka-1.dr:9092,kafka-2.dr:9092",
        "topics": {"orders": "primary.orders"},
        "groups": {"billing": {"orders-0": 42}},
    }


def test_a_hook_keeps_kafka_dr_own_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DNS_SERVER", "ns1.acme.internal")
    seen = tmp_path / "seen.json"

    run_hooks([python(RECORD, str(seen))], when="before", context=CONTEXT)

    recorded = json.loads(seen.read_text())
    assert recorded["env"]["DNS_SERVER"] == "ns1.acme.internal"
    assert recorded["env"]["KAFKA_DR_WHEN"] == "before"


def test_a_hook_that_fails_then_succeeds_is_retried(tmp_path: Path) -> None:
    count = tmp_path / "count"
    flaky = shell(
        f'n=$(cat {count} 2>/dev/null || echo 0); echo $((n+1)) > {count}; [ "$n" -ge 2 ]',
        name="flaky",
        retries=3,
        retry_delay_s=0.05,
    )

    (result,) = run_hooks([flaky], when="after", context=CONTEXT).hooks

    assert result.outcome == "succeeded"
    assert result.attempts == 3
    assert count.read_text().strip() == "3"
    assert result.duration_s >= 0.1  # two pauses between the three attempts


def test_a_failed_hook_with_abort_stops_the_step_naming_the_hook_and_what_it_said(
    tmp_path: Path,
) -> None:
    never = tmp_path / "never-ran"
    failing = shell("echo updating; echo zone update refused >&2; exit 3", name="switch-dns")
    failing = failing.model_copy(update={"retries": 1, "retry_delay_s": 0})

    with pytest.raises(HookFailed) as raised:
        run_hooks([failing, shell(f"touch {never}")], when="after", context=CONTEXT)

    assert str(raised.value) == (
        "hook switch-dns after step switch_clients exited 3 (2 attempts): zone update refused"
    )
    assert raised.value.exit_code == 2
    (result,) = raised.value.results.hooks
    assert (result.outcome, result.exit_code, result.attempts) == ("failed", 3, 2)
    assert not never.exists()


def test_a_failed_hook_with_continue_is_recorded_and_the_next_hook_runs(tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    failing = shell("echo chat is down; exit 1", name="notify-chat", on_failure="continue")

    results = run_hooks([failing, shell(f"touch {ran}")], when="after", context=CONTEXT)

    assert ran.exists()
    assert not results.ok
    assert [h.outcome for h in results.hooks] == ["failed", "succeeded"]
    assert [h.command for h in results.failed] == ["notify-chat"]
    assert results.failed[0].last_line == "chat is down"


def test_a_hook_past_its_timeout_is_killed_with_its_children(tmp_path: Path) -> None:
    child = tmp_path / "child.pid"
    slow = shell(f"sleep 30 & echo $! > {child}; echo waiting; wait", timeout_s=0.5)

    started = time.monotonic()
    with pytest.raises(HookFailed) as raised:
        run_hooks([slow], when="before", context=CONTEXT)

    assert time.monotonic() - started < 5
    result = raised.value.result
    assert (result.outcome, result.exit_code, result.last_line) == ("timed_out", None, "waiting")
    assert str(raised.value) == "hook sh before step switch_clients timed out after 0.5s: waiting"
    assert not alive(int(child.read_text()))


def test_children_that_ignore_sigterm_are_killed_after_the_grace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dr.hooks, "KILL_GRACE_S", 0.3)
    child = tmp_path / "child.pid"
    stubborn = shell(
        f"trap '' TERM; sleep 30 & echo $! > {child}; wait",
        timeout_s=0.3,
        on_failure="continue",
    )

    started = time.monotonic()
    (result,) = run_hooks([stubborn], when="before", context=CONTEXT).hooks

    assert time.monotonic() - started < 5
    assert result.outcome == "timed_out"
    assert not alive(int(child.read_text()))


def test_a_hook_that_leaves_a_process_running_is_done_when_it_exits(tmp_path: Path) -> None:
    child = tmp_path / "child.pid"
    starter = shell(f"sleep 30 & echo $! > {child}; echo started", timeout_s=10)

    started = time.monotonic()
    (result,) = run_hooks([starter], when="after", context=CONTEXT).hooks

    try:
        assert time.monotonic() - started < 5
        assert (result.outcome, result.last_line) == ("succeeded", "started")
        assert alive(int(child.read_text()))  # what a hook starts is its own business
    finally:
        os.kill(int(child.read_text()), signal.SIGKILL)


def test_a_missing_program_is_a_one_line_error_naming_it() -> None:
    missing = HookSettings(command=["/opt/kafka-dr/hooks/switch-dns.sh"], retries=3)

    with pytest.raises(HookFailed) as raised:
        run_hooks([missing], when="after", context=CONTEXT)

    assert str(raised.value) == (
        "hook switch-dns.sh after step switch_clients could not start "
        "/opt/kafka-dr/hooks/switch-dns.sh: No such file or directory"
    )
    assert raised.value.result.outcome == "not_started"
    assert raised.value.result.attempts == 1  # a missing program does not appear by retrying


def test_output_carrying_a_secret_is_redacted_in_logs_and_results(
    tmp_path: Path, log_events: Callable[[], list[dict[str, Any]]]
) -> None:
    (tmp_path / "dns-token").write_text("tok-5ecret-from-file\n")
    settings = parse_config(
        """clusters: {primary: {bootstrap_servers: "a:9092"}}
playbooks:
  failover:
    hooks:
      switch_clients:
        after:
          - command: [/bin/sh, -c, 'echo "using $DNS_API_TOKEN"; exit 4']
            env: {DNS_API_TOKEN: '${file:dns-token}'}
""",
        source="kafka-dr.yaml",
        base_dir=tmp_path,
    )
    hooks = settings.playbooks["failover"].hooks_for("switch_clients", "after")

    with pytest.raises(HookFailed) as raised:
        run_hooks(hooks, when="after", context=CONTEXT)

    assert raised.value.result.last_line == f"using {MASK}"
    assert "tok-5ecret" not in str(raised.value)
    assert "tok-5ecret" not in repr(raised.value.results)
    logged = json.dumps(log_events())
    assert "tok-5ecret" not in logged
    assert f"using {MASK}" in logged


def test_each_hook_logs_one_event_with_its_outcome_and_output(
    log_events: Callable[[], list[dict[str, Any]]],
) -> None:
    noisy = python("print('x' * 9000); print('records moved'); print('last line')", name="noisy")
    failing = shell("exit 5", name="notify-chat", on_failure="continue")

    run_hooks([noisy, failing], when="after", context=CONTEXT)

    done, failed = log_events()
    assert done["event"] == "hook_done" and done["level"] == "info"
    assert {k: done[k] for k in ("step", "when", "command", "exit_code", "attempts")} == {
        "step": "switch_clients",
        "when": "after",
        "command": "noisy",
        "exit_code": 0,
        "attempts": 1,
    }
    assert done["duration_s"] >= 0
    assert done["output"].endswith("records moved\nlast line\n")
    assert len(done["output"]) < 4100  # truncated, keeping the end
    assert failed["event"] == "hook_failed" and failed["level"] == "warning"
    assert (failed["command"], failed["exit_code"], failed["reason"]) == (
        "notify-chat",
        5,
        "exited 5",
    )


def test_a_hook_that_does_not_read_a_large_payload_is_not_blocked() -> None:
    context = HookContext(**{**CONTEXT.__dict__, "payload": {"groups": {"g": "x" * 1_000_000}}})

    (result,) = run_hooks([shell("exit 0", timeout_s=5)], when="after", context=context).hooks

    assert result.outcome == "succeeded"
    assert result.duration_s < 4


def test_a_payload_cannot_replace_the_context() -> None:
    with pytest.raises(ValueError, match="'to_bootstrap' is reserved"):
        HookContext(**{**CONTEXT.__dict__, "payload": {"to_bootstrap": "elsewhere:9092"}})


def test_programs_that_cannot_run_are_listed_before_anything_runs(tmp_path: Path) -> None:
    not_executable = tmp_path / "notify.sh"
    not_executable.write_text("#!/bin/sh\n")
    os.chmod(not_executable, 0o644)
    hooks = [
        HookSettings(command=[str(tmp_path / "switch-dns.sh")]),
        HookSettings(command=[str(not_executable)]),
        HookSettings(command=["no-such-program-kafka-dr"], name="push-config"),
        HookSettings(command=[sys.executable, "-c", "pass"]),
    ]

    assert missing_programs(hooks) == [
        f"hook switch-dns.sh: program {tmp_path}/switch-dns.sh does not exist",
        f"hook notify.sh: program {not_executable} is not executable",
        "hook push-config: program no-such-program-kafka-dr is not found on PATH",
    ]
