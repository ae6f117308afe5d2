"""What the failover scenario records of its runs: the checks, the RTO of each run from its
journal, the RPO as the failover's record_loss measured it (or why not), and the loud check
when the clusters are left failed over. The runs themselves are the lab's
(integration/test_drill_failover.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dr.config.drills import DrillSettings
from dr.config.load import parse_config
from dr.drill.context import DrillCancelled, DrillContext, Recorder
from dr.drill.failover import fail_back, left_failed_over, record_failback, record_failover
from dr.drill.model import ClusterRef
from dr.state import StateStore
from dr.steps import RunResult, StepRecord

T0 = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
FAILOVER_STEPS = ["assess", "record_loss", "stop_replication", "commit_offsets",
                  "verify_target", "switch_clients"]  # fmt: skip


@pytest.fixture
def ctx(tmp_path: Path) -> DrillContext:
    doc = {
        "clusters": {
            "primary": {"bootstrap_servers": "p1:9092", "drillable": True},
            "dr": {"bootstrap_servers": "d1:9092", "drillable": True},
        },
        "objectives": {"rpo_seconds": 60, "rto_seconds": 600},
        "state": str(tmp_path / "kafka-dr.db"),
    }
    settings = parse_config(json.dumps(doc), source="kafka-dr.yaml", base_dir=tmp_path)
    recorder = Recorder()
    for name in ("primary", "dr"):
        recorder.clusters[name] = ClusterRef(name, f"id-{name}", f"{name}:9092")
    assert settings.state is not None
    return DrillContext(
        settings=settings,
        state=StateStore(settings.state),
        drill="weekly",
        drill_id="20261201t040000-ab12",
        spec=DrillSettings.model_validate({"scenarios": {"failover": {"flow": "primary->dr"}}}),
        destructive=True,
        recorder=recorder,
    )


def run(
    playbook: str,
    names: list[str],
    *,
    done: int,
    outputs: dict[str, dict[str, Any]] | None = None,
    error: str | None = None,
    rto: float | None = None,
    pair: tuple[str, str] = ("primary", "dr"),
) -> RunResult:
    """A run whose first ``done`` steps are done, the next one failed with ``error``."""
    steps = []
    for i, name in enumerate(names):
        start, end = T0 + timedelta(seconds=10 * i), T0 + timedelta(seconds=10 * i + 9)
        if i < done:
            steps.append(StepRecord(name, "done", start, end, (outputs or {}).get(name, {})))
        elif i == done and error:
            steps.append(StepRecord(name, "failed", start, end, error=error))
        else:
            steps.append(StepRecord(name, "pending"))
    failed = error is not None
    return RunResult(
        run_id=f"{playbook}-20261201T040000Z-0a1b",
        playbook=playbook,
        source=pair[0],
        target=pair[1],
        status="failed" if failed else "completed",
        steps=tuple(steps),
        started_at=T0,
        incident_start=T0,
        rto_seconds=rto,
        error=f"step {names[done]}: {error}" if failed else None,
    )


LOSS = {"measured": True, "unmeasured": None, "rpo_seconds": 1.8, "lost_records_estimate": 37,
        "partitions": [{"topic": "orders", "partition": 0, "lost_records": 37}]}  # fmt: skip


def test_a_completed_failover_passes_with_its_rto_from_the_journal_and_its_measured_rpo(
    ctx: DrillContext,
) -> None:
    over = run("failover", FAILOVER_STEPS, done=6, outputs={"record_loss": LOSS}, rto=59.0)
    record_failover(ctx, over, started=T0)
    (check,) = ctx.recorder.checks
    assert check.outcome == "passed" and check.name == "failover"
    assert check.evidence["run_id"] == over.run_id
    assert [s["name"] for s in check.evidence["steps"]] == FAILOVER_STEPS
    assert check.evidence["steps"][0]["duration_s"] == 9.0
    assert check.evidence["record_loss"]["lost_records_estimate"] == 37
    rto, rpo = ctx.recorder.objectives
    assert (rto.kind, rto.subject, rto.measured_seconds, rto.met) == (
        "rto", "failover primary->dr", 59.0, True
    )  # fmt: skip
    assert (rpo.kind, rpo.measured_seconds, rpo.target_seconds) == ("rpo", 1.8, 60)
    assert "37 records not replicated" in rpo.how


def test_a_failover_that_stopped_names_its_step_and_the_run_to_resume(
    ctx: DrillContext,
) -> None:
    over = run("failover", FAILOVER_STEPS, done=2, outputs={"record_loss": LOSS},
               error="mirror.stop_command failed: exit 1")  # fmt: skip
    record_failover(ctx, over, started=T0)
    (check,) = ctx.recorder.checks
    assert check.outcome == "failed"
    assert check.summary == (
        "failover primary->dr failed: step stop_replication: mirror.stop_command failed: exit 1; "
        f"resume with 'kafka-dr playbook resume {over.run_id}'"
    )
    rto, rpo = ctx.recorder.objectives
    assert rto.measured_seconds is None and rto.met is None
    assert rto.unmeasured is not None and "stop_replication" in rto.unmeasured
    assert rpo.measured_seconds == 1.8  # measured before the step that failed


def test_an_rpo_the_failover_could_not_measure_is_unmeasured_with_its_reason_never_zero(
    ctx: DrillContext,
) -> None:
    unread = {"measured": False, "rpo_seconds": None, "lost_records_estimate": None,
              "unmeasured": "source 'primary' cannot be read (timed out)"}  # fmt: skip
    record_failover(
        ctx, run("failover", FAILOVER_STEPS, done=6, outputs={"record_loss": unread}, rto=5),
        started=T0,
    )  # fmt: skip
    rpo = ctx.recorder.objectives[1]
    assert rpo.measured_seconds is None and rpo.met is None
    assert rpo.unmeasured == "source 'primary' cannot be read (timed out)"
    ctx.recorder.objectives.clear()
    early = run("failover", FAILOVER_STEPS, done=0, error="target 'dr' cannot be read")
    record_failover(ctx, early, started=T0)
    rpo = ctx.recorder.objectives[1]
    assert rpo.measured_seconds is None and rpo.unmeasured is not None
    assert rpo.unmeasured.startswith("the failover stopped before its record_loss step")


def test_a_completed_failback_reports_what_never_reached_dr_and_its_write_window(
    ctx: DrillContext,
) -> None:
    names = ["assess", "find_divergence", "archive_divergence", "stop_producers", "wait_quiet",
             "plan_copy", "copy_back", "verify_copy", "commit_offsets", "switch_clients",
             "restore_flow"]  # fmt: skip
    outputs: dict[str, dict[str, Any]] = {
        "find_divergence": {"records": 12, "partitions": [
            {"topic": "orders", "partition": 1, "records": 12},
            {"topic": "orders", "partition": 2, "records": 0}]},
        "archive_divergence": {"backup_id": "20261201T041000Z", "job": "divergence-x"},
        "copy_back": {"records": 400},
    }  # fmt: skip
    back = run("failback", names, done=11, outputs=outputs, rto=8.5, pair=("dr", "primary"))
    record_failback(ctx, back, failover_run="failover-1", started=T0)
    (check,) = ctx.recorder.checks
    assert check.outcome == "passed" and check.subject == "dr->primary"
    assert "400 records copied back" in check.summary
    assert "12 records primary held that never reached dr" in check.summary
    assert check.evidence["divergence"]["partitions_count"] == 1
    (rto,) = ctx.recorder.objectives
    assert (rto.subject, rto.measured_seconds) == ("failback dr->primary", 8.5)
    assert "write-unavailable window" in rto.how


def test_a_failback_that_cannot_start_says_loudly_the_clusters_are_left_failed_over(
    ctx: DrillContext,
) -> None:
    over = run("failover", FAILOVER_STEPS, done=6, outputs={"record_loss": LOSS}, rto=59.0)
    ctx.cancel.set()  # interrupted between the failover and the failback
    with pytest.raises(DrillCancelled):
        fail_back(ctx, over)
    found = {c.name: c for c in ctx.recorder.checks}
    assert found["failback"].outcome == "error"
    left = found["clusters_left_failed_over"]
    assert left.outcome == "error"
    assert left.summary.startswith(f"CLUSTERS LEFT FAILED OVER to dr by run {over.run_id}")
    assert left.summary.endswith("finish it with 'kafka-dr failback --from dr --to primary'")


def test_a_failback_that_failed_names_its_run_to_resume(ctx: DrillContext) -> None:
    over = run("failover", FAILOVER_STEPS, done=6, rto=59.0)
    back = run("failback", ["assess", "copy_back"], done=1, error="dr did not answer",
               pair=("dr", "primary"))  # fmt: skip
    left_failed_over(ctx, over, back, reason=back.error or "", started=T0)
    (check,) = ctx.recorder.checks
    assert f"finish it with 'kafka-dr playbook resume {back.run_id}'" in check.summary
    assert check.evidence["failback_run"] == back.run_id
