"""The scheduled backup job: one run of ``run_backup``, as ``kafka-dr backup run`` does it, and
the metrics fed from its outcome."""

from __future__ import annotations

import threading
import time
from typing import Protocol

import structlog

from dr.config.schema import Settings
from dr.metrics import BackupFigures, Metrics
from dr.operation import log_outcome, outcome_of


class BackupSummary(BackupFigures, Protocol):
    """What the daemon reads from a finished backup (dr.backup.runner.BackupResult)."""

    @property
    def backup_id(self) -> str: ...


class Runner(Protocol):
    """The signature of ``dr.backup.runner.run_backup`` that the daemon calls; the run records
    itself (dr.operation): its run row and its one outcome event."""

    def __call__(
        self, settings: Settings, job: str, *, cancel: threading.Event | None = None
    ) -> BackupSummary: ...


def run_backup_job(
    job: str,
    *,
    settings: Settings,
    runner: Runner,
    cancel: threading.Event,
    metrics: Metrics,
) -> None:
    """Run one backup of ``job`` and feed the metrics from its outcome; never raises (the
    scheduler goes on).

    The run records itself: ``run_backup`` writes its run row (dr.operation), exactly as under
    ``kafka-dr backup run``, and logs a success; the daemon handles a run that raised, so it
    logs that outcome, once. A skipped or cancelled run is not counted as a failure.
    """
    metrics.set_backup_running(job, True)
    started = time.monotonic()
    try:
        result = runner(settings, job, cancel=cancel)
    except Exception as exc:  # recorded by the run itself; reported here; the daemon goes on
        with structlog.contextvars.bound_contextvars(job=job):
            log_outcome("backup", exc, duration_s=round(time.monotonic() - started, 3))
        if outcome_of(exc) == "failed":
            metrics.record_backup_failure(job)
    else:
        metrics.record_backup_success(job, result)
    finally:
        metrics.set_backup_running(job, False)
