"""One record per operation: the lock, the run row, the log context and one outcome event."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

import dr.log
from dr.errors import DrError, KafkaError
from dr.log import register_secrets
from dr.operation import log_outcome, operation, outcome_of
from dr.state import LockHeld, StateStore


class Cancelled(DrError):
    """Like BackupCancelled: the run was asked to stop."""

    exit_code = 130


@pytest.fixture(autouse=True)
def _logs_at_every_level() -> Iterator[None]:
    """capture_logs sees info events even when an earlier test configured level warning."""
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture
def state(tmp_path: Path) -> StateStore:
    store = StateStore(tmp_path / "state.db")
    store.runs()  # created (and its migrations logged) before the logs are captured
    return store


def backup_lock(state: StateStore) -> Any:
    return state.exclusive("backup-orders", what="backup job 'orders'")


def names(events: list[dict[str, Any]]) -> list[str]:
    return [e["event"] for e in events]


def test_a_successful_operation_records_its_figures_and_logs_one_done_event(
    state: StateStore,
) -> None:
    with capture_logs() as events, operation(state, kind="backup", name="orders") as op:
        context = structlog.contextvars.get_contextvars()
        running = state.last_run("orders")
        op.succeeded(backup_id="orders-1", records=120, bytes=4096)

    assert running is not None and running.status == "running"
    assert context == {"job": "orders", "run_id": running.id}
    (run,) = state.runs("orders")
    assert (run.status, run.backup_id, run.records, run.bytes) == (
        "succeeded",
        "orders-1",
        120,
        4096,
    )
    assert run.kind == "backup" and run.finished_at is not None
    assert names(events) == ["backup_done"]
    assert (events[0]["backup_id"], events[0]["records"], events[0]["bytes"]) == (
        "orders-1",
        120,
        4096,
    )
    assert events[0]["duration_s"] >= 0
    assert structlog.contextvars.get_contextvars() == {}


def test_a_run_that_finds_the_lock_held_is_recorded_as_skipped_not_failed(
    state: StateStore,
) -> None:
    ran = False
    with (
        backup_lock(state),
        capture_logs() as events,
        pytest.raises(LockHeld) as raised,
        operation(state, kind="backup", name="orders", lock=backup_lock(state)),
    ):
        ran = True

    assert not ran
    (run,) = state.runs("orders")
    assert run.status == "skipped"
    assert run.error == raised.value.message
    assert "backup job 'orders' is already running" in run.error
    assert state.last_success("orders") is None
    assert names(events) == []  # its handler (the CLI's error line, the daemon) reports it


class Unreachable:
    """A lock whose store cannot be reached (a lease in an object store that is down)."""

    def __enter__(self) -> None:
        raise KafkaError("lease store unreachable")

    def __exit__(self, *exc: object) -> None:
        return None


def test_a_lock_that_cannot_be_asked_for_is_a_failed_run_recorded_for_its_handler(
    state: StateStore,
) -> None:
    with (
        capture_logs() as events,
        pytest.raises(KafkaError),
        operation(state, kind="backup", name="orders", lock=Unreachable()),
    ):
        pass

    (run,) = state.runs("orders")
    assert (run.status, run.error) == ("failed", "lease store unreachable")
    assert names(events) == []


def test_the_lock_is_held_while_the_operation_runs_and_released_after(state: StateStore) -> None:
    with (
        operation(state, kind="backup", name="orders", lock=backup_lock(state)),
        pytest.raises(LockHeld),
        backup_lock(state),
    ):
        pass

    with backup_lock(state):
        pass


def test_a_failure_is_recorded_on_one_line_and_left_to_its_handler_to_report(
    state: StateStore,
) -> None:
    error = KafkaError("cluster primary unreachable:\n  check bootstrap_servers")
    with (
        capture_logs() as events,
        pytest.raises(KafkaError),
        operation(state, kind="backup", name="orders"),
    ):
        raise error
    with capture_logs() as reported:
        log_outcome("backup", error, duration_s=1.5)

    (run,) = state.runs("orders")
    assert run.status == "failed"
    assert run.error == "cluster primary unreachable: check bootstrap_servers"
    assert names(events) == []
    assert names(reported) == ["backup_failed"]
    assert reported[0]["error"] == run.error
    assert reported[0]["exc_info"] is False
    assert reported[0]["duration_s"] == 1.5


def test_an_unexpected_exception_is_a_failure_reported_with_its_traceback(
    state: StateStore,
) -> None:
    with (
        pytest.raises(ZeroDivisionError) as raised,
        operation(state, kind="backup", name="orders"),
    ):
        _ = 1 / 0
    with capture_logs() as events:
        log_outcome("backup", raised.value, duration_s=0.1)

    (run,) = state.runs("orders")
    assert (run.status, run.error) == (
        "failed",
        "unexpected error: ZeroDivisionError: division by zero",
    )
    assert names(events) == ["backup_failed"]
    assert events[0]["exc_info"] is True


def test_a_cancelled_run_is_recorded_as_cancelled_not_failed(state: StateStore) -> None:
    with (
        pytest.raises(Cancelled) as raised,
        operation(state, kind="backup", name="orders"),
    ):
        raise Cancelled("backup of job 'orders' cancelled: nothing recorded")
    with capture_logs() as events:
        log_outcome("backup", raised.value, duration_s=0.1)

    (run,) = state.runs("orders")
    assert run.status == "cancelled"
    assert names(events) == ["backup_cancelled"]
    assert events[0]["reason"] == "backup of job 'orders' cancelled: nothing recorded"


def test_a_recorded_error_never_holds_a_secret(
    state: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dr.log, "_known_secrets", set())
    register_secrets(["hunter2-s3cret"])

    with (
        pytest.raises(RuntimeError) as raised,
        operation(state, kind="backup", name="orders"),
    ):
        raise RuntimeError("login kafka-dr:hunter2-s3cret refused")
    with capture_logs() as events:
        log_outcome("backup", raised.value, duration_s=0.1)

    (run,) = state.runs("orders")
    assert run.error == "unexpected error: RuntimeError: login kafka-dr:*** refused"
    assert "hunter2" not in events[0]["error"]


def test_a_broken_state_store_does_not_stop_the_work(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    broken = StateStore(blocker / "state.db")
    done = False

    with capture_logs() as events, operation(broken, kind="backup", name="orders") as op:
        done = True
        op.succeeded(backup_id="orders-1", records=5, bytes=50)

    assert done
    assert names(events) == ["state_write_failed", "backup_done"]
    assert "not-a-dir" in events[0]["error"]


def test_a_broken_state_store_is_logged_and_the_failure_still_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")

    with (
        capture_logs() as events,
        pytest.raises(KafkaError),
        operation(StateStore(blocker / "state.db"), kind="backup", name="orders"),
    ):
        raise KafkaError("cluster primary unreachable")

    assert names(events) == ["state_write_failed"]


def test_without_a_state_store_nothing_is_recorded_but_the_outcome_is_logged() -> None:
    with capture_logs() as events, operation(None, kind="prune", name="orders") as op:
        assert op.run_id is None

    assert names(events) == ["prune_done"]


def test_runs_of_other_kinds_are_not_taken_for_backups(state: StateStore) -> None:
    with operation(state, kind="prune", name="orders"):
        pass

    assert state.last_run("orders") is None
    assert state.last_success("orders", kind="prune") is not None
    assert [r.kind for r in state.runs("orders")] == ["prune"]


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [
        (LockHeld("backup job 'orders' is already running (pid 7); wait for it"), "skipped"),
        (Cancelled("cancelled"), "cancelled"),
        (KeyboardInterrupt(), "cancelled"),
        (KafkaError("unreachable"), "failed"),
        (ValueError("bug"), "failed"),
    ],
)
def test_an_exception_tells_how_the_run_ended(exc: BaseException, outcome: str) -> None:
    assert outcome_of(exc) == outcome
