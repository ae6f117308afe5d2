"""The daemon: scheduled backups with a fake runner, /metrics and /healthz, clean shutdown."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
from apscheduler.triggers.interval import IntervalTrigger
from daemon_fakes import quiet_probes
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from dr.backup.runner import BackupCancelled
from dr.config.schema import Settings
from dr.daemon import Daemon, DaemonError, build_scheduler, crontab_trigger, run_daemon
from dr.daemon.scheduler import run_backup_job
from dr.errors import KafkaError
from dr.metrics import Metrics
from dr.operation import operation
from dr.state import StateStore

TICK_S = 0.1


def fast_trigger(_expr: str) -> Any:
    return IntervalTrigger(seconds=TICK_S, timezone=UTC)


@dataclass(frozen=True)
class FakeResult:
    backup_id: str
    records: int
    bytes: int
    started_at: datetime
    finished_at: datetime


Behaviour = Callable[[str, threading.Event | None], FakeResult]


class FakeRunner:
    """Stands in for run_backup: each job does what its behaviour says, inside the same
    operation() record as the real one (its lock, run row and one outcome event); counts what
    it saw."""

    def __init__(self, **behaviours: Behaviour) -> None:
        self.behaviours = behaviours
        self.calls: dict[str, int] = dict.fromkeys(behaviours, 0)
        self.concurrent: dict[str, int] = dict.fromkeys(behaviours, 0)
        self.most_concurrent: dict[str, int] = dict.fromkeys(behaviours, 0)
        self._lock = threading.Lock()

    def __call__(
        self, settings: Settings, job: str, *, cancel: threading.Event | None = None
    ) -> FakeResult:
        with self._lock:
            self.calls[job] += 1
            self.concurrent[job] += 1
            self.most_concurrent[job] = max(self.most_concurrent[job], self.concurrent[job])
        try:
            assert settings.state is not None
            state = StateStore(settings.state)
            lock = state.exclusive(f"backup-{job}", what=f"backup job '{job}'")
            with operation(state, kind="backup", name=job, lock=lock) as op:
                result = self.behaviours[job](job, cancel)
                op.succeeded(backup_id=result.backup_id, records=result.records, bytes=result.bytes)
                return result
        finally:
            with self._lock:
                self.concurrent[job] -= 1


def succeeds(seconds: float = 0.0) -> Behaviour:
    def run(job: str, _cancel: threading.Event | None) -> FakeResult:
        started = datetime.now(UTC)
        time.sleep(seconds)
        return FakeResult(f"{job}-{time.monotonic_ns()}", 10, 1000, started, datetime.now(UTC))

    return run


def fails(_job: str, _cancel: threading.Event | None) -> FakeResult:
    raise KafkaError("cluster primary unreachable: check bootstrap_servers")


def settings_for(tmp_path: Path, *jobs: str, schedule: str | None = "* * * * *") -> Settings:
    return Settings.model_validate(
        {
            "clusters": {"primary": {"bootstrap_servers": "kafka-1.prod:9092"}},
            "storage": {"local": {"url": f"file://{tmp_path}/backups"}},
            "backups": {
                name: {
                    "cluster": "primary",
                    "topics": [name],
                    "storage": "local",
                    "schedule": schedule,
                }
                for name in jobs
            },
            "daemon": {"listen": "127.0.0.1:0"},
            "state": str(tmp_path / "state.db"),
        }
    )


def wait_until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def statuses(store: StateStore, job: str) -> list[str]:
    return [r.status for r in store.runs(job)]


def sample(text: str, name: str, job: str) -> float | None:
    """The value of ``name{backup_job=...}`` in a /metrics text, as Prometheus parses it."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == {"backup_job": job}:
                return float(s.value)
    return None


def status_in(text: str, job: str) -> str | None:
    """The status kafka_dr_backup_last_run_status gives the job in a /metrics text."""
    found = [
        s.labels["status"]
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "kafka_dr_backup_last_run_status"
        and s.labels["backup_job"] == job
        and s.value == 1
    ]
    assert len(found) <= 1, found
    return found[0] if found else None


