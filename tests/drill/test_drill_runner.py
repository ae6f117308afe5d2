"""run_drill around its scenarios: every outcome recorded and reported, interruptions and bad
evidence settings handled, with a scenario stood in for by a small function."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from dr.config import parse_config
from dr.config.schema import Settings
from dr.drill import scenarios as scenario_registry
from dr.drill.choice import DrillRefused
from dr.drill.context import DrillContext
from dr.drill.model import Objective
from dr.drill.run import run_drill
from dr.drill.signing import SigningKeyError
from dr.errors import DrError
from dr.state import StateStore

CONFIG = """\
clusters:
  primary: {{bootstrap_servers: "127.0.0.1:1"}}
  dr: {{bootstrap_servers: "127.0.0.1:2"}}
storage:
  local: {{url: "{store}"}}
mirror:
  flows: [{{source: primary, target: dr}}]
drills:
  weekly:
    report_dir: "{reports}"
    storage: local
    scenarios:
      mirror: {{flows: ["primary->dr"]}}
state: "{state}"
"""


def settings(tmp_path: Path, **extra: str) -> Settings:
    text = CONFIG.format(
        store=(tmp_path / "store").as_uri(),
        reports=tmp_path / "reports",
        state=tmp_path / "state.db",
    )
    for key, value in extra.items():
        text = text.replace("    storage: local\n", f"    storage: local\n    {key}: {value}\n")
    return parse_config(text, source="kafka-dr.yaml", base_dir=tmp_path)


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The mirror scenario replaced by whatever the test puts in the list."""
    behaviour: list[Any] = []

    def scenario(ctx: DrillContext, _settings: Any) -> None:
        behaviour[0](ctx)

    monkeypatch.setitem(scenario_registry.SCENARIO_RUNNERS, "mirror", scenario)
    return behaviour


def met(ctx: DrillContext) -> None:
    ctx.recorder.objective(Objective("mirror", "rpo", "primary->dr", 60.0, 1.5))


def test_a_drill_whose_checks_pass_and_objectives_are_met_passes_and_leaves_its_evidence(
    tmp_path: Path, stand_in: list[Any]
) -> None:
    stand_in.append(met)

    result = run_drill(settings(tmp_path), "weekly")

    assert result.report.outcome == "passed" and result.exit_code == 0
    assert result.files is not None and result.files.json_path is not None
    envelope = json.loads(result.files.json_path.read_text())
    assert envelope["report"]["drill_id"] == result.report.drill_id
    assert (tmp_path / "store" / "drills" / result.files.json_path.name).is_file()
    row = StateStore(tmp_path / "state.db").drill_run(result.report.drill_id)
    assert row is not None and row.status == "passed"


def test_a_drill_logs_one_outcome_event_with_its_figures_and_report(
    tmp_path: Path, stand_in: list[Any]
) -> None:
    stand_in.append(met)

    with capture_logs() as events:
        result = run_drill(settings(tmp_path), "weekly", trigger="daemon")

    finished = [e for e in events if e["event"] == "drill_finished"]
    assert len(finished) == 1 and finished[0]["log_level"] == "info"
    assert finished[0]["drill_id"] == result.report.drill_id
    assert finished[0]["trigger"] == "daemon" and finished[0]["checks_failed"] == 0
    assert finished[0]["report"].endswith(f"drill-{result.report.drill_id}.json")


def test_an_unmeasured_objective_fails_the_drill(tmp_path: Path, stand_in: list[Any]) -> None:
    stand_in.append(
        lambda ctx: ctx.recorder.objective(
            Objective("mirror", "rpo", "primary->dr", 60.0, None, unmeasured="no heartbeat")
        )
    )

    result = run_drill(settings(tmp_path), "weekly")

    assert result.report.outcome == "failed" and result.exit_code == 1


def test_a_scenario_that_cannot_go_on_is_an_error_check_and_the_drill_fails(
    tmp_path: Path, stand_in: list[Any]
) -> None:
    def broken(_ctx: DrillContext) -> None:
        raise DrError("cluster 'primary' (127.0.0.1:1) did not answer")

    stand_in.append(broken)

    result = run_drill(settings(tmp_path), "weekly")

    errors = [c for c in result.report.checks if c.outcome == "error"]
    assert errors and "did not answer" in errors[0].summary
    assert result.report.outcome == "failed" and result.exit_code == 1


def test_an_interrupted_drill_still_writes_its_report_and_exits_130(
    tmp_path: Path, stand_in: list[Any]
) -> None:
    def interrupted(_ctx: DrillContext) -> None:
        raise KeyboardInterrupt

    stand_in.append(interrupted)

    result = run_drill(settings(tmp_path), "weekly")

    assert result.exit_code == 130 and result.report.error
    assert result.files is not None and result.files.json_path is not None
    row = StateStore(tmp_path / "state.db").drill_run(result.report.drill_id)
    assert row is not None and row.status == "failed"


def test_a_signing_key_that_does_not_load_refuses_the_drill_before_it_starts(
    tmp_path: Path, stand_in: list[Any]
) -> None:
    ran: list[bool] = []
    stand_in.append(lambda _ctx: ran.append(True))
    bad = settings(tmp_path, signing_key='"not a key"')

    with pytest.raises(SigningKeyError):
        run_drill(bad, "weekly")

    assert not ran and StateStore(tmp_path / "state.db").drill_runs() == []


def test_a_report_directory_that_cannot_be_written_refuses_the_drill_before_it_starts(
    tmp_path: Path, stand_in: list[Any]
) -> None:
    ran: list[bool] = []
    stand_in.append(lambda _ctx: ran.append(True))
    (tmp_path / "reports").write_text("a file where the directory should be")

    with pytest.raises(DrillRefused, match="report directory"):
        run_drill(settings(tmp_path), "weekly")

    assert not ran
