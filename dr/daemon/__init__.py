"""The daemon: scheduled backups and drills, /metrics and /healthz (``kafka-dr daemon``)."""

from dr.cron import crontab_trigger
from dr.daemon.backups import Runner, run_backup_job
from dr.daemon.drills import DrillRunner, run_drill_job
from dr.daemon.http import DaemonError
from dr.daemon.scheduler import Daemon, build_scheduler, run_daemon

__all__ = [
    "Daemon",
    "DaemonError",
    "DrillRunner",
    "Runner",
    "build_scheduler",
    "crontab_trigger",
    "run_backup_job",
    "run_daemon",
    "run_drill_job",
]
