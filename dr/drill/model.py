"""What a drill finds, as data: checks, objectives, timings and the evidence behind them.

A drill's report is a pure function of these values: the JSON evidence is their plain form
(``DrillReport.to_dict``), and the HTML page is rendered from that JSON alone, so the two can
never say different things. Times are aware UTC datetimes here and ISO 8601 strings in JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

SCHEMA = "kafka-dr.drill-report/1"

SCENARIOS = ("backup-restore", "mirror", "failover", "broker-loss")
DESTRUCTIVE = frozenset({"failover", "broker-loss"})

CheckOutcome = Literal["passed", "failed", "warning", "error"]
DrillOutcome = Literal["passed", "failed", "error"]


@dataclass(frozen=True)
class Check:
    """One named check of a scenario: what it looked at (inputs), what it found (evidence),
    its outcome and when it ran. ``summary`` is one line a person reads first."""

    scenario: str
    name: str
    subject: str  # what it is about: a job, a flow, a topic-partition, a group
    outcome: CheckOutcome
    summary: str
    started_at: str
    finished_at: str
    inputs: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Objective:
    """An objective (RPO or RTO) of one subject, measured against its target.

    ``measured_seconds`` is None when it could not be measured, and ``unmeasured`` says why;
    ``met`` is None then (an unmeasured objective is never reported as met)."""

    scenario: str
    kind: Literal["rpo", "rto"]
    subject: str
    target_seconds: float
    measured_seconds: float | None
    unmeasured: str | None = None
    how: str = ""  # how it was measured, in one line

    @property
    def met(self) -> bool | None:
        if self.measured_seconds is None:
            return None
        return self.measured_seconds <= self.target_seconds


@dataclass(frozen=True)
class Step:
    """One timed phase of the drill, for the timeline (a scenario, or a step inside one)."""

    scenario: str
    name: str
    started_at: str
    finished_at: str
    outcome: CheckOutcome


@dataclass(frozen=True)
class ClusterRef:
    name: str
    cluster_id: str | None  # None when the cluster could not be asked
    bootstrap_servers: str


@dataclass(frozen=True)
class BackupRef:
    job: str
    backup_id: str
    manifest_sha256: str
    records: int
    bytes: int
    finished_at: str


@dataclass(frozen=True)
class Throughput:
    """A restore the drill timed: the backup RTO's raw figures."""

    job: str
    backup_id: str
    records: int
    bytes: int
    seconds: float

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0

    @property
    def bytes_per_s(self) -> float:
        return self.bytes / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class SeriesPoint:
    at: str
    value: float


@dataclass(frozen=True)
class Series:
    """A time series for a chart: RPO of a flow or job over the last days, with its target."""

    kind: Literal["rpo-flow", "rpo-job"]
    subject: str
    target_seconds: float
    points: tuple[SeriesPoint, ...] = ()


@dataclass(frozen=True)
class PastDrill:
    """A drill before this one, for the trend: its outcome and its worst measured figures."""

    drill_id: str
    finished_at: str
    outcome: DrillOutcome
    rto_seconds: float | None
    rpo_seconds: float | None


@dataclass(frozen=True)
class Trigger:
    kind: Literal["cli", "daemon"]
    user: str
    host: str
    command: str


@dataclass(frozen=True)
class DrillReport:
    """Everything one drill run found. ``outcome``: passed (every check passed and every
    objective met), failed (a check failed or an objective was missed or unmeasured), error
    (the drill could not run: ``error`` says why)."""

    drill_id: str
    drill: str
    trigger: Trigger
    started_at: str
    finished_at: str
    outcome: DrillOutcome
    config_sha256: str
    kafka_dr_version: str
    scenarios: tuple[str, ...]
    clusters: tuple[ClusterRef, ...] = ()
    backups: tuple[BackupRef, ...] = ()
    checks: tuple[Check, ...] = ()
    objectives: tuple[Objective, ...] = ()
    steps: tuple[Step, ...] = ()
    throughput: tuple[Throughput, ...] = ()
    history: tuple[Series, ...] = ()
    past_drills: tuple[PastDrill, ...] = ()
    cleanup: tuple[str, ...] = ()  # what the drill removed (scratch topics and groups)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON values, with the schema name and derived figures (an
        objective's ``met``, a throughput's rates) written out."""
        raw = asdict(self)
        raw["objectives"] = [{**asdict(o), "met": o.met} for o in self.objectives]
        raw["throughput"] = [
            {**asdict(t), "records_per_s": t.records_per_s, "bytes_per_s": t.bytes_per_s}
            for t in self.throughput
        ]
        return {"schema": SCHEMA, **raw}


def iso(at: datetime) -> str:
    """An aware datetime as the report writes it (UTC, seconds and milliseconds)."""
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