def get(port: int, path: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
            return reply.status, reply.headers["Content-Type"], reply.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read()


@pytest.fixture(autouse=True)
def _logs_at_every_level() -> Iterator[None]:
    """capture_logs sees info events even when an earlier test configured level warning."""
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture
def daemon_of(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    """Starts a daemon with fast triggers and a metrics set of its own; stops it afterwards."""
    started: list[Daemon] = []

    def start(runner: FakeRunner) -> Daemon:
        daemon = Daemon(
            settings_for(tmp_path, *runner.behaviours),
            runner=runner,
            metrics=Metrics(),
            trigger_factory=fast_trigger,
            probes=quiet_probes(),
        )
        daemon.start()
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()


# -- cron expressions -------------------------------------------------------------------------


def next_fire(expr: str, after: datetime) -> datetime:
    fire: datetime = crontab_trigger(expr).get_next_fire_time(None, after)
    return fire


def test_weekday_numbers_count_from_sunday_as_in_crontab() -> None:
    monday = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)

    assert next_fire("0 3 * * 0", monday) == datetime(2025, 3, 9, 3, 0, tzinfo=UTC)
    assert next_fire("0 3 * * 7", monday) == datetime(2025, 3, 9, 3, 0, tzinfo=UTC)
    assert next_fire("0 3 * * 1-5", monday) == datetime(2025, 3, 4, 3, 0, tzinfo=UTC)
    assert next_fire("0 3 * * sat", monday) == datetime(2025, 3, 8, 3, 0, tzinfo=UTC)
    assert next_fire("0 3 * * 5-7", monday) == datetime(2025, 3, 7, 3, 0, tzinfo=UTC)


def test_a_day_of_month_and_a_weekday_both_given_fire_on_either_as_in_crontab() -> None:
    saturday = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

    assert next_fire("0 0 1,15 * 1", saturday) == datetime(2025, 3, 3, 0, 0, tzinfo=UTC)
    assert next_fire("0 0 4 * 0", saturday) == datetime(2025, 3, 2, 0, 0, tzinfo=UTC)


def test_schedules_run_in_utc() -> None:
    after = datetime(2025, 3, 1, 10, 7, tzinfo=UTC)

    assert next_fire("*/15 * * * *", after) == datetime(2025, 3, 1, 10, 15, tzinfo=UTC)


def test_an_invalid_schedule_is_refused_with_its_key(tmp_path: Path) -> None:
    from dr.config.load import parse_config
    from dr.errors import ConfigError

    text = (
        "clusters: {primary: {bootstrap_servers: 'k:9092'}}\n"
        f"storage: {{local: {{url: '{(tmp_path / 'store').as_uri()}'}}}}\n"
        "backups: {orders: {cluster: primary, topics: [o], storage: local,"
        " schedule: '0 3 * * 8'}}\n"
    )
    with pytest.raises(ConfigError) as raised:
        parse_config(text, source="test", base_dir=tmp_path)

    assert raised.value.problems[0].startswith("at 'backups.orders.schedule': '0 3 * * 8'")


def test_a_six_field_schedule_fires_on_seconds() -> None:
    trigger = crontab_trigger("*/5 * * * * *")
    after = datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)

    assert trigger.get_next_fire_time(None, after) == datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)


# -- one run ------------------------------------------------------------------------------------


def run_once(
    tmp_path: Path, behaviour: Behaviour, runner: Any = None
) -> tuple[StateStore, Metrics, list[Any]]:
    state, metrics = StateStore(tmp_path / "state.db"), Metrics()
    state.runs()  # created before the logs are captured
    metrics.declare_backup_job("orders")  # as the daemon does when it starts
    with capture_logs() as events:
        run_backup_job(
            "orders",
            settings=settings_for(tmp_path, "orders"),
            runner=runner or FakeRunner(orders=behaviour),
            cancel=threading.Event(),
            metrics=metrics,
        )
    return state, metrics, events


def failures_of(metrics: Metrics, job: str) -> float | None:
    return metrics.registry.get_sample_value("kafka_dr_backup_failures_total", {"backup_job": job})


def test_a_successful_run_is_recorded_once_counted_and_logged_once(tmp_path: Path) -> None:
    state, metrics, events = run_once(tmp_path, succeeds())

    (run,) = state.runs("orders")
    assert run.status == "succeeded"
    assert run.backup_id is not None and (run.records, run.bytes) == (10, 1000)
    records = {"backup_job": "orders"}
    assert metrics.registry.get_sample_value("kafka_dr_backup_records_total", records) == 10
    assert [e["event"] for e in events] == ["backup_done"]
    assert events[0]["backup_id"] == run.backup_id
    assert {"records", "bytes", "duration_s"} <= set(events[0])


