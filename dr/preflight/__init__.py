"""kafka-dr check: a preflight of everything a configured kafka-dr needs, as named checks.

Like pgBackRest's ``check``: each cluster (reachable, authenticated, the ACLs kafka-dr needs,
the KRaft quorum, the brokers of the inventory), each store (list, write, read back, delete a
probe; the lock), Java and the Kafka jars, the MirrorMaker deployment, the daemon's listen
address and the secret files. Each check is ``ok``, ``warn`` or ``fail`` with a hint for what
to do; the CLI exits 1 when one fails, and the daemon runs it at start-up, logs it and
exports it. Independent checks run side by side, each within its own deadline, so that the
whole preflight ends in a bounded time whatever does not answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from dr.config.schema import Settings
from dr.log import get_logger
from dr.preflight.clusters import cluster_task
from dr.preflight.encryption import keys_task
from dr.preflight.listen import listen_check
from dr.preflight.mirror import mirror_task
from dr.preflight.model import PreflightCheck, PreflightReport, Status, Stopwatch
from dr.preflight.runner import CheckTask, Outcome, run_tasks
from dr.preflight.secrets import secret_checks
from dr.preflight.stores import store_task
from dr.preflight.tools import cached_jars, jars_check, java_check

__all__ = ["PreflightCheck", "PreflightReport", "Status", "run_preflight"]

log = get_logger(__name__)


def run_preflight(
    settings: Settings, *, config_path: Path | None = None, check_listen: bool = True
) -> PreflightReport:
    """Run every check that applies to the config and return them in the config's order:
    clusters, stores, Java and jars, MirrorMaker, the daemon's listen address, secrets.

    ``config_path`` is the file the settings were loaded from: its ${file:} secrets are
    checked (not without it). ``check_listen=False`` leaves out daemon.listen (for a daemon
    already listening there). Never raises for what it checks (each problem is a failed
    check), only for a bug."""
    watch = Stopwatch()
    checks = run_tasks(_tasks(settings, config_path=config_path, check_listen=check_listen))
    report = PreflightReport(checks=checks, seconds=round(watch.seconds, 3))
    log.debug(
        "preflight_done",
        ok=report.ok,
        failed=[c.name for c in report.failed],
        warnings=[c.name for c in report.warnings],
        seconds=report.seconds,
    )
    return report


def _tasks(settings: Settings, *, config_path: Path | None, check_listen: bool) -> list[CheckTask]:
    jars = cached_jars(settings.tools)
    tasks = [cluster_task(name, settings, jars) for name in settings.clusters]
    tasks += [store_task(name, store) for name, store in settings.storage.items()]
    tasks += [keys_task(job, settings) for job in settings.backups]
    tasks.append(_task("Java", "tools", 15.0, lambda: (java_check(),)))
    tasks.append(_task("Kafka jars", "tools", 5.0, lambda: (jars_check(jars),)))
    mirror = mirror_task(settings)
    if mirror is not None:
        tasks.append(mirror)
    if check_listen:
        listen = settings.daemon.listen
        subject = f"daemon.listen ({listen})"
        tasks.append(_task("daemon listen address", subject, 10.0, lambda: (listen_check(listen),)))
    if config_path is not None:
        path = config_path
        tasks.append(_task("secret references", f"config {path}", 5.0, lambda: secret_checks(path)))
    return tasks


def _task(
    name: str, subject: str, deadline_s: float, run: Callable[[], Sequence[PreflightCheck]]
) -> CheckTask:
    return CheckTask(
        name, subject, deadline_s, lambda: Outcome(tuple(run())), "run kafka-dr check again"
    )
