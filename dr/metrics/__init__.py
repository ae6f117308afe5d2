"""Prometheus metrics: every name and label of kafka-dr in one place (dr.metrics.families), on
a private registry.

The metrics live on their own ``CollectorRegistry`` rather than prometheus_client's global one,
so that importing kafka-dr never adds series to another program's /metrics. The module-level
functions act on the process's default set, which the daemon serves; tests build their own
``Metrics``.

Conventions (docs/monitoring.md): base units (seconds, bytes), counters end in ``_total``, no
``_created`` series, no label called ``job`` (Prometheus's scrape label: a backup job is
``backup_job``), timestamps with 0 for "never", one series per state.
"""

from __future__ import annotations

from prometheus_client.exposition import CONTENT_TYPE_LATEST

from dr.metrics.recorder import (
    BACKUP_STATUSES,
    DRILL_STATUSES,
    BackupFigures,
    DrillFigures,
    Metrics,
    is_flow,
)

__all__ = [
    "BACKUP_STATUSES",
    "CONTENT_TYPE",
    "DRILL_STATUSES",
    "BackupFigures",
    "DrillFigures",
    "Metrics",
    "default_metrics",
    "is_flow",
    "record_backup_failure",
    "record_backup_success",
    "render",
    "set_backup_running",
]

CONTENT_TYPE = CONTENT_TYPE_LATEST

_default = Metrics()


def default_metrics() -> Metrics:
    """The process's metrics, served by the daemon's /metrics."""
    return _default


def record_backup_success(job: str, result: BackupFigures) -> None:
    """Count a successful backup of ``job`` on the default metrics."""
    _default.record_backup_success(job, result)


def record_backup_failure(job: str) -> None:
    """Count a failed backup of ``job`` on the default metrics."""
    _default.record_backup_failure(job)


def set_backup_running(job: str, running: bool) -> None:
    """Mark a backup of ``job`` as running or not on the default metrics."""
    _default.set_backup_running(job, running)


def render() -> bytes:
    """The default metrics in the Prometheus text exposition format."""
    return _default.render()
