"""Deploying MirrorMaker 2 as the config says: render, apply, pause, resume, restart, status.

Connect mode talks to the Kafka Connect REST API; dedicated mode writes mm2.properties to
`mirror.properties_file` and runs `mirror.restart_command` (a systemd unit on a real host; the
lab's own restart in the lab).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from dr.config.schema import MirrorFlow, MirrorSettings, Settings
from dr.errors import DrError, UsageError
from dr.log import get_logger, redact_text
from dr.mirror.apply import ApplyPlan, apply, plan_apply
from dr.mirror.connect import ConnectClient, ConnectorStatus
from dr.mirror.connectors import render_connectors
from dr.mirror.health import FlowHealth, assess_flow
from dr.mirror.process import ProcessCheck, check_process
from dr.mirror.properties import mirror_clusters, render_dedicated, secrets_text
from dr.mirror.status import FlowStatus, flow_status

log = get_logger(__name__)
Action = Literal["pause", "resume", "restart"]


class MirrorError(DrError):
    """MirrorMaker could not be deployed or controlled."""


@dataclass(frozen=True)
class DedicatedApply:
    """What `mirror apply` did (or, in a dry run, would do) in dedicated mode.

    ``restart_pending`` is true when an earlier restart failed after the file was written: the
    running MirrorMaker still has the old config, so apply restarts it again.
    """

    path: str
    changed: bool
    restarted: bool
    restart_pending: bool = False


@dataclass(frozen=True)
class MirrorState:
    """One flow as `mirror status` sees it: the clusters' view, MirrorMaker's, and the verdict."""

    flow: FlowStatus
    health: FlowHealth
    connectors: tuple[ConnectorStatus, ...] | None  # None in dedicated mode
    missing_connectors: tuple[str, ...] = ()
    process: ProcessCheck | None = None  # None in Connect mode
    restart_pending: bool = False


def mirror_settings(settings: Settings) -> MirrorSettings:
    if settings.mirror is None or not settings.mirror.flows:
        raise UsageError("the config has no mirror flows (mirror.flows)")
    return settings.mirror


def select_flows(settings: Settings, flow: str | None) -> list[MirrorFlow]:
    flows = mirror_settings(settings).flows
    if flow is None:
        return list(flows)
    chosen = [f for f in flows if f.name == flow]
    if not chosen:
        raise UsageError(f"no mirror flow '{flow}' (flows: {', '.join(f.name for f in flows)})")
    return chosen


def render(settings: Settings, flow: str | None = None) -> str | dict[str, dict[str, str]]:
    """mm2.properties (dedicated) or the connector configs by name (connect)."""
    mirror = mirror_settings(settings)
    flows = select_flows(settings, flow)
    clusters = mirror_clusters(settings.clusters, mirror)
    secrets = mirror.secrets_path()
    if mirror.deploy == "dedicated":
        return render_dedicated(clusters, flows, overrides=mirror.properties, secrets_file=secrets)
    configs: dict[str, dict[str, str]] = {}
    for f in flows:
        configs.update(render_connectors(clusters, f, secrets_file=secrets))
    return configs


def mirror_secrets(settings: Settings) -> tuple[Path, str] | None:
    """Where MirrorMaker's secrets file goes and what it holds, when its flows' clusters have
    secret settings and the config says where (mirror.secrets_file); None otherwise."""
    mirror = mirror_settings(settings)
    path = mirror.secrets_path()
    if path is None:
        return None
    aliases = [a for f in mirror.flows for a in (f.source, f.target)]
    text = secrets_text(mirror_clusters(settings.clusters, mirror), aliases)
    return None if text is None else (path, text)


def write_secrets(settings: Settings) -> bool:
    """Write MirrorMaker's secrets file (owner-only) when it differs; True when it did."""
    found = mirror_secrets(settings)
    if found is None:
        return False
    path, text = found
    if path.exists() and path.read_text() == text:
        return False
    _write_private(path, text)
    return True


def plan_connect(settings: Settings) -> ApplyPlan:
    """What `mirror apply` would change on the Connect cluster."""
    desired = render(settings)
    assert isinstance(desired, dict)
    client = _client(settings)
    # Connectors of a configured flow that the config no longer wants (heartbeats turned off).
    prefixes = tuple(f"{f.name}.Mirror" for f in mirror_settings(settings).flows)
    unwanted = tuple(n for n in client.connectors() if n.startswith(prefixes) and n not in desired)
    return plan_apply(client, desired, unwanted=unwanted)


def apply_connect(settings: Settings, plan: ApplyPlan) -> ApplyPlan:
    write_secrets(settings)  # before the connectors that refer to it
    result = apply(_client(settings), plan)
    log.info(
        "mirror_applied",
        creates=list(plan.creates),
        updates=[u.name for u in plan.updates],
        unchanged=list(plan.unchanged),
    )
    return result


