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
from dr.mirror.properties import render_dedicated
from dr.mirror.status import FlowStatus, flow_status

log = get_logger(__name__)
Action = Literal["pause", "resume", "restart"]


class MirrorError(DrError):
    """MirrorMaker could not be deployed or controlled."""


@dataclass(frozen=True)
class DedicatedApply:
    """What `mirror apply` did in dedicated mode."""

    path: str
    changed: bool
    restarted: bool


@dataclass(frozen=True)
class MirrorState:
    flow: FlowStatus
    connectors: tuple[ConnectorStatus, ...] | None  # None in dedicated mode
    missing_connectors: tuple[str, ...] = ()


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
    if mirror.deploy == "dedicated":
        return render_dedicated(settings.clusters, flows, overrides=mirror.properties)
    configs: dict[str, dict[str, str]] = {}
    for f in flows:
        configs.update(render_connectors(settings.clusters, f))
    return configs


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
    pending = path.with_name(path.name + ".restart-pending")
    changed = current != text
    if dry_run or not (changed or pending.exists()):
        return DedicatedApply(str(path), changed, False)
    if changed:
        # The marker survives a failed restart, so that the next apply restarts even though
        # the file is then already up to date.
        path.parent.mkdir(parents=True, exist_ok=True)
        pending.touch()
        _write_private(path, text)
    restarted = _restart_dedicated(mirror)
    if restarted or not mirror.restart_command:
        pending.unlink(missing_ok=True)
    log.info("mirror_applied", path=str(path), changed=changed, restarted=restarted)
    return DedicatedApply(str(path), changed, restarted)


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
        return ["MirrorMaker (dedicated)"]
    client = _client(settings)
    names = [n for f in flows for n in render_connectors(settings.clusters, f)]
    for name in names:
        getattr(client, action)(name)
    return names


def status(settings: Settings, flow: str | None = None) -> list[MirrorState]:
    mirror = mirror_settings(settings)
    out = []
    for f in select_flows(settings, flow):
        connectors: tuple[ConnectorStatus, ...] | None = None
        if mirror.deploy == "connect":
            client = _client(settings)
            existing = set(client.connectors())
            connectors = tuple(
                client.status(n) for n in render_connectors(settings.clusters, f) if n in existing
            )
        out.append(MirrorState(flow_status(settings, f), connectors))
    return out


def _client(settings: Settings) -> ConnectClient:
    mirror = mirror_settings(settings)
    if mirror.deploy != "connect" or not mirror.connect_url:
        raise UsageError("mirror.deploy is not 'connect' (or connect_url is missing)")
    return ConnectClient(mirror.connect_url)


def _restart_dedicated(mirror: MirrorSettings) -> bool:
    if not mirror.restart_command:
        return False
    try:
        proc = subprocess.run(
            mirror.restart_command, capture_output=True, text=True, timeout=300, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MirrorError(f"mirror.restart_command failed: {exc}") from None
    if proc.returncode != 0:
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise MirrorError(
            f"mirror.restart_command exited {proc.returncode}: {redact_text(last[0])[:200]}"
        )
    return True
