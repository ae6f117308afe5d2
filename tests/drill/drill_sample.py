"""A representative drill report: two scenarios, a failed check, an unmeasured objective,
two days of RPO history, timed restores and earlier drills. Shared by the unit tests, the
browser test and the screenshot in docs/ (which load this file by its path)."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from dr.drill.model import (
    BackupRef,
    Check,
    ClusterRef,
    DrillReport,
    Objective,
    PastDrill,
    Series,
    SeriesPoint,
    Step,
    Throughput,
    Trigger,
    iso,
)

START = datetime(2026, 12, 1, 4, 0, 0, tzinfo=UTC)


def at(seconds: float) -> str:
    """The drill's start plus seconds, as the report writes times."""
    return iso(START + timedelta(seconds=seconds))


def sample_report(**changes: Any) -> DrillReport:
    """The sample report, with any field replaced (``sample_report(outcome="passed")``)."""
    report = DrillReport(
        drill_id="20261201T040000Z-7f3a",
        drill="nightly",
        trigger=Trigger(kind="daemon", user="kafka-dr", host="dr-ops-1", command="schedule"),
        started_at=at(0),
        finished_at=at(412.5),
        outcome="failed",
        config_sha256="9c1b0f6e2d8a4c3b5e7f9a1d2c4b6e8f0a2c4e6b8d0f2a4c6e8b0d2f4a6c8e0b",
        kafka_dr_version="0.1.0",
        scenarios=("backup-restore", "mirror"),
        clusters=(
            ClusterRef("primary", "MkU3OEVBNTcwNTJENDM2Qk", "p1:9092,p2:9092,p3:9092"),
            ClusterRef("dr", "NTc0RkQ2NDQ5RkU1NDBCMz", "d1:9092,d2:9092,d3:9092"),
        ),
        backups=(
            BackupRef("orders", "20261201T030000Z", "ab" * 32, 1_200_000, 480_000_000, at(-3600)),
            BackupRef("payments", "20261201T031500Z", "cd" * 32, 300_000, 96_000_000, at(-2700)),
        ),
        checks=_checks(),
        objectives=(
            Objective("mirror", "rpo", "primary->dr", 60, 4.2, how="heartbeat age on dr"),
            Objective("backup-restore", "rpo", "orders", 3600, 3600 + 12.5, how="last backup age"),
            Objective("backup-restore", "rto", "orders", 900, 187.4, how="restore timed"),
            Objective(
                "backup-restore",
                "rto",
                "payments",
                900,
                None,
                unmeasured="the restore of payments stopped: scratch topic quota exceeded",
            ),
        ),
        steps=_steps(),
        throughput=(
            Throughput("orders", "20261201T030000Z", 1_200_000, 480_000_000, 187.4),
            Throughput("payments", "20261201T031500Z", 120_000, 38_400_000, 41.0),
        ),
        history=(
            _series("rpo-flow", "primary->dr", 60, base=3.0, spike=75.0),
            _series("rpo-job", "orders", 3600, base=1800.0, spike=3900.0),
            _series("rpo-job", "payments", 3600, base=900.0, spike=1500.0),
        ),
        past_drills=tuple(
            PastDrill(
                f"2026112{d}T040000Z-000{d}",
                iso(START - timedelta(days=8 - d) + timedelta(minutes=6)),
                "passed" if d != 4 else "failed",
                150.0 + 9 * d if d != 6 else None,
                5.0 + d,
            )
            for d in range(1, 8)
        ),
        cleanup=("topic __kafka-dr-drill-7f3a.orders", "group __kafka-dr-drill-7f3a.billing"),
    )
    return dataclasses.replace(report, **changes)


# scenario, name, subject, outcome, summary, evidence
_CHECKS: tuple[tuple[str, str, str, str, str, dict[str, Any]], ...] = (
    ("backup-restore", "manifest_checksum", "orders", "passed", "manifest sha256 matches",
     {"manifest_sha256": "ab" * 32}),
    ("backup-restore", "records_match_manifest", "orders", "passed",
     "1,200,000 records restored, as the manifest says", {"records": 1_200_000}),
    ("backup-restore", "records_match_source", "orders-3", "failed",
     "record at offset 4711 differs from the source",
     {"partition": 3, "offset": 4711, "expected_sha256": "12" * 32, "found_sha256": "34" * 32}),
    ("backup-restore", "group_offsets", "billing", "passed",
     "12 partitions point at the same record", {"partitions": 12}),
    ("backup-restore", "restore_payments", "payments", "error",
     "restore stopped: scratch topic quota exceeded",
     {"error": "PolicyViolation: quota exceeded for __kafka-dr-drill-7f3a.payments"}),
    ("mirror", "rpo", "primary->dr", "passed", "newest heartbeat 4.2 s old", {}),
    ("mirror", "offset_translation", "billing", "passed",
     "20 partitions translated to the same record", {"sampled": [0, 1, 2, 3]}),
    ("mirror", "topic_drift", "primary->dr", "warning", "1 topic on primary has no mirror yet",
     {"missing": ["audit-log"]}),
    ("mirror", "connectors", "primary->dr", "passed", "3 connectors RUNNING",
     {"tasks": {"MirrorSourceConnector": 4, "MirrorCheckpointConnector": 1}}),
)  # fmt: skip


def _checks() -> tuple[Check, ...]:
    return tuple(
        Check(scenario, name, subject, outcome, summary, at(10), at(20),  # type: ignore[arg-type]
              inputs={"sample_records": 50}, evidence=evidence)
        for scenario, name, subject, outcome, summary, evidence in _CHECKS
    )  # fmt: skip


def _steps() -> tuple[Step, ...]:
    spans = [
        ("backup-restore", "plan", 0, 3, "passed"),
        ("backup-restore", "restore orders", 3, 190, "passed"),
        ("backup-restore", "compare orders", 190, 245, "failed"),
        ("backup-restore", "restore payments", 190, 231, "error"),
        ("backup-restore", "group offsets", 245, 262, "passed"),
        ("mirror", "rpo", 262, 266, "passed"),
        ("mirror", "offset translation", 266, 340, "passed"),
        ("mirror", "topic drift", 340, 352, "warning"),
        ("mirror", "connectors", 352, 355, "passed"),
        ("cleanup", "delete scratch topics", 355, 412.5, "passed"),
    ]
    return tuple(Step(s, n, at(a), at(b), o) for s, n, a, b, o in spans)  # type: ignore[arg-type]


def _series(kind: str, subject: str, target: float, *, base: float, spike: float) -> Series:
    points = []
    for i in range(96):  # two days, every 30 minutes
        value = base * (1 + 0.35 * math.sin(i / 5)) + (spike if i == 70 else 0.0)
        points.append(SeriesPoint(iso(START - timedelta(minutes=30 * (96 - i))), round(value, 1)))
    return Series(kind, subject, target, tuple(points))  # type: ignore[arg-type]
