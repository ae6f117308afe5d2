"""RPO history: the daemon's samples in the state store, summarised per flow and per job."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from dr.config import Settings, parse_config
from dr.objectives.history import LAG_METRIC, RPO_METRIC, record_sample, rpo_history, summarise
from dr.objectives.rpo import BackupRpo, FlowRpo, RpoReport
from dr.state import StateStore

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
FLOW = "primary->dr"


def settings(tmp_path: Path, *, rpo_seconds: float = 60) -> Settings:
    text = f"""
clusters:
  primary: {{bootstrap_servers: "kafka-1.prod:9092"}}
  dr: {{bootstrap_servers: "kafka-1.dr:9092"}}
objectives: {{rpo_seconds: {rpo_seconds}}}
storage:
  local: {{url: "{(tmp_path / "store").as_uri()}"}}
backups:
  orders: {{cluster: primary, topics: [orders], storage: local}}
mirror:
  flows:
    - {{source: primary, target: dr}}
"""
    return parse_config(text, source="kafka-dr.yaml", base_dir=tmp_path)


def store(tmp_path: Path) -> StateStore:
    return StateStore(tmp_path / "state" / "kafka-dr.db")


def add(state: StateStore, labels: dict[str, str], values_by_minutes_ago: dict[int, float]) -> None:
    for minutes_ago, value in values_by_minutes_ago.items():
        state.add_sample(RPO_METRIC, labels, value, NOW - timedelta(minutes=minutes_ago))


# -- summarise ------------------------------------------------------------------------------


def test_a_handful_of_values_gives_min_mean_max_p99_and_the_breaches() -> None:
    summary = summarise("flow", FLOW, [30.0, 10.0, 60.0, 90.0, 50.0], 60.0)

    assert summary.kind == "flow"
    assert summary.name == FLOW
    assert summary.samples == 5
    assert summary.min == 10.0
    assert summary.mean == pytest.approx(48.0)
    assert summary.max == 90.0
    assert summary.p99 == 90.0
    assert summary.target_seconds == 60.0


def test_only_values_above_the_target_are_breaches_not_those_equal_to_it() -> None:
    summary = summarise("job", "orders", [59.9, 60.0, 60.1, 300.0], 60.0)

    assert summary.breaches == 2


def test_a_single_value_is_its_own_min_mean_max_and_p99() -> None:
    summary = summarise("job", "orders", [42.5], 60.0)

    assert (summary.samples, summary.min, summary.mean, summary.max, summary.p99) == (
        1,
        42.5,
        42.5,
        42.5,
        42.5,
    )
    assert summary.breaches == 0


def test_p99_of_a_hundred_values_is_the_ninety_ninth_smallest_whatever_their_order() -> None:
    values = [float(v) for v in range(1, 101)]
    random.Random(7).shuffle(values)

    summary = summarise("flow", FLOW, values, 60.0)

    assert summary.p99 == 99.0
    assert summary.max == 100.0
    assert summary.mean == pytest.approx(50.5)
    assert summary.breaches == 40


def test_p99_of_many_samples_ignores_one_outlier_that_max_still_shows() -> None:
    values = [5.0] * 150 + [3600.0]

    summary = summarise("flow", FLOW, values, 60.0)

    assert summary.p99 == 5.0
    assert summary.max == 3600.0
    assert summary.breaches == 1


def test_p99_of_a_thousand_values_sits_at_the_ninety_ninth_percentile() -> None:
    summary = summarise("flow", FLOW, [float(v) for v in range(1000, 0, -1)], 60.0)

    assert summary.p99 == 990.0


# -- rpo_history over a state store ---------------------------------------------------------


def test_history_summarises_each_flow_and_each_job_from_the_stored_samples(
    tmp_path: Path,
) -> None:
    state = store(tmp_path)
    add(state, {"flow": FLOW}, {50: 2.0, 40: 4.0, 30: 12.0})
    add(state, {"job": "orders"}, {45: 600.0, 15: 30.0})

    summaries = rpo_history(settings(tmp_path), state, NOW - timedelta(hours=1))

    assert [(s.kind, s.name) for s in summaries] == [("flow", FLOW), ("job", "orders")]
    flow, job = summaries
    assert (flow.samples, flow.min, flow.max) == (3, 2.0, 12.0)
    assert flow.mean == pytest.approx(6.0)
    assert (job.samples, job.min, job.max, job.mean) == (2, 30.0, 600.0, 315.0)


def test_history_keeps_only_the_samples_taken_since_the_window_start(tmp_path: Path) -> None:
    state = store(tmp_path)
    add(state, {"flow": FLOW}, {180: 900.0, 61: 800.0, 60: 7.0, 10: 3.0})

    (flow,) = rpo_history(settings(tmp_path), state, NOW - timedelta(minutes=60))

    assert flow.samples == 2
    assert flow.max == 7.0
    assert flow.breaches == 0


def test_history_counts_breaches_against_the_configured_rpo_objective(tmp_path: Path) -> None:
    state = store(tmp_path)
    add(state, {"flow": FLOW}, {40: 10.0, 30: 25.0, 20: 45.0, 10: 90.0})
    since = NOW - timedelta(hours=1)

    (strict,) = rpo_history(settings(tmp_path, rpo_seconds=20), state, since)
    (lenient,) = rpo_history(settings(tmp_path, rpo_seconds=60), state, since)

    assert (strict.breaches, strict.target_seconds) == (3, 20.0)
    assert (lenient.breaches, lenient.target_seconds) == (1, 60.0)


def test_history_ignores_the_lag_samples_stored_beside_the_rpo_ones(tmp_path: Path) -> None:
    state = store(tmp_path)
    add(state, {"flow": FLOW}, {10: 3.0})
    state.add_sample(LAG_METRIC, {"flow": FLOW}, 50_000.0, NOW - timedelta(minutes=10))

    (flow,) = rpo_history(settings(tmp_path), state, NOW - timedelta(hours=1))

    assert (flow.samples, flow.max) == (1, 3.0)


def test_a_flow_and_a_job_of_the_same_name_stay_two_series(tmp_path: Path) -> None:
    state = store(tmp_path)
    add(state, {"flow": "orders"}, {10: 1.0})
    add(state, {"job": "orders"}, {10: 100.0})

    summaries = rpo_history(settings(tmp_path), state, NOW - timedelta(hours=1))

    assert [(s.kind, s.name, s.max) for s in summaries] == [
        ("flow", "orders", 1.0),
        ("job", "orders", 100.0),
    ]


def test_history_of_an_empty_window_is_empty(tmp_path: Path) -> None:
    state = store(tmp_path)
    add(state, {"flow": FLOW}, {120: 3.0})

    assert rpo_history(settings(tmp_path), state, NOW - timedelta(hours=1)) == []


def test_an_unmeasured_flow_stores_no_rpo_sample_and_is_logged_with_its_reason(
    tmp_path: Path,
) -> None:
    state = store(tmp_path)
    reason = "the record at offset 40 of orders-0 could not be read within 15s"
    report = RpoReport(
        measured_at=NOW.timestamp(),
        flows=(FlowRpo(FLOW, None, 60, None, 60.0, unmeasured=reason),),
        backups=(BackupRpo("orders", 12.0, 3, 60.0, None),),
    )

    with capture_logs() as events:
        record_sample(report, state)

    assert rpo_history(settings(tmp_path), state, NOW - timedelta(hours=1))[0].kind == "job"
    assert [s.value for s in state.samples(LAG_METRIC, NOW, {"flow": FLOW})] == [60.0]
    unmeasured = [e for e in events if e["event"] == "rpo_unmeasured"]
    assert [(e["name"], e["reason"]) for e in unmeasured] == [(FLOW, reason)]


def test_an_unknown_lag_stores_no_lag_sample_either(tmp_path: Path) -> None:
    state = store(tmp_path)
    report = RpoReport(
        measured_at=NOW.timestamp(),
        flows=(FlowRpo(FLOW, None, None, None, 60.0, unmeasured="replica unreadable"),),
    )

    record_sample(report, state)

    assert state.samples(RPO_METRIC, NOW) == []
    assert state.samples(LAG_METRIC, NOW) == []
