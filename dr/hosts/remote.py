"""Files and tar streams on a host reached through a shell (SSH, or a command kind's
``shell_command``): each operation is one quoted command line, its data through stdin/stdout."""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from dr.hosts import templates
from dr.hosts.base import NodeStatus
from dr.hosts.common import Node, checked_path
from dr.log import redact_text

FILE_TIMEOUT_S = 300.0
# Exit codes of a shell that could not run the command (not executable, not found).
CANNOT_RUN = (126, 127)


@dataclass(frozen=True)
class Ran:
    """A finished command: its exit code, stdout, and stderr's last line."""

    code: int
    stdout: bytes
    stderr: str

    @property
    def first_error(self) -> str:
        """stderr's first line (tar says what went wrong first, then that it failed)."""
        lines = [ln.strip() for ln in self.stderr.splitlines() if ln.strip()]
        return redact_text(lines[0])[:300] if lines else self.last_line

    @property
    def last_line(self) -> str:
        for text in (self.stderr, self.stdout.decode(errors="replace")):
            lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
            if lines:
                return redact_text(lines[-1])[:300]
        return "no output"


def status_of(ran: Ran, what: str) -> NodeStatus:
    """A status command's answer: exit 0 running, 126/127 cannot tell, anything else stopped."""
    if ran.code == 0:
        return NodeStatus(True, f"{what} exited 0")
    if ran.code in CANNOT_RUN:
        return NodeStatus(None, f"{what} could not run (exit {ran.code}): {ran.last_line}")
    return NodeStatus(False, f"{what} exited {ran.code}")


class RemoteFiles(abc.ABC):
    """read/write/remove/tar/untar through ``_run`` and ``_stream`` of a shell command line."""

    _node: Node
    _sudo: bool = False

    @abc.abstractmethod
    def _run(self, line: str, *, stdin: Iterable[bytes] | None = None, timeout_s: float) -> Ran: ...

    @abc.abstractmethod
    def _stream(self, line: str, *, timeout_s: float) -> Iterator[tuple[bytes, Ran | None]]:
        """stdout in chunks (with None), then (b"", the finished command)."""

    def _ok(self, line: str, what: str, *, stdin: Iterable[bytes] | None = None) -> Ran:
        ran = self._run(line, stdin=stdin, timeout_s=FILE_TIMEOUT_S)
        if ran.code != 0:
            raise self._node.error(f"{what} failed (exit {ran.code}): {ran.last_line}")
        return ran

    def read_file(self, path: str) -> bytes:
        path = checked_path(self._node, path)
        return self._ok(templates.read_file_line(path, sudo=self._sudo), f"reading {path}").stdout

    def write_file(self, path: str, data: bytes) -> None:
        path = checked_path(self._node, path)
        line = templates.write_file_line(path, sudo=self._sudo)
        self._ok(line, f"writing {path}", stdin=[data])

    def remove_tree(self, path: str) -> None:
        path = checked_path(self._node, path)
        self._ok(templates.remove_tree_line(path, sudo=self._sudo), f"removing {path}")

    def tar_stream(self, paths: list[str]) -> Iterator[bytes]:
        checked = [checked_path(self._node, p) for p in paths]
        line = templates.tar_create_line(checked, sudo=self._sudo)
        for chunk, ran in self._stream(line, timeout_s=FILE_TIMEOUT_S):
            if ran is None:
                yield chunk
            elif ran.code != 0:
                raise self._node.error(
                    f"tar of {', '.join(checked)} failed (exit {ran.code}): {ran.first_error}"
                )

    def untar(self, dest: str, chunks: Iterable[bytes]) -> None:
        dest = checked_path(self._node, dest, what="destination")
        line = templates.tar_extract_line(dest, sudo=self._sudo)
        ran = self._run(line, stdin=chunks, timeout_s=FILE_TIMEOUT_S)
        if ran.code != 0:
            raise self._node.error(f"untar into {dest} failed (exit {ran.code}): {ran.first_error}")