def test_a_failed_run_is_recorded_with_its_one_line_error_and_counted(tmp_path: Path) -> None:
    state, metrics, events = run_once(tmp_path, fails)

    (run,) = state.runs("orders")
    assert run.status == "failed"
    assert run.error == "cluster primary unreachable: check bootstrap_servers"
    assert failures_of(metrics, "orders") == 1
    assert [(e["event"], e["error"]) for e in events] == [("backup_failed", run.error)]
    assert events[0]["exc_info"] is False


def test_an_unexpected_exception_is_recorded_as_a_failure_with_its_traceback(
    tmp_path: Path,
) -> None:
    def crashes(_job: str, _cancel: threading.Event | None) -> FakeResult:
        raise ZeroDivisionError("division by zero")

    state, metrics, events = run_once(tmp_path, crashes)

    last = state.last_run("orders")
    assert last is not None and last.status == "failed"
    assert last.error == "unexpected error: ZeroDivisionError: division by zero"
    assert failures_of(metrics, "orders") == 1
    assert [e["event"] for e in events] == ["backup_failed"]
    assert events[0]["exc_info"] is True


def test_a_run_skipped_while_a_cli_backup_holds_the_lock_is_not_a_failure(
    tmp_path: Path,
) -> None:
    state = StateStore(tmp_path / "state.db")

    with state.exclusive("backup-orders", what="backup job 'orders'"):
        state, metrics, events = run_once(tmp_path, succeeds())

    (run,) = state.runs("orders")
    assert run.status == "skipped"
    assert run.error is not None and "backup job 'orders' is already running" in run.error
    assert failures_of(metrics, "orders") == 0
    assert [e["event"] for e in events] == ["backup_skipped"]


def test_the_daemon_leaves_the_record_to_the_run_and_reports_its_failure_once(
    tmp_path: Path,
) -> None:
    def bare(settings: Settings, job: str, *, cancel: threading.Event | None = None) -> FakeResult:
        return fails(job, cancel)

    state, metrics, events = run_once(tmp_path, fails, runner=bare)

    assert state.runs("orders") == []
    assert [e["event"] for e in events] == ["backup_failed"]
    assert failures_of(metrics, "orders") == 1


# -- the scheduler ------------------------------------------------------------------------------


def test_a_slow_job_never_runs_twice_at_once(tmp_path: Path) -> None:
    runner = FakeRunner(orders=succeeds(seconds=4 * TICK_S))
    state = StateStore(tmp_path / "state.db")
    scheduler = build_scheduler(
        settings_for(tmp_path, "orders"),
        runner=runner,
        state=state,
        cancel=threading.Event(),
        metrics=Metrics(),
        trigger_factory=fast_trigger,
    )
    with capture_logs() as events:
        scheduler.start()
        try:
            wait_until(lambda: statuses(state, "orders").count("succeeded") >= 2)
        finally:
            scheduler.shutdown(wait=True)

    assert runner.most_concurrent["orders"] == 1
    assert set(statuses(state, "orders")) == {"succeeded"}
    skipped = [e for e in events if e["event"] == "backup_skipped"]
    assert skipped and skipped[0]["job"] == "orders"


def test_a_failing_job_keeps_failing_while_the_other_keeps_succeeding(
    daemon_of: Callable[[FakeRunner], Daemon],
) -> None:
    daemon = daemon_of(FakeRunner(orders=succeeds(), payments=fails))

    wait_until(lambda: statuses(daemon.state, "payments").count("failed") >= 3)
    wait_until(lambda: statuses(daemon.state, "orders").count("succeeded") >= 3)

    status, content_type, body = get(daemon.port, "/metrics")
    text = body.decode()
    assert status == 200
    assert content_type.startswith("text/plain")
    assert (sample(text, "kafka_dr_backup_failures_total", "payments") or 0) >= 3
    assert sample(text, "kafka_dr_backup_failures_total", "orders") == 0
    assert (sample(text, "kafka_dr_backup_last_success_timestamp_seconds", "orders") or 0) > 0
    assert sample(text, "kafka_dr_backup_last_success_timestamp_seconds", "payments") == 0
    assert (sample(text, "kafka_dr_backup_last_failure_timestamp_seconds", "payments") or 0) > 0
    assert (sample(text, "kafka_dr_backup_records_total", "orders") or 0) >= 30


