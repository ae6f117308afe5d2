"""A job's or flow's own objectives, and configs that do not start out breached."""

from __future__ import annotations

import importlib.util
import itertools
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dr.config import Settings, parse_config
from dr.config.example import example_config, example_env_vars
from dr.cron import crontab_trigger
from dr.lab.labconfig import write_lab_config
from dr.objectives.history import rpo_target

CONFIG = """\
clusters:
  primary: {bootstrap_servers: "p:9092"}
  dr: {bootstrap_servers: "d:9092"}
objectives: {rpo_seconds: 60, rto_seconds: 900}
storage:
  local: {url: "file:///tmp/store"}
backups:
  orders: {cluster: primary, topics: [orders], storage: local, objectives: {rpo_seconds: 1200}}
  audit: {cluster: primary, topics: [audit], storage: local}
mirror:
  flows:
    - {source: primary, target: dr, objectives: {rto_seconds: 300}}
"""


def parse(tmp_path: Path, text: str = CONFIG) -> Settings:
    return parse_config(text, source="kafka-dr.yaml", base_dir=tmp_path)


def test_a_job_or_flow_objective_overrides_the_global_one_and_only_that_one(
    tmp_path: Path,
) -> None:
    s = parse(tmp_path)
    assert s.job_objectives("orders").rpo_seconds == 1200
    assert s.job_objectives("orders").rto_seconds == 900
    assert s.job_objectives("audit").rpo_seconds == 60
    assert s.flow_objectives("primary->dr").rto_seconds == 300
    assert s.flow_objectives("primary->dr").rpo_seconds == 60
    assert rpo_target(s, "job", "orders") == 1200
    assert rpo_target(s, "job", "retired-job") == 60
    assert rpo_target(s, "flow", "primary->dr") == 60


def test_a_zero_or_negative_objective_is_refused_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"backups\.orders\.objectives\.rpo_seconds"):
        parse(tmp_path, CONFIG.replace("rpo_seconds: 1200", "rpo_seconds: 0"))


def longest_gap(schedule: str) -> timedelta:
    """The longest time between two runs of a cron schedule over a week."""
    trigger = crontab_trigger(schedule)
    at = datetime(2026, 1, 5, tzinfo=UTC)
    fires = []
    previous = None
    while at < datetime(2026, 1, 12, tzinfo=UTC):
        at = trigger.get_next_fire_time(previous, at)
        fires.append(at)
        previous, at = at, at + timedelta(seconds=1)
    return max(b - a for a, b in itertools.pairwise(fires))


def assert_not_breached_by_schedule(settings: Settings) -> None:
    for name, job in settings.backups.items():
        if job.schedule is None:
            continue
        gap = longest_gap(job.schedule).total_seconds()
        assert settings.job_objectives(name).rpo_seconds > gap, (
            f"job {name} runs every {gap:.0f}s but its RPO objective is "
            f"{settings.job_objectives(name).rpo_seconds:.0f}s: breached from the start"
        )


def test_the_example_config_does_not_start_out_breached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in example_env_vars():
        monkeypatch.setenv(name, "x" * 8)
    assert_not_breached_by_schedule(parse(tmp_path, example_config()))


def test_the_lab_config_does_not_start_out_breached(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location(
        "labconfig_fixtures", Path(__file__).parents[1] / "lab" / "test_labconfig.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("labconfig_fixtures", module)
    spec.loader.exec_module(module)
    lab_dir = tmp_path / "lab"
    lab_dir.mkdir()
    path = lab_dir / "kafka-dr.yaml"
    write_lab_config(path, module.lab_state(lab_dir), lab_dir, mirror=True)
    assert_not_breached_by_schedule(parse_config(path.read_text(), source="lab", base_dir=lab_dir))
