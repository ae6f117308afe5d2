"""``kind: lab``: the local lab's own broker processes, on this very host.

The lab is a tool, not a dependency of the product (ARCHITECTURE.md): this kind drives it
through its public face only — the ``kafka-dr lab start-node`` command, the node's JVM found by
its config file on its command line (as the lab itself finds it), its files under the lab's
directory — and runs the storage tool with the jars ``tools`` resolves, as the lab does.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from dr.config.access import LabAccess
from dr.config.schema import ToolSettings
from dr.errors import DrError
from dr.hosts import localfiles
from dr.hosts.base import NodeStatus, Stopped
from dr.hosts.common import Node, checked_path, stop_with_deadline
from dr.kafka.jars import kafka_jars
from dr.kafka.java import run_tool
from dr.log import get_logger, redact_text

log = get_logger(__name__)

STORAGE_TOOL = "kafka.tools.StorageTool"
KAFKA_MAIN = "kafka.Kafka"
START_TIMEOUT_S = 300.0


class LabHost:
    """One node of a lab cluster (see dr.hosts.base for the contract)."""

    def __init__(self, node: Node, access: LabAccess, tools: ToolSettings) -> None:
        self._node = node
        self._dir = access.dir
        self._tools = tools
        self.cluster = node.cluster
        self.node_id = node.node_id
        self.host = node.host
        self.log_dirs = node.log_dirs
        self.config_file = node.config_file

    # -- the process -------------------------------------------------------------------

    def status(self) -> NodeStatus:
        pids = _kafka_pids(self.config_file)
        if pids:
            return NodeStatus(True, f"pid {pids[0]}")
        return NodeStatus(False, f"no Kafka process runs {self.config_file}")

    def start(self) -> None:
        if self.status().running:
            return
        cmd = [sys.executable, "-m", "dr", "lab", "start-node", "--dir", str(self._dir)]
        cmd += [self.cluster, str(self.node_id)]
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=START_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired:
            raise self._node.error(
                f"'kafka-dr lab start-node' did not finish within {START_TIMEOUT_S:.0f}s"
            ) from None
        if proc.returncode != 0:
            raise self._node.error(f"'kafka-dr lab start-node' failed: {_last_line(proc.stderr)}")
        log.info("host_node_started", cluster=self.cluster, node=self.node_id, kind="lab")

    def stop(self, *, deadline_s: float = 120.0) -> Stopped:
        return stop_with_deadline(
            self._node,
            status=self.status,
            request_stop=lambda _left: self._signal(signal.SIGTERM),
            kill=lambda: self._signal(signal.SIGKILL),
            deadline_s=deadline_s,
        )

    def _signal(self, sig: signal.Signals) -> None:
        for pid in _kafka_pids(self.config_file):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    # -- the storage tool --------------------------------------------------------------

    def storage_tool(self, args: list[str], *, timeout_s: float = 120.0) -> str:
        try:
            jars = kafka_jars(self._tools.kafka_version, kafka_home=self._tools.kafka_home)
            return run_tool(jars, STORAGE_TOOL, args, timeout_s=timeout_s)
        except DrError as exc:
            raise self._node.error(f"storage tool {' '.join(args[:1])}: {exc}") from None

    # -- files -------------------------------------------------------------------------

    def read_file(self, path: str) -> bytes:
        path = checked_path(self._node, path)
        try:
            return localfiles.read_file(path)
        except OSError as exc:
            raise self._node.error(f"cannot read {path}: {exc.strerror or exc}") from None

    def write_file(self, path: str, data: bytes) -> None:
        path = checked_path(self._node, path)
        try:
            localfiles.write_file(path, data)
        except OSError as exc:
            raise self._node.error(f"cannot write {path}: {exc.strerror or exc}") from None

    def remove_tree(self, path: str) -> None:
        path = checked_path(self._node, path)
        if not Path(path).is_relative_to(self._dir):
            raise self._node.error(f"refusing to remove {path}: it is outside the lab {self._dir}")
        try:
            localfiles.remove_tree(path)
        except OSError as exc:
            raise self._node.error(f"cannot remove {path}: {exc.strerror or exc}") from None

    def tar_stream(self, paths: list[str]) -> Iterator[bytes]:
        checked = [checked_path(self._node, p) for p in paths]
        try:
            yield from localfiles.tar_stream(checked)
        except OSError as exc:
            raise self._node.error(f"cannot tar {', '.join(checked)}: {exc}") from None

    def untar(self, dest: str, chunks: Iterable[bytes]) -> None:
        dest = checked_path(self._node, dest, what="destination")
        try:
            localfiles.untar(dest, chunks)
        except (OSError, tarfile.TarError) as exc:
            raise self._node.error(f"cannot untar into {dest}: {exc}") from None


def _kafka_pids(config_file: str) -> list[int]:
    """Live JVMs running Kafka with this config file (a zombie or another program is not)."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in argv]
        if not words or Path(words[0]).name != "java":
            continue
        if KAFKA_MAIN in words and config_file in words and _alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    # A JVM that this very process started (the test fixtures do) stays a zombie until reaped.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] not in (["Z"], ["X"])


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return redact_text(lines[-1])[:300] if lines else "no output"
