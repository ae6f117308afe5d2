"""The daemon: scheduled backups, /metrics and /healthz (``kafka-dr daemon``)."""

from dr.cron import crontab_trigger
from dr.daemon.http import DaemonError
from dr.daemon.scheduler import (
    Daemon,
    Runner,
    build_scheduler,
    run_backup_job,
    run_daemon,
)

__all__ = [
    "Daemon",
    "DaemonError",
    "Runner",
    "build_scheduler",
    "crontab_trigger",
    "run_backup_job",
    "run_daemon",
]
