"""What every kind shares: the node's identity, its one-line errors, stopping with a deadline."""

from __future__ import annotations

import posixpath
import time
from collections.abc import Callable
from dataclasses import dataclass

from dr.hosts.base import HostError, NodeStatus, Stopped
from dr.hosts.templates import NodeFacts
from dr.log import get_logger

log = get_logger(__name__)

POLL_S = 0.5
KILL_WAIT_S = 15.0


@dataclass(frozen=True)
class Node:
    """One node as the inventory and the access settings describe it."""

    cluster: str
    node_id: int
    host: str
    log_dirs: tuple[str, ...]
    config_file: str

    @property
    def facts(self) -> NodeFacts:
        return NodeFacts(
            cluster=self.cluster, node_id=self.node_id, host=self.host, config_file=self.config_file
        )

    def error(self, what: str) -> HostError:
        """A HostError naming the cluster, the node and its host."""
        return HostError(f"cluster '{self.cluster}' node {self.node_id} ({self.host}): {what}")

    def key(self, name: str) -> str:
        """The config key of an access setting, as an error names it."""
        return f"clusters.{self.cluster}.access.{name}"


def checked_path(node: Node, path: str, *, what: str = "path") -> str:
    """path normalised; raises HostError when it is relative or the root (nothing kafka-dr
    reads, writes or removes on a host is either)."""
    if not path.startswith("/"):
        raise node.error(f"{what} '{path}' is not absolute")
    clean = posixpath.normpath(path)
    if clean in ("/", "//"):
        raise node.error(f"refusing to use '/' as a {what}")
    return clean


def wait_for_status(
    status: Callable[[], NodeStatus], *, running: bool, timeout_s: float
) -> NodeStatus:
    """Poll status until it says running (or stopped) or timeout_s passes; the last answer."""
    deadline = time.monotonic() + timeout_s
    while True:
        answer = status()
        if answer.running is running or time.monotonic() >= deadline:
            return answer
        time.sleep(POLL_S)


def stop_with_deadline(
    node: Node,
    *,
    status: Callable[[], NodeStatus],
    request_stop: Callable[[float], None],
    kill: Callable[[], None],
    deadline_s: float,
) -> Stopped:
    """Ask the node to stop, poll status until it has or deadline_s passes, then kill it.

    request_stop gets the seconds left; it may block (a stop script) or return at once.
    Raises HostError when the node still runs after the kill.
    """
    started = time.monotonic()
    first = status()
    if first.running is False:
        return Stopped(how="not-running", seconds=0.0)
    request_stop(deadline_s)
    left = max(0.0, deadline_s - (time.monotonic() - started))
    answer = wait_for_status(status, running=False, timeout_s=left)
    if answer.running is False:
        stopped = Stopped(how="graceful", seconds=time.monotonic() - started)
    else:
        log.warning(
            "host_stop_deadline_passed",
            cluster=node.cluster,
            node=node.node_id,
            deadline_s=deadline_s,
            detail=answer.detail,
        )
        kill()
        answer = wait_for_status(status, running=False, timeout_s=KILL_WAIT_S)
        if answer.running is not False:
            raise node.error(f"still running after a kill ({answer.detail})")
        stopped = Stopped(how="killed", seconds=time.monotonic() - started)
    log.info(
        "host_node_stopped",
        cluster=node.cluster,
        node=node.node_id,
        how=stopped.how,
        seconds=round(stopped.seconds, 1),
    )
    return stopped
