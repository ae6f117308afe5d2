"""The failover drill on the lab, a lab app producing and consuming throughout: the drill fails
primary->dr over and back through the playbooks (the lab's switch hooks move the app each
time), and the app's ledger cross-checks what the drill reports: nothing acknowledged is lost,
what the drill says never reached dr is exactly what the app wrote there, and no record
acknowledged before the failover decided went unreplicated beyond what it counted then."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from dr.config import load_config
from dr.drill.model import Check, DrillReport
from dr.drill.run import run_drill
from dr.drill.units import parse_time
from dr.lab.ledger import LedgerEntry, read_ledger, reconcile
from dr.lab.traffic import create_topic
from integration.conftest import RunningLab, run_cli, wait_until
from integration.test_cutover import (  # noqa: F401 (mirror_running is a fixture)
    app_target,
    keys_of,
    mirror_running,
    on,
    scoped_config,
)
from integration.test_failback import keys_in

# mirror_running: whatever happens, MirrorMaker runs afterwards with fresh heartbeats.
pytestmark = [pytest.mark.timeout(900), pytest.mark.usefixtures("mirror_running")]
DRILL = "failover-drill"


def drill_config(lab: RunningLab, tmp_path: Path, topic: str, group: str) -> Path:
    """The lab's config narrowed to this test's topic and group, with a state of its own (so
    the lab's state never shows this failover), and a drill that only fails over and back."""
    path = scoped_config(lab, tmp_path, topic, group)
    settings: dict[str, Any] = yaml.safe_load(path.read_text())
    assert settings["clusters"]["primary"]["drillable"] is True  # the lab's own config says so
    assert settings["clusters"]["dr"]["drillable"] is True
    settings["drills"] = {
        DRILL: {
            "scenarios": {"failover": {"flow": "primary->dr", "failback": True}},
            "report_dir": str(tmp_path / "reports"),
        }
    }
    path.write_text(yaml.safe_dump(settings))
    return path


def checkpointed(config: Path, group: str) -> bool:
    proc = run_cli("--config", str(config), "offsets", "translate", "--group", group,
                   "--from", "primary", "--to", "dr", "--json")  # fmt: skip
    parts = json.loads(proc.stdout)["partitions"] if proc.returncode == 0 else []
    return len(parts) == 3 and all(
        p["basis"] == "checkpoint" or p["checkpoint_upstream_offset"] is not None for p in parts
    )


def check(report: DrillReport, name: str) -> Check:
    return next(c for c in report.checks if c.name == name)


def step_started(found: Check, step: str) -> Any:
    started = next(s["started_at"] for s in found.evidence["steps"] if s["name"] == step)
    return parse_time(started)


def test_a_failover_drill_with_a_running_app_measures_both_runs_and_loses_no_acknowledged_record(
    lab: RunningLab, tmp_path: Path
) -> None:
    app = f"dfo-{uuid.uuid4().hex[:6]}"
    topic, group = f"dfo.{uuid.uuid4().hex[:6]}", f"{app}-group"
    primary, dr = lab.bootstrap("primary"), lab.bootstrap("dr")
    create_topic(primary, topic, partitions=3, replication=3)
    config = drill_config(lab, tmp_path, topic, group)
    lab.lab_cli("app", "start", app, "--produce", "40", "--consume", group, "--topic", topic)
    ledger = lab.lab.dir / "apps" / f"{app}.ledger"
    try:
        wait_until(lambda: checkpointed(config, group), timeout_s=120,
                   what="checkpoints of the app's group")  # fmt: skip
        settings = load_config(config).settings
        result = run_drill(settings, DRILL, scenarios=["failover"], destructive=True)
        wait_until(lambda: app_target(lab, app) == (primary, topic), timeout_s=60,
                   what="the app back on primary, on its topic")  # fmt: skip
        before = on(ledger, primary, "consumed")
        wait_until(lambda: on(ledger, primary, "consumed") > before + 40, timeout_s=60,
                   what="the app consuming on primary again")  # fmt: skip
    finally:
        lab.lab_cli("app", "stop", app)
    report = result.report
    failed = [c for c in report.checks if c.outcome != "passed"]
    assert not failed, [(c.name, c.summary) for c in failed]
    assert [c.name for c in report.checks] == ["failover", "failback"]
    assert report.outcome == "passed" and result.exit_code == 0
    assert result.files is not None and result.files.json_path is not None
    assert {c.name for c in report.clusters} == {"primary", "dr"}
    assert all(c.cluster_id for c in report.clusters)
    by_subject = {(o.kind, o.subject): o for o in report.objectives}
    assert set(by_subject) == {
        ("rto", "failover primary->dr"), ("rpo", "failover primary->dr"),
        ("rto", "failback dr->primary"),
    }  # fmt: skip
    for objective in by_subject.values():  # all measured, none met by default
        assert objective.measured_seconds is not None, objective
        assert objective.unmeasured is None and objective.met is True
    # The lab's primary answers during the drill: the failover (run with force) measured its
    # RPO exactly, on both clusters, rather than leaving it unmeasured as for a lost source.
    rpo = by_subject[("rpo", "failover primary->dr")]
    assert "records not replicated then" in rpo.how
    bars = [s.name for s in report.steps]
    assert {"failover primary->dr", "failback dr->primary", "failover: switch_clients",
            "failback: restore_flow"} <= set(bars)  # fmt: skip

    over, back = check(report, "failover"), check(report, "failback")
    loss = over.evidence["record_loss"]
    assert loss["measured"] is True
    divergence = back.evidence["divergence"]
    assert divergence["archive"]["records"] == divergence["records"]
    entries = read_ledger(ledger)
    _ledger_agrees_with_the_drill(entries, report, primary=primary, dr=dr, topic=topic)
    # No acknowledged record lost: every one is on primary after the failback.
    acked = {e.key for e in entries if e.event == "acked"}
    on_primary = keys_of(primary, topic)
    assert acked <= set(on_primary), sorted(acked - set(on_primary))[:5]
    assert len(on_primary) == len(set(on_primary)), "a record copied back twice"
    # Consumers missed only what never reached dr (read on primary before the switch, or
    # skipped and archived) and the app's last moments before it stopped.
    diverged = keys_in(primary, topic, divergence["partitions"])
    unexplained = set(reconcile(entries, group=group).lost) - diverged
    assert len(unexplained) <= 80, sorted(unexplained)[:5]
    failover_rto = by_subject[("rto", "failover primary->dr")].measured_seconds
    failback_rto = by_subject[("rto", "failback dr->primary")].measured_seconds
    print(
        f"\nfailover drill: failover RTO {failover_rto}s, failback window {failback_rto}s, "
        f"RPO {rpo.measured_seconds}s ({loss['lost_records_estimate']} records behind), "
        f"{divergence['records']} records never reached dr (archived)"
    )


def _ledger_agrees_with_the_drill(
    entries: list[LedgerEntry], report: DrillReport, *, primary: str, dr: str, topic: str
) -> None:
    """The drill's figures of what did not reach dr, against what the app wrote."""
    over, back = check(report, "failover"), check(report, "failback")
    divergence = back.evidence["divergence"]
    ranges = {
        p["partition"]: (p["start_offset"], p["end_offset"]) for p in divergence["partitions"]
    }
    acked_primary = [e for e in entries if e.event == "acked" and e.cluster_bootstrap == primary]
    # What the failback says never reached dr is exactly what the app had acknowledged there.
    in_ranges = {
        e.key
        for e in acked_primary
        if e.partition in ranges and ranges[e.partition][0] <= e.offset < ranges[e.partition][1]
    }
    diverged = keys_in(primary, topic, divergence["partitions"])
    assert in_ranges == diverged and len(diverged) == divergence["records"]
    replicated = set(keys_of(dr, f"primary.{topic}"))
    assert not diverged & replicated, "a record the drill says never reached dr is there"
    # Acknowledged on primary before the failback: replicated, or in the divergence.
    failback_start = parse_time(back.evidence["started_at"])
    before = {e.key for e in acked_primary if e.time < failback_start}
    assert before - replicated <= diverged, sorted(before - replicated - diverged)[:5]
    # Acknowledged before the failover decided and never replicated: the failover counted
    # every one of them as not yet replicated (0 at risk means the ledger shows none).
    decided = step_started(over, "record_loss")
    unreplicated = {e.key for e in acked_primary if e.time < decided} - replicated
    at_risk = over.evidence["record_loss"]["lost_records_estimate"]
    assert len(unreplicated) <= at_risk, (len(unreplicated), at_risk)