def test_healthz_answers_503_naming_the_failing_job_and_other_paths_are_not_found(
    daemon_of: Callable[[FakeRunner], Daemon],
) -> None:
    daemon = daemon_of(FakeRunner(orders=succeeds(), payments=fails))
    wait_until(lambda: "failed" in statuses(daemon.state, "payments"))
    wait_until(lambda: "succeeded" in statuses(daemon.state, "orders"))

    status, content_type, body = get(daemon.port, "/healthz")
    health = json.loads(body)

    assert (status, content_type) == (503, "application/json")
    assert health["status"] == "failing"
    assert [(p["check"], p["subject"]) for p in health["failing"]] == [
        ("backup_failed", "payments")
    ]
    assert "cluster primary unreachable" in health["failing"][0]["detail"]
    assert set(health["jobs"]) == {"orders", "payments"}
    orders, payments = health["jobs"]["orders"], health["jobs"]["payments"]
    assert orders["last_success_at"] is not None and orders["failing"] is False
    assert payments["last_success_at"] is None and payments["failing"] is True
    assert payments["last_failure_at"] is not None
    assert payments["last_status"] in ("failed", "running")
    assert isinstance(orders["running"], bool)
    assert get(daemon.port, "/")[0] == 404
    assert get(daemon.port, "/metricsx")[0] == 404


def test_healthz_is_200_while_every_job_succeeds(
    daemon_of: Callable[[FakeRunner], Daemon],
) -> None:
    daemon = daemon_of(FakeRunner(orders=succeeds()))
    wait_until(lambda: "succeeded" in statuses(daemon.state, "orders"))

    status, _, body = get(daemon.port, "/healthz")

    health = json.loads(body)
    assert (status, health["status"], health["failing"]) == (200, "ok", [])
    assert health["jobs"]["orders"]["stale_after_s"] == 300
    assert health["preflight"]["ok"] in (True, None)


