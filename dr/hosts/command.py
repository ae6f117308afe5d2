"""``kind: command``: command templates run on this host for each broker (Ansible, Nomad,
kubectl, a site's own scripts). Each template is an argv; nothing goes through a local shell.

What a command kind can do is what it is given: start, stop and status always; kill with
``kill_command``; the storage tool with ``storage_command``; files and tar streams with
``shell_command``. Asking for the rest raises HostError naming the key that would enable it.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Iterator
from typing import IO

from dr.config.access import CommandAccess
from dr.hosts.base import NodeStatus, Stopped
from dr.hosts.common import Node, stop_with_deadline, wait_for_status
from dr.hosts.remote import Ran, RemoteFiles, status_of
from dr.hosts.templates import render
from dr.log import get_logger

log = get_logger(__name__)

CHUNK = 1024 * 1024


class CommandHost(RemoteFiles):
    """One node reached through command templates (see dr.hosts.base for the contract)."""

    def __init__(self, node: Node, access: CommandAccess) -> None:
        self._node = node
        self._access = access
        self.cluster = node.cluster
        self.node_id = node.node_id
        self.host = node.host
        self.log_dirs = node.log_dirs
        self.config_file = node.config_file

    # -- the process -------------------------------------------------------------------

    def status(self) -> NodeStatus:
        argv = render(self._access.status_command, self._node.facts)
        try:
            ran = run_argv(argv, timeout_s=self._access.timeout_s)
        except subprocess.TimeoutExpired:
            return NodeStatus(None, f"status_command did not answer in {self._access.timeout_s}s")
        except OSError as exc:
            return NodeStatus(None, f"status_command could not run: {exc.strerror or exc}")
        return status_of(ran, "status_command")

    def start(self) -> None:
        if self.status().running:
            return
        self._command("start_command", self._access.start_command, self._access.timeout_s)
        answer = wait_for_status(self.status, running=True, timeout_s=self._access.timeout_s)
        if not answer.running:
            raise self._node.error(
                f"start_command ran but the node is not running: {answer.detail}"
            )
        log.info("host_node_started", cluster=self.cluster, node=self.node_id, kind="command")

    def stop(self, *, deadline_s: float = 120.0) -> Stopped:
        return stop_with_deadline(
            self._node,
            status=self.status,
            request_stop=self._request_stop,
            kill=self._kill,
            deadline_s=deadline_s,
        )

    def _request_stop(self, left_s: float) -> None:
        # A stop script that outlives the deadline is left behind: the kill comes next.
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._command("stop_command", self._access.stop_command, max(1.0, left_s))

    def _kill(self) -> None:
        if self._access.kill_command is None:
            raise self._node.error(
                f"did not stop by the deadline, and nothing can kill it: set "
                f"{self._node.key('kill_command')}"
            )
        self._command("kill_command", self._access.kill_command, self._access.timeout_s)

    def _command(self, key: str, template: list[str], timeout_s: float) -> Ran:
        argv = render(template, self._node.facts)
        try:
            ran = run_argv(argv, timeout_s=timeout_s)
        except OSError as exc:
            raise self._node.error(f"{key} could not run: {exc.strerror or exc}") from None
        if ran.code != 0:
            raise self._node.error(f"{key} exited {ran.code}: {ran.last_line}")
        return ran

    # -- the storage tool --------------------------------------------------------------

    def storage_tool(self, args: list[str], *, timeout_s: float = 120.0) -> str:
        template = self._access.storage_command
        if template is None:
            raise self._node.error(
                f"cannot run the storage tool: set {self._node.key('storage_command')}"
            )
        argv = render(template, self._node.facts, args=args)
        try:
            ran = run_argv(argv, timeout_s=timeout_s)
        except subprocess.TimeoutExpired:
            raise self._node.error(f"storage_command did not finish in {timeout_s:.0f}s") from None
        except OSError as exc:
            raise self._node.error(f"storage_command could not run: {exc.strerror}") from None
        if ran.code != 0:
            raise self._node.error(f"storage_command exited {ran.code}: {ran.last_line}")
        return ran.stdout.decode(errors="replace")

    # -- files, through shell_command ----------------------------------------------------

    def _shell_argv(self, line: str) -> list[str]:
        template = self._access.shell_command
        if template is None:
            raise self._node.error(
                f"cannot reach files on the node: set {self._node.key('shell_command')}"
            )
        return render(template, self._node.facts, extra={"command": line})

    def _run(self, line: str, *, stdin: Iterable[bytes] | None = None, timeout_s: float) -> Ran:
        argv = self._shell_argv(line)
        try:
            return run_argv(argv, stdin=stdin, timeout_s=timeout_s)
        except subprocess.TimeoutExpired:
            raise self._node.error(f"shell_command did not finish in {timeout_s:.0f}s") from None
        except OSError as exc:
            raise self._node.error(f"shell_command could not run: {exc.strerror}") from None

    def _stream(self, line: str, *, timeout_s: float) -> Iterator[tuple[bytes, Ran | None]]:
        argv = self._shell_argv(line)
        try:
            yield from stream_argv(argv, timeout_s=timeout_s)
        except OSError as exc:
            raise self._node.error(f"shell_command could not run: {exc.strerror}") from None


def run_argv(argv: list[str], *, stdin: Iterable[bytes] | None = None, timeout_s: float) -> Ran:
    """Run argv here (no shell), feeding stdin's chunks; raises TimeoutExpired, OSError."""
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    feeder = None
    failure: list[BaseException] = []
    if stdin is not None:
        pipe, proc.stdin = proc.stdin, None  # fed by a thread; communicate() only reads
        assert pipe is not None
        feeder = threading.Thread(target=_feed, args=(pipe, stdin, failure), daemon=True)
        feeder.start()
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    if feeder is not None:
        feeder.join(timeout=5)
    if failure:  # the caller's data failed (a broken download...), not the command
        raise failure[0]
    return Ran(proc.returncode, out, err.decode(errors="replace"))


def stream_argv(argv: list[str], *, timeout_s: float) -> Iterator[tuple[bytes, Ran | None]]:
    """Run argv here and yield its stdout in chunks, then (b"", the finished command)."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        assert proc.stdout is not None
        try:
            while chunk := proc.stdout.read(CHUNK):
                yield chunk, None
            code = proc.wait(timeout=timeout_s)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        err.seek(0)
        yield b"", Ran(code, b"", err.read().decode(errors="replace"))


def _feed(pipe: IO[bytes], chunks: Iterable[bytes], failure: list[BaseException]) -> None:
    try:
        with contextlib.suppress(BrokenPipeError), pipe:
            for chunk in chunks:
                pipe.write(chunk)
    except BaseException as exc:  # handed to run_argv, raised there
        failure.append(exc)
