"""The daemon: scheduled backups and drills, samplers of RPO and health, /metrics and /healthz
(``kafka-dr daemon``)."""

from dr.cron import crontab_trigger
from dr.daemon.backups import Runner, run_backup_job
from dr.daemon.daemon import Daemon, run_daemon
from dr.daemon.drills import DrillRunner, run_drill_job
from dr.daemon.http import DaemonError
from dr.daemon.probes import Probes
from dr.daemon.scheduler import build_scheduler

__all__ = [
    "Daemon",
    "DaemonError",
    "DrillRunner",
    "Probes",
    "Runner",
    "build_scheduler",
    "crontab_trigger",
    "run_backup_job",
    "run_daemon",
    "run_drill_job",
]