def head(port: int, path: str) -> tuple[int, str, str, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            headers = reply.headers
            return reply.status, headers["Content-Type"], headers["Content-Length"], reply.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.headers["Content-Length"], err.read()


def test_head_answers_with_the_headers_of_get_and_no_body(
    daemon_of: Callable[[FakeRunner], Daemon],
) -> None:
    daemon = daemon_of(FakeRunner(orders=fails))
    wait_until(lambda: "failed" in statuses(daemon.state, "orders"))

    metrics = head(daemon.port, "/metrics")
    health = head(daemon.port, "/healthz")

    assert metrics[0] == 200 and metrics[1].startswith("text/plain")
    assert int(metrics[2]) > 1000 and metrics[3] == b""
    assert health[:2] == (503, "application/json") and health[3] == b""
    assert head(daemon.port, "/nowhere")[0] == 404


def cli_backup(state: StateStore, job: str, behaviour: Behaviour) -> None:
    """A backup as `kafka-dr backup run` records it: the same operation, in another process."""
    try:
        with operation(state, kind="backup", name=job) as op:
            result = behaviour(job, None)
            op.succeeded(backup_id=result.backup_id, records=result.records, bytes=result.bytes)
    except KafkaError:
        pass


def test_healthz_and_the_backup_age_show_a_job_run_only_from_the_cli(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, "orders", schedule=None)
    daemon = Daemon(
        settings,
        runner=FakeRunner(orders=fails),
        metrics=Metrics(),
        trigger_factory=fast_trigger,
        probes=quiet_probes(),
    )
    daemon.start()
    try:
        assert daemon.health()[1]["jobs"]["orders"]["last_success_at"] is None

        cli_backup(daemon.state, "orders", succeeds())

        _, _, body = get(daemon.port, "/healthz")
        orders = json.loads(body)["jobs"]["orders"]
        text = get(daemon.port, "/metrics")[2].decode()
    finally:
        daemon.stop()

    success = daemon.state.last_success("orders")
    assert success is not None and success.finished_at is not None
    assert orders["last_status"] == "succeeded"
    assert orders["last_success_at"] == success.finished_at.isoformat()
    assert (orders["scheduled"], orders["next_run_at"]) == (False, None)
    last_success = sample(text, "kafka_dr_backup_last_success_timestamp_seconds", "orders")
    assert last_success == success.finished_at.timestamp()
    assert status_in(text, "orders") == "succeeded"


def test_a_skipped_run_leaves_the_last_status_and_the_last_success_as_they_were(
    tmp_path: Path,
) -> None:
    daemon = Daemon(
        settings_for(tmp_path, "orders", schedule=None),
        runner=FakeRunner(orders=fails),
        metrics=Metrics(),
    )
    cli_backup(daemon.state, "orders", fails)
    daemon.state.record_skipped("orders", reason="backup job 'orders' is already running")

    orders = daemon.health()[1]["jobs"]["orders"]

    assert orders["last_status"] == "failed"
    assert orders["last_success_at"] is None
    assert orders["running"] is False


def test_a_stopped_daemon_reports_itself_unhealthy(
    daemon_of: Callable[[FakeRunner], Daemon],
) -> None:
    daemon = daemon_of(FakeRunner(orders=succeeds()))
    assert daemon.health()[0]

    daemon.stop()

    healthy, body = daemon.health()
    assert not healthy and body["status"] == "stopped"


def test_a_port_in_use_is_refused_with_the_address(tmp_path: Path) -> None:
    first = Daemon(
        settings_for(tmp_path, "orders"),
        runner=FakeRunner(orders=succeeds()),
        metrics=Metrics(),
        probes=quiet_probes(),
    )
    first.start()
    try:
        taken = settings_for(tmp_path, "orders").model_copy(
            update={
                "daemon": first.settings.daemon.model_copy(
                    update={"listen": f"127.0.0.1:{first.port}"}
                )
            }
        )
        with pytest.raises(DaemonError, match=f"cannot listen on 127.0.0.1:{first.port}"):
            Daemon(taken, runner=FakeRunner(orders=succeeds()), probes=quiet_probes()).start()
    finally:
        first.stop()


# -- shutdown -----------------------------------------------------------------------------------


class BlocksUntilCancelled:
    """A backup that runs until cancelled, then raises as run_backup does."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.saw_cancel = False

    def __call__(self, job: str, cancel: threading.Event | None) -> FakeResult:
        assert cancel is not None
        self.started.set()
        self.saw_cancel = cancel.wait(timeout=10)
        raise BackupCancelled(f"backup of job '{job}' cancelled: nothing recorded")


def test_the_stop_event_cancels_the_running_backup_and_records_it_cancelled(
    tmp_path: Path,
) -> None:
    backup = BlocksUntilCancelled()
    settings = settings_for(tmp_path, "orders")
    stop = threading.Event()
    thread = threading.Thread(
        target=run_daemon,
        args=(settings,),
        kwargs={
            "runner": FakeRunner(orders=backup),
            "stop": stop,
            "metrics": Metrics(),
            "trigger_factory": fast_trigger,
            "probes": quiet_probes(),
        },
    )

    with capture_logs() as events:
        thread.start()
        assert backup.started.wait(timeout=5)
        stop.set()
        thread.join(timeout=10)

    assert not thread.is_alive()
    assert backup.saw_cancel
    assert statuses(StateStore(tmp_path / "state.db"), "orders") == ["cancelled"]
    names = [e["event"] for e in events if e["event"].startswith(("daemon_", "backup_"))]
    assert names[0] == "daemon_started" and names[-1] == "daemon_stopped"
    assert "backup_cancelled" in names and "backup_failed" not in names


def test_sigterm_stops_the_daemon_the_same_way(tmp_path: Path) -> None:
    backup = BlocksUntilCancelled()
    previous = signal.getsignal(signal.SIGTERM)

    def terminate_once_running() -> None:
        if backup.started.wait(timeout=5):
            os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=terminate_once_running)
    killer.start()
    run_daemon(
        settings_for(tmp_path, "orders"),
        runner=FakeRunner(orders=backup),
        metrics=Metrics(),
        trigger_factory=fast_trigger,
        probes=quiet_probes(),
    )
    killer.join()

    assert backup.saw_cancel
    assert statuses(StateStore(tmp_path / "state.db"), "orders") == ["cancelled"]
    assert signal.getsignal(signal.SIGTERM) == previous
