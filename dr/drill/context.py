"""What a scenario works with: the settings, the drill's identity, and the recorder its checks,
objectives and timings go into.

A scenario is a function ``(ctx, scenario_settings) -> None`` that records what it finds and
raises only when it cannot go on (the runner records that as an ``error`` check and moves on
to the next scenario). Checks are recorded, never printed: the report renders them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dr.config.drills import DrillSettings
from dr.config.schema import Settings
from dr.drill.model import (
    BackupRef,
    Check,
    CheckOutcome,
    ClusterRef,
    Objective,
    Step,
    Throughput,
    iso,
)
from dr.errors import DrError
from dr.kafka import admin as kadmin
from dr.kafka.client import admin_client
from dr.log import get_logger, redact_text
from dr.state import StateStore

log = get_logger(__name__)


class DrillCancelled(DrError):
    """The drill was asked to stop (SIGTERM, Ctrl-C)."""

    exit_code = 130


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Recorder:
    """Everything the scenarios found, in the order they found it."""

    checks: list[Check] = field(default_factory=list)
    objectives: list[Objective] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    throughput: list[Throughput] = field(default_factory=list)
    backups: list[BackupRef] = field(default_factory=list)
    clusters: dict[str, ClusterRef] = field(default_factory=dict)
    cleanup: list[str] = field(default_factory=list)

    def check(
        self,
        scenario: str,
        name: str,
        subject: str,
        outcome: CheckOutcome | bool,
        summary: str,
        *,
        started: datetime,
        inputs: dict[str, Any] | None = None,
        evidence: dict[str, Any] | None = None,
    ) -> Check:
        """Record a check (``outcome`` True/False for passed/failed) that began at started
        and ends now; the summary is redacted and cut to one line."""
        if isinstance(outcome, bool):
            outcome = "passed" if outcome else "failed"
        check = Check(
            scenario=scenario,
            name=name,
            subject=subject,
            outcome=outcome,
            summary=redact_text(summary).splitlines()[0] if summary else "",
            started_at=iso(started),
            finished_at=iso(now()),
            inputs=inputs or {},
            evidence=evidence or {},
        )
        self.checks.append(check)
        log.info(
            "drill_check",
            scenario=scenario,
            check=name,
            subject=subject,
            outcome=outcome,
            summary=check.summary,
        )
        return check

    def objective(self, objective: Objective) -> None:
        self.objectives.append(objective)
        log.info(
            "drill_objective",
            scenario=objective.scenario,
            kind=objective.kind,
            subject=objective.subject,
            measured_s=objective.measured_seconds,
            target_s=objective.target_seconds,
            unmeasured=objective.unmeasured,
        )

    @contextmanager
    def step(self, scenario: str, name: str) -> Iterator[None]:
        """Time the block as one bar of the timeline; it fails when the block raises."""
        started = now()
        outcome: CheckOutcome = "passed"
        try:
            yield
        except BaseException:
            outcome = "error"
            raise
        finally:
            self.steps.append(Step(scenario, name, iso(started), iso(now()), outcome))


@dataclass
class DrillContext:
    """One drill run, as the scenarios see it."""

    settings: Settings
    state: StateStore
    drill: str
    drill_id: str
    spec: DrillSettings
    destructive: bool
    recorder: Recorder
    cancel: threading.Event = field(default_factory=threading.Event)

    def check_cancelled(self) -> None:
        """Raise DrillCancelled when the drill was asked to stop."""
        if self.cancel.is_set():
            raise DrillCancelled("the drill was interrupted; its scratch topics were removed")

    def cluster_ref(self, name: str) -> ClusterRef:
        """The cluster as the report names it, with its cluster id (asked once per drill;
        None when it does not answer: the report says so rather than guess)."""
        known = self.recorder.clusters.get(name)
        if known is not None and known.cluster_id is not None:
            return known
        cluster = self.settings.clusters[name]
        try:
            cid: str | None = kadmin.cluster_id(admin_client(cluster), cluster.timeout_s)
        except DrError:
            cid = None
        ref = ClusterRef(name, cid, cluster.bootstrap_servers)
        self.recorder.clusters[name] = ref
        return ref