def apply_dedicated(settings: Settings, *, dry_run: bool = False) -> DedicatedApply:
    """Write mm2.properties when it differs and restart MirrorMaker with the configured command."""
    mirror = mirror_settings(settings)
    if mirror.properties_file is None:
        raise UsageError("dedicated mode needs mirror.properties_file to apply to")
    text = render(settings)
    assert isinstance(text, str)
    path = mirror.properties_file
    current = path.read_text() if path.exists() else None
    pending = restart_marker(path)
    secrets = mirror_secrets(settings)
    stale_secrets = secrets is not None and (
        not secrets[0].exists() or secrets[0].read_text() != secrets[1]
    )
    changed = current != text or stale_secrets
    was_pending = pending.exists() and bool(mirror.restart_command)
    if dry_run or not (changed or was_pending):
        return DedicatedApply(str(path), changed, False, was_pending)
    if changed:
        # The marker survives a failed restart, so that the next apply restarts even though
        # the file is then already up to date.
        path.parent.mkdir(parents=True, exist_ok=True)
        pending.touch()
        write_secrets(settings)
        _write_private(path, text)
    try:
        restarted = _restart_dedicated(mirror)
    except MirrorError as exc:
        raise MirrorError(
            f"{exc.message}; MirrorMaker still runs the old config, and the restart stays "
            "pending: fix the command and run 'kafka-dr mirror apply' again"
        ) from None
    if restarted or not mirror.restart_command:
        pending.unlink(missing_ok=True)
    log.info(
        "mirror_applied", path=str(path), changed=changed, restarted=restarted, retried=was_pending
    )
    return DedicatedApply(str(path), changed, restarted, was_pending)


def restart_marker(properties_file: Path) -> Path:
    """The marker that says MirrorMaker still runs an older config than the file's: written
    before a restart, removed once one succeeds."""
    return properties_file.with_name(properties_file.name + ".restart-pending")


def _write_private(path: Path, text: str) -> None:
    """Atomic write, readable by the owner only from its first byte (it holds credentials)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def control(settings: Settings, action: Action, flow: str | None = None) -> list[str]:
    """Pause, resume or restart the flows' connectors (or the dedicated process)."""
    mirror = mirror_settings(settings)
    flows = select_flows(settings, flow)
    if mirror.deploy == "dedicated":
        if action != "restart":
            raise UsageError(
                f"dedicated MirrorMaker cannot {action} a flow; use deploy: connect, "
                "or stop the process"
            )
        if not _restart_dedicated(mirror):
            raise UsageError("dedicated mode needs mirror.restart_command to restart")
        if mirror.properties_file is not None:
            # MirrorMaker now runs the file on disk: no restart is pending any more.
            restart_marker(mirror.properties_file).unlink(missing_ok=True)
        return ["MirrorMaker (dedicated)"]
    client = _client(settings)
    names = [n for f in flows for n in render_connectors(settings.clusters, f)]
    for name in names:
        getattr(client, action)(name)
    return names


def status(settings: Settings, flow: str | None = None) -> list[MirrorState]:
    """Each flow's state and health: its topics and heartbeats on the clusters, and the
    dedicated process (status command, PID file, pending restart) or the Connect connectors.

    Raises ConnectError when Connect cannot be read, KafkaError when a cluster cannot.
    """
    mirror = mirror_settings(settings)
    flows = select_flows(settings, flow)
    if mirror.deploy == "connect":
        states = _connect_states(settings, flows)
    else:
        process = check_process(mirror)  # one process runs every flow
        pending = (
            mirror.properties_file is not None and restart_marker(mirror.properties_file).exists()
        )
        states = []
        for f in flows:
            topics = flow_status(settings, f)
            health = assess_flow(topics, process=process, restart_pending=pending)
            states.append(
                MirrorState(topics, health, None, process=process, restart_pending=pending)
            )
    log.info(
        "mirror_status",
        flows={s.flow.flow: s.health.state for s in states},
        healthy=all(s.health.healthy for s in states),
    )
    return states


def _connect_states(settings: Settings, flows: list[MirrorFlow]) -> list[MirrorState]:
    client = _client(settings)
    states = []
    for f in flows:
        found = {n: client.status_if_deployed(n) for n in render_connectors(settings.clusters, f)}
        topics = flow_status(settings, f)
        states.append(
            MirrorState(
                flow=topics,
                health=assess_flow(topics, connectors=found),
                connectors=tuple(s for s in found.values() if s is not None),
                missing_connectors=tuple(n for n, s in found.items() if s is None),
            )
        )
    return states


def _client(settings: Settings) -> ConnectClient:
    mirror = mirror_settings(settings)
    if mirror.deploy != "connect" or not mirror.connect_url:
        raise UsageError("mirror.deploy is not 'connect' (or connect_url is missing)")
    return ConnectClient(mirror.connect_url)


def _restart_dedicated(mirror: MirrorSettings) -> bool:
    if not mirror.restart_command:
        return False
    run_mirror_command(mirror.restart_command, "mirror.restart_command", timeout_s=300)
    return True


def run_mirror_command(command: list[str], key: str, *, timeout_s: float) -> None:
    """Run one of the configured MirrorMaker commands (no shell); raises MirrorError naming
    the key, with its exit code and last output line (secrets masked)."""
    try:
        proc = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MirrorError(f"{key} failed: {exc}") from None
    if proc.returncode != 0:
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise MirrorError(f"{key} exited {proc.returncode}: {redact_text(last[0])[:200]}")
