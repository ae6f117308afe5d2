"""Scheduled drills in the daemon: their jobs, one outcome event, the kafka_dr_drill_* metrics
and /healthz, read from the state store's drill_runs whoever ran the drill."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import structlog
from apscheduler.events import EVENT_JOB_MAX_INSTANCES
from apscheduler.triggers.interval import IntervalTrigger
from daemon_fakes import quiet_probes
from structlog.testing import capture_logs

from dr.config.schema import Settings
from dr.daemon import Daemon, build_scheduler, run_drill_job
from dr.daemon.drills import DrillWatch
from dr.daemon.scheduler import _log_skipped_run
from dr.drill.run import run_drill
from dr.metrics import Metrics
from dr.state import StateStore

TICK_S = 0.1
PASSED = {"checks_failed": 0, "objectives_missed": 0, "rto_seconds": 12.5}


def fast_trigger(_expr: str) -> Any:
    return IntervalTrigger(seconds=TICK_S, timezone=UTC)


def settings_for(tmp_path: Path, **schedules: str | None) -> Settings:
    """A config whose drills ``weekly`` (backup-restore) and ``gameday`` (failover, which is
    destructive) have the given schedules; a drill not named is not configured."""
    scenarios = {
        "weekly": {"backup_restore": {"jobs": ["orders"]}},
        "gameday": {"failover": {"flow": "primary->dr"}},
    }
    return Settings.model_validate(
        {
            "clusters": {
                "primary": {"bootstrap_servers": "kafka-1.prod:9092"},
                "dr": {"bootstrap_servers": "kafka-1.dr:9092"},
            },
            "storage": {"local": {"url": f"file://{tmp_path}/backups"}},
            "backups": {"orders": {"cluster": "primary", "topics": ["orders"], "storage": "local"}},
            "mirror": {"flows": [{"source": "primary", "target": "dr"}]},
            "drills": {
                name: {"scenarios": scenarios[name], "schedule": schedule}
                for name, schedule in schedules.items()
            },
            "daemon": {"listen": "127.0.0.1:0"},
            "state": str(tmp_path / "state.db"),
        }
    )


def record_drill(
    state: StateStore, drill: str, drill_id: str, status: str, summary: Mapping[str, Any]
) -> None:
    """A drill run as run_drill records it (from the CLI or the daemon)."""
    state.start_drill_run(drill_id, drill, started_at=datetime.now(UTC), summary={})
    state.finish_drill_run(drill_id, status, summary=summary)  # type: ignore[arg-type]


@dataclass(frozen=True)
class FakeReport:
    drill_id: str
    outcome: str


@dataclass(frozen=True)
class FakeResult:
    report: FakeReport


class FakeDrillRunner:
    """Stands in for run_drill: records a run with the given outcome and summary, as run_drill
    does, and keeps the keyword arguments it was called with."""

    def __init__(self, outcome: str = "passed", summary: Mapping[str, Any] = PASSED) -> None:
        self.outcome, self.summary = outcome, summary
        self.calls: list[dict[str, Any]] = []

    def __call__(
        self,
        settings: Settings,
        drill: str,
        *,
        destructive: bool,
        trigger: str,
        cancel: threading.Event | None,
    ) -> FakeResult:
        self.calls.append({"destructive": destructive, "trigger": trigger, "cancel": cancel})
        assert settings.state is not None
        drill_id = f"{drill}-{len(self.calls)}"
        record_drill(StateStore(settings.state), drill, drill_id, self.outcome, self.summary)
        return FakeResult(FakeReport(drill_id, self.outcome))


def crashes(settings: Settings, drill: str, **_kwargs: Any) -> FakeResult:
    raise ZeroDivisionError("division by zero")


def no_backup(settings: Settings, job: str, *, cancel: threading.Event | None = None) -> Any:
    raise AssertionError("no backup is scheduled in these tests")


def sample(metrics: Metrics, name: str, drill: str) -> float | None:
    return metrics.registry.get_sample_value(name, {"drill": drill})


def status_of(metrics: Metrics, drill: str) -> str | None:
    """The status kafka_dr_drill_last_run_status gives the drill (the one series at 1)."""
    found = [
        status
        for status in ("never_run", "passed", "failed", "error", "refused")
        if metrics.registry.get_sample_value(
            "kafka_dr_drill_last_run_status", {"drill": drill, "status": status}
        )
        == 1
    ]
    assert len(found) <= 1, found
    return found[0] if found else None


def get(port: int, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def wait_until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture(autouse=True)
def _logs_at_every_level() -> Iterator[None]:
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture
def daemon_of(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    """Starts a daemon on the given config with fast triggers; stops it afterwards."""
    started: list[Daemon] = []

    def start(settings: Settings, drill_runner: Any = None) -> Daemon:
        daemon = Daemon(
            settings,
            runner=no_backup,
            metrics=Metrics(),
            trigger_factory=fast_trigger,
            drill_runner=drill_runner or FakeDrillRunner(),
            probes=quiet_probes(),
        )
        daemon.start()
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()


def run_job(settings: Settings, runner: Any, watch: DrillWatch, metrics: Metrics) -> list[Any]:
    with capture_logs() as events:
        run_drill_job(
            "gameday" if "gameday" in settings.drills else "weekly",
            settings=settings,
            runner=runner,
            cancel=threading.Event(),
            watch=watch,
            metrics=metrics,
        )
    return events


# -- the schedule -------------------------------------------------------------------------------


def test_a_drill_with_a_schedule_gets_a_job_and_a_drill_without_one_gets_none(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path, weekly="0 4 * * 1", gameday=None)
    scheduler = build_scheduler(
        settings,
        runner=no_backup,
        state=StateStore(tmp_path / "state.db"),
        cancel=threading.Event(),
        metrics=Metrics(),
    )

    job = scheduler.get_job("drill:weekly")
    assert job is not None and job.name == "drill weekly"
    assert scheduler.get_job("drill:gameday") is None
    assert scheduler.get_job("weekly") is None  # a drill's id never clashes with a backup job's


def test_a_scheduled_drill_runs_as_the_daemon_never_destructive_and_adds_no_second_outcome(
    tmp_path: Path, daemon_of: Callable[..., Daemon]
) -> None:
    summary = {**PASSED, "checks_failed": 2, "json": "/reports/drill-x.json"}
    runner = FakeDrillRunner("failed", summary)
    with capture_logs() as events:
        daemon = daemon_of(settings_for(tmp_path, weekly="* * * * *"), runner)
        wait_until(lambda: sample(daemon.metrics, "kafka_dr_drill_checks_failed", "weekly") == 2)

    call = runner.calls[0]
    assert (call["trigger"], call["destructive"], call["cancel"]) == (
        "daemon",
        False,
        daemon.cancel,
    )
    # The drill logs its own outcome (run_drill's drill_finished); the daemon adds none.
    assert not [e for e in events if e["event"] in ("drill_finished", "drill_done")]


def test_skipped_and_missed_drill_runs_are_logged_as_drill_events() -> None:
    skipped = SimpleNamespace(code=EVENT_JOB_MAX_INSTANCES, job_id="drill:weekly")

    with capture_logs() as events:
        _log_skipped_run(skipped)

    assert [(e["event"], e["drill"]) for e in events] == [("drill_skipped", "weekly")]


# -- the metrics --------------------------------------------------------------------------------


def test_the_metrics_show_a_drill_run_from_the_cli_at_the_next_refresh(tmp_path: Path) -> None:
    daemon = Daemon(settings_for(tmp_path, weekly=None), runner=no_backup, metrics=Metrics())
    record_drill(daemon.state, "weekly", "d1", "passed", PASSED)
    record_drill(daemon.state, "weekly", "d2", "failed", {**PASSED, "objectives_missed": 1})

    daemon.refresh_metrics()

    (d1, d2) = sorted(daemon.state.drill_runs(drill="weekly"), key=lambda r: r.drill_id)
    assert d1.finished_at is not None and d2.finished_at is not None
    m = daemon.metrics
    assert sample(m, "kafka_dr_drill_last_run_timestamp_seconds", "weekly") == (
        d2.finished_at.timestamp()
    )
    assert sample(m, "kafka_dr_drill_last_success_timestamp_seconds", "weekly") == (
        d1.finished_at.timestamp()
    )
    assert sample(m, "kafka_dr_drill_last_failure_timestamp_seconds", "weekly") == (
        d2.finished_at.timestamp()
    )
    assert status_of(m, "weekly") == "failed"
    assert sample(m, "kafka_dr_drill_checks_failed", "weekly") == 0
    assert sample(m, "kafka_dr_drill_objectives_missed", "weekly") == 1
    assert sample(m, "kafka_dr_drill_rto_seconds", "weekly") == 12.5


def test_a_last_run_that_measured_no_rto_has_no_rto_series_rather_than_a_zero(
    tmp_path: Path,
) -> None:
    daemon = Daemon(settings_for(tmp_path, weekly=None), runner=no_backup, metrics=Metrics())
    record_drill(daemon.state, "weekly", "d1", "passed", PASSED)
    daemon.refresh_metrics()
    record_drill(daemon.state, "weekly", "d2", "passed", {**PASSED, "rto_seconds": None})

    daemon.refresh_metrics()

    assert sample(daemon.metrics, "kafka_dr_drill_rto_seconds", "weekly") is None
    assert status_of(daemon.metrics, "weekly") == "passed"


def test_a_drill_never_run_has_its_series_from_the_start_with_no_figures(
    tmp_path: Path, daemon_of: Callable[..., Daemon]
) -> None:
    daemon = daemon_of(settings_for(tmp_path, weekly="0 4 * * 1"))
    m = daemon.metrics

    assert status_of(m, "weekly") == "never_run"
    for name in ("last_run", "last_success", "last_failure"):
        assert sample(m, f"kafka_dr_drill_{name}_timestamp_seconds", "weekly") == 0
    assert sample(m, "kafka_dr_drill_stale_after_seconds", "weekly") == 2 * 7 * 86400
    for figure in ("checks_failed", "objectives_missed", "rto_seconds"):
        assert sample(m, f"kafka_dr_drill_{figure}", "weekly") is None


# -- /healthz -------------------------------------------------------------------------------------


def test_health_fails_after_a_failed_drill_and_recovers_after_a_passed_one(
    tmp_path: Path, daemon_of: Callable[..., Daemon]
) -> None:
    daemon = daemon_of(settings_for(tmp_path, weekly=None))
    record_drill(daemon.state, "weekly", "d1", "passed", PASSED)
    assert get(daemon.port, "/healthz")[0] == 200

    summary = {**PASSED, "checks_failed": 3, "json": "/reports/drill-d2.json"}
    record_drill(daemon.state, "weekly", "d2", "failed", summary)
    status, failing = get(daemon.port, "/healthz")

    record_drill(daemon.state, "weekly", "d3", "passed", PASSED)
    recovered_status, recovered = get(daemon.port, "/healthz")

    assert status == 503
    assert failing["status"] == "failing"
    assert [(p["check"], p["subject"]) for p in failing["failing"]] == [("drill_failed", "weekly")]
    assert "3 checks failed (report /reports/drill-d2.json)" in failing["failing"][0]["detail"]
    weekly = failing["drills"]["weekly"]
    assert (weekly["outcome"], weekly["drill_id"], weekly["checks_failed"]) == ("failed", "d2", 3)
    assert weekly["report"] == "/reports/drill-d2.json"
    assert weekly["finished_at"] is not None and weekly["last_success_at"] is not None
    assert (recovered_status, recovered["status"], recovered["failing"]) == (200, "ok", [])
    assert recovered["drills"]["weekly"]["outcome"] == "passed"


def test_a_drill_never_run_is_reported_as_such_and_does_not_fail_health(
    tmp_path: Path, daemon_of: Callable[..., Daemon]
) -> None:
    daemon = daemon_of(settings_for(tmp_path, weekly=None))

    status, health = get(daemon.port, "/healthz")

    assert status == 200
    weekly = health["drills"]["weekly"]
    assert (weekly["outcome"], weekly["drill_id"], weekly["finished_at"]) == (
        "never run",
        None,
        None,
    )
    assert (weekly["scheduled"], weekly["next_run_at"]) == (False, None)


# -- drills that do not get as far as a report -----------------------------------------------------


def test_a_refused_destructive_drill_never_raises_and_counts_as_a_failed_run(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path, gameday="0 4 * * 1")
    state, metrics = StateStore(tmp_path / "state.db"), Metrics()
    watch = DrillWatch(state, settings.drills)

    events = run_job(settings, run_drill, watch, metrics)

    (refused,) = [e for e in events if e["event"] == "drill_refused"]
    assert refused["log_level"] == "error" and "destructive" in refused["error"]
    assert "--destructive" in refused["hint"] and "drills.gameday.schedule" in refused["hint"]
    last = watch.standing("gameday").last
    assert last is not None and (last.outcome, last.drill_id) == ("refused", None)
    assert status_of(metrics, "gameday") == "refused"
    assert sample(metrics, "kafka_dr_drill_last_failure_timestamp_seconds", "gameday") == (
        last.finished_at.timestamp()
    )
    assert sample(metrics, "kafka_dr_drill_checks_failed", "gameday") is None
    assert state.drill_runs() == []  # refused before anything was touched


def test_a_passed_drill_run_after_a_refusal_makes_the_drill_healthy_again(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path, gameday="0 4 * * 1")
    state = StateStore(tmp_path / "state.db")
    watch = DrillWatch(state, settings.drills)
    run_job(settings, run_drill, watch, Metrics())
    assert watch.standing("gameday").failing

    record_drill(state, "gameday", "by-hand", "passed", PASSED)  # --destructive, from the CLI

    standing = watch.standing("gameday")
    assert not standing.failing
    assert standing.last is not None and standing.last.drill_id == "by-hand"


def test_a_drill_that_crashes_is_logged_with_its_traceback_and_counted_failed(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path, weekly="0 4 * * 1")
    watch, metrics = DrillWatch(StateStore(tmp_path / "state.db"), settings.drills), Metrics()

    events = run_job(settings, crashes, watch, metrics)

    (failed,) = [e for e in events if e["event"] == "drill_failed"]
    assert failed["exc_info"] is True
    last = watch.standing("weekly").last
    assert last is not None and last.outcome == "error"
    assert last.error == "unexpected error: ZeroDivisionError: division by zero"
    assert status_of(metrics, "weekly") == "error"


def test_a_drill_skipped_while_another_drill_holds_the_lock_is_not_a_failure(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path, weekly="0 4 * * 1")
    state = StateStore(tmp_path / "state.db")
    state.drill_runs()  # created before the logs are captured
    watch = DrillWatch(state, settings.drills)

    with state.exclusive("drill", what="a DR drill"):
        events = run_job(settings, run_drill, watch, Metrics())

    assert [e["event"] for e in events] == ["drill_skipped"]
    assert watch.standing("weekly").last is None
