"""Which scenarios a drill runs, what the config lets it touch, and its pure helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

from dr.config import parse_config
from dr.config.schema import Settings
from dr.drill.choice import DrillRefused, chosen_scenarios, drill_problems
from dr.drill.context import Recorder, now
from dr.drill.model import Objective
from dr.drill.restore_proof import spread
from dr.drill.scratch import is_scratch, scratch_name
from dr.errors import ConfigError
from dr.log import register_secrets

CONFIG = """\
clusters:
  primary: {{bootstrap_servers: "p:9092", drillable: {drillable}}}
  dr: {{bootstrap_servers: "d:9092", drillable: true}}
storage:
  local: {{url: "file:///tmp/store"}}
backups:
  orders: {{cluster: primary, topics: ["orders"], storage: local}}
mirror:
  flows: [{{source: primary, target: dr}}]
drills:
  weekly:
    schedule: "0 4 * * 1"
    scenarios:
      backup_restore: {{jobs: [orders], target_cluster: dr}}
      mirror: {{flows: ["primary->dr"]}}
      failover: {{flow: "primary->dr"}}
"""


def settings(tmp_path: Path, *, drillable: bool = True, text: str = CONFIG) -> Settings:
    source = text.format(drillable="true" if drillable else "false")
    return parse_config(source, source="kafka-dr.yaml", base_dir=tmp_path)


def test_without_a_choice_the_non_destructive_scenarios_run(tmp_path: Path) -> None:
    chosen = chosen_scenarios(settings(tmp_path), "weekly", (), destructive=False)
    assert chosen == ["backup-restore", "mirror"]


def test_destructive_adds_the_failover_in_the_documented_order(tmp_path: Path) -> None:
    chosen = chosen_scenarios(settings(tmp_path), "weekly", (), destructive=True)
    assert chosen == ["backup-restore", "mirror", "failover"]


def test_naming_a_destructive_scenario_without_leave_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DrillRefused, match=r"failover.*--destructive"):
        chosen_scenarios(settings(tmp_path), "weekly", ("failover",), destructive=False)


def test_a_failover_drill_on_a_cluster_not_marked_drillable_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DrillRefused, match=r"'primary'.*drillable"):
        chosen_scenarios(settings(tmp_path, drillable=False), "weekly", (), destructive=True)


def test_an_unknown_drill_or_scenario_is_refused_by_name(tmp_path: Path) -> None:
    s = settings(tmp_path)
    with pytest.raises(DrillRefused, match="no drill named 'nightly'"):
        chosen_scenarios(s, "nightly", (), destructive=False)
    with pytest.raises(DrillRefused, match="'brokers' is not a scenario"):
        chosen_scenarios(s, "weekly", ("brokers",), destructive=False)
    with pytest.raises(DrillRefused, match="'broker-loss' is not configured"):
        chosen_scenarios(s, "weekly", ("broker-loss",), destructive=True)


def test_a_drill_naming_an_unknown_job_flow_or_cluster_is_refused_when_it_runs(
    tmp_path: Path,
) -> None:
    text = (
        CONFIG.replace("jobs: [orders]", "jobs: [payments]")
        .replace('flows: ["primary->dr"]', 'flows: ["dr->primary"]')
        .replace("target_cluster: dr", "target_cluster: staging")
    )
    s = settings(tmp_path, text=text)  # the rest of the config still loads and works
    problems = "\n".join(drill_problems(s, "weekly"))
    assert "drills.weekly.scenarios.backup_restore.jobs[0]" in problems and "payments" in problems
    assert "no mirror flow 'dr->primary'" in problems
    assert "no cluster named 'staging'" in problems
    with pytest.raises(DrillRefused, match="payments"):
        chosen_scenarios(s, "weekly", (), destructive=False)


def test_a_drill_with_no_scenario_or_a_bad_schedule_is_a_config_error(tmp_path: Path) -> None:
    text = CONFIG.replace('"0 4 * * 1"', '"every monday"')
    with pytest.raises(ConfigError, match="not a cron expression"):
        settings(tmp_path, text=text)
    empty = CONFIG.split("    scenarios:")[0] + "    scenarios: {{}}\n"
    with pytest.raises(ConfigError, match="at least one scenario"):
        settings(tmp_path, text=empty)


def test_scratch_names_carry_the_prefix_and_the_drill_id_and_never_match_real_names() -> None:
    name = scratch_name("20261201t120000-ab12", "orders")
    assert name == "__kafka-dr-drill-20261201t120000-ab12.orders"
    assert is_scratch(name) and is_scratch(name, "20261201t120000-ab12")
    assert not is_scratch(name, "20261201t120000-ffff")
    assert not is_scratch("orders") and not is_scratch("__consumer_offsets")
    assert not is_scratch("__kafka-dr-drill-mine.orders"), "a user's look-alike is not scratch"
    with pytest.raises(ValueError, match="249"):
        scratch_name("x", "t" * 240)


@pytest.mark.parametrize(
    ("count", "samples", "expected"),
    [(0, 5, []), (3, 5, [0, 1, 2]), (10, 1, [0]), (10, 3, [0, 4, 9]), (5, 0, [])],
)
def test_samples_are_spread_over_the_partition_first_and_last_included(
    count: int, samples: int, expected: list[int]
) -> None:
    assert spread(count, samples) == expected


def test_an_unmeasured_objective_is_neither_met_nor_zero() -> None:
    o = Objective("mirror", "rpo", "flow a->b", 60.0, None, unmeasured="source unreachable")
    assert o.met is None and o.measured_seconds is None
    assert Objective("mirror", "rpo", "flow a->b", 60.0, 61.0).met is False
    assert Objective("mirror", "rpo", "flow a->b", 60.0, 0.0).met is True


def test_a_recorded_check_is_one_redacted_line() -> None:
    register_secrets(["hunter2"])
    rec = Recorder()
    check = rec.check(
        "mirror", "rpo", "a->b", False, "sasl.password=hunter2 refused\nsecond line", started=now()
    )
    assert check.outcome == "failed" and "\n" not in check.summary
    assert "hunter2" not in check.summary
