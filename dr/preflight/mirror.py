"""The check of the MirrorMaker 2 deployment the config describes: a dedicated process that
its status command or PID file says runs, or a Kafka Connect cluster that answers and runs
every connector of every flow."""

from __future__ import annotations

from typing import Protocol

from dr.config.schema import MirrorSettings, Settings
from dr.mirror.connect import ConnectClient, ConnectError, ConnectorStatus
from dr.mirror.connectors import render_connectors
from dr.mirror.deploy import restart_marker
from dr.mirror.process import STATUS_TIMEOUT_S, ProcessCheck, check_process
from dr.preflight.model import PreflightCheck, Stopwatch, passed, problem, warning
from dr.preflight.runner import CheckTask, Outcome

CHECK = "MirrorMaker"
CONNECT_TIMEOUT_S = 5.0


class ConnectApi(Protocol):
    """The calls of the Connect REST API the check makes (dr.mirror.connect.ConnectClient)."""

    def connectors(self) -> list[str]: ...

    def status(self, name: str) -> ConnectorStatus: ...


def mirror_task(settings: Settings) -> CheckTask | None:
    """The task that checks MirrorMaker, or None when the config has no mirror flows."""
    mirror = settings.mirror
    if mirror is None or not mirror.flows:
        return None
    if mirror.deploy == "connect":
        subject = f"mirror (Kafka Connect at {mirror.connect_url})"

        def run() -> Outcome:
            return Outcome((connect_check(settings, subject=subject),))

        hint = "Kafka Connect answers too slowly: check its workers"
        return CheckTask(CHECK, subject, 4 * CONNECT_TIMEOUT_S, run, hint)
    subject = "mirror (dedicated)"

    def run_dedicated() -> Outcome:
        watch = Stopwatch()
        found = check_process(mirror)
        return Outcome((dedicated_check(mirror, found, subject=subject, seconds=watch.seconds),))

    hint = "mirror.status_command answers too slowly"
    return CheckTask(CHECK, subject, STATUS_TIMEOUT_S + 5, run_dedicated, hint)


def dedicated_check(
    mirror: MirrorSettings, found: ProcessCheck, *, subject: str, seconds: float = 0.0
) -> PreflightCheck:
    """A dedicated MirrorMaker: running (by its status command or PID file), and running the
    config kafka-dr last wrote."""
    if found.running is False:
        hint = (
            "start it (kafka-dr mirror restart, or its service); replication and the RPO "
            "stop while it is down"
        )
        return problem(CHECK, subject, f"not running: {found.detail}", hint, seconds=seconds)
    if found.error is not None:
        hint = "fix mirror.status_command or mirror.pid_file"
        detail = f"cannot tell whether it runs: {found.error}"
        return problem(CHECK, subject, detail, hint, seconds=seconds)
    if found.running is None:
        hint = "set mirror.status_command (e.g. systemctl is-active kafka-mirror-maker)"
        return warning(CHECK, subject, found.detail, hint + " or mirror.pid_file", seconds=seconds)
    path = mirror.properties_file
    if path is not None and not path.exists():
        detail = f"running, but {path} was never written"
        hint = "kafka-dr mirror apply writes it from the config and restarts MirrorMaker"
        return warning(CHECK, subject, detail, hint, seconds=seconds)
    if path is not None and restart_marker(path).exists():
        detail = "running an older config: a restart after kafka-dr mirror apply failed"
        return warning(CHECK, subject, detail, "run kafka-dr mirror apply again", seconds=seconds)
    return passed(CHECK, subject, f"running ({found.detail})", seconds=seconds)


def connect_check(
    settings: Settings, *, subject: str, client: ConnectApi | None = None
) -> PreflightCheck:
    """MirrorMaker on Kafka Connect: the REST API answers and every connector of every flow
    exists and runs."""
    mirror = settings.mirror
    assert mirror is not None and mirror.connect_url is not None
    watch = Stopwatch()
    wanted = [n for f in mirror.flows for n in render_connectors(settings.clusters, f)]
    try:
        client = client or ConnectClient(
            mirror.connect_url, timeout_s=CONNECT_TIMEOUT_S, retry_deadline_s=CONNECT_TIMEOUT_S
        )
        deployed = set(client.connectors())
        missing = [n for n in wanted if n not in deployed]
        statuses = [client.status(n) for n in wanted if n in deployed]
    except ConnectError as exc:
        hint = "check mirror.connect_url and that the Connect workers run"
        return problem(CHECK, subject, exc.message, hint, seconds=watch.seconds)
    if missing:
        detail = f"{len(missing)} of {len(wanted)} connectors missing: {', '.join(missing)}"
        hint = "kafka-dr mirror apply creates them"
        return problem(CHECK, subject, detail, hint, seconds=watch.seconds)
    failed = [s for s in statuses if s.state == "FAILED" or s.failed_tasks]
    if failed:
        detail = "; ".join(_failure(s) for s in failed)
        hint = "see the Connect worker's log, then kafka-dr mirror restart"
        return problem(CHECK, subject, detail, hint, seconds=watch.seconds)
    idle = [s for s in statuses if s.state != "RUNNING"]
    if idle:
        detail = ", ".join(f"{s.name} is {s.state}" for s in idle)
        hint = "kafka-dr mirror resume, unless it was paused on purpose"
        return warning(CHECK, subject, detail, hint, seconds=watch.seconds)
    detail = f"all {len(wanted)} connectors of {len(mirror.flows)} flows running"
    return passed(CHECK, subject, detail, seconds=watch.seconds)


def _failure(status: ConnectorStatus) -> str:
    trace = status.trace or next((t.trace for t in status.failed_tasks if t.trace), None)
    first = trace.strip().splitlines()[0][:200] if trace else "no trace"
    tasks = ", ".join(str(t.id) for t in status.failed_tasks)
    what = f"tasks {tasks} of {status.name} FAILED" if tasks else f"{status.name} FAILED"
    return f"{what}: {first}"
