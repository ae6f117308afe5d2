"""How kafka-dr reaches a Kafka node's host: one interface, several kinds.

``clusters.NAME.access`` says how (``kind: ssh``, ``kind: command``, ``kind: lab``); every kind
gives a :class:`HostAccess` per node with the same contract, so the broker procedures (rolling
restart, replace, add/remove, snapshots) never know which kind they act through.

Contract (every kind, tested alike):

* ``status()`` answers whether the node's Kafka process runs (``running`` None: cannot tell,
  with why in ``detail``).
* ``start()`` starts it and returns once the process runs (not once the broker is registered:
  the procedures wait for that on the cluster itself). Starting a running node is no error.
* ``stop(deadline_s)`` stops it gracefully (SIGTERM: a broker's controlled shutdown) and kills
  it when it has not stopped by the deadline; returns how it stopped. Stopping a stopped node
  is no error.
* ``storage_tool(args)`` runs Kafka's storage tool on the node (``kafka-storage.sh`` /
  ``org.apache.kafka.tools.StorageTool``: ``format``, ``info``) and returns its output.
* ``read_file`` / ``write_file`` read and replace one file (atomically: written aside then
  renamed); ``remove_tree`` deletes a directory (a wiped disk, a restore's clean slate).
* ``tar_stream(paths)`` yields a tar archive (uncompressed; the caller compresses and checksums)
  of those absolute paths, each member named by its path without the leading ``/``
  (``var/lib/kafka/data/meta.properties``): ``untar(tmp, chunks)`` lays them out under ``tmp``;
  ``/`` itself is refused as a destination (a stream must never be able to write anywhere),
  so a restore lays each path back under its parent. ``untar`` creates dest if missing.
* A path that is relative, or the root itself, is refused (HostError). A kind that was not
  configured for an operation (a ``command`` kind without ``shell_command``...) raises
  HostError naming the config key that would enable it.

Errors are :class:`HostError`: one line naming the cluster, the node and its host.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal, Protocol

from dr.errors import DrError


class HostError(DrError):
    """A node's host could not be reached or refused what was asked."""


@dataclass(frozen=True)
class NodeStatus:
    running: bool | None
    detail: str


@dataclass(frozen=True)
class Stopped:
    how: Literal["graceful", "killed", "not-running"]
    seconds: float


class HostAccess(Protocol):
    """One node of one cluster, as its host is reached (see the module's contract)."""

    cluster: str
    node_id: int
    host: str
    log_dirs: tuple[str, ...]
    config_file: str

    def status(self) -> NodeStatus: ...

    def start(self) -> None: ...

    def stop(self, *, deadline_s: float = 120.0) -> Stopped: ...

    def storage_tool(self, args: list[str], *, timeout_s: float = 120.0) -> str: ...

    def read_file(self, path: str) -> bytes: ...

    def write_file(self, path: str, data: bytes) -> None: ...

    def remove_tree(self, path: str) -> None: ...

    def tar_stream(self, paths: list[str]) -> Iterator[bytes]: ...

    def untar(self, dest: str, chunks: Iterable[bytes]) -> None: ...
