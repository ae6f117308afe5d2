"""``kind: ssh``: each broker's host (the inventory's ``host``) reached over SSH with paramiko.

systemd drives the broker (``systemctl start|stop --no-block|is-active|kill UNIT``) unless
start/stop/status commands are configured. Every command line sent is built by
dr.hosts.templates with each argument quoted; nothing here shells out to ``ssh``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator

import paramiko

from dr.config.access import SshAccess
from dr.hosts.base import HostError, NodeStatus, Stopped
from dr.hosts.common import Node, stop_with_deadline, wait_for_status
from dr.hosts.remote import Ran, RemoteFiles, status_of
from dr.hosts.templates import render, shell_line
from dr.log import get_logger
from dr.retry import call_with_retries

log = get_logger(__name__)

CHUNK = 256 * 1024
START_TIMEOUT_S = 300.0
STATUS_TIMEOUT_S = 60.0


class _AcceptSilently(paramiko.MissingHostKeyPolicy):
    """known_hosts: off: any host key is taken (for labs and throw-away hosts only)."""

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        return None


class SshHost(RemoteFiles):
    """One node reached over SSH (see dr.hosts.base for the contract)."""

    def __init__(self, node: Node, access: SshAccess) -> None:
        self._node = node
        self._access = access
        self._sudo = access.sudo
        self._client: paramiko.SSHClient | None = None
        self.cluster = node.cluster
        self.node_id = node.node_id
        self.host = node.host
        self.log_dirs = node.log_dirs
        self.config_file = node.config_file

    @property
    def _unit(self) -> str:
        return render([self._access.systemd_unit], self._node.facts)[0]

    # -- the process -------------------------------------------------------------------

    def status(self) -> NodeStatus:
        custom = self._access.status_command
        line = (
            shell_line(render(custom, self._node.facts))
            if custom
            else shell_line(["systemctl", "is-active", "--quiet", self._unit])
        )
        what = "status_command" if custom else f"systemctl is-active {self._unit}"
        try:
            ran = self._run(line, timeout_s=STATUS_TIMEOUT_S)
        except HostError as exc:
            return NodeStatus(None, str(exc))
        return status_of(ran, what)

    def start(self) -> None:
        if self.status().running:
            return
        custom = self._access.start_command
        if custom:
            self._checked(shell_line(render(custom, self._node.facts)), "start_command")
        else:
            line = shell_line(["systemctl", "start", self._unit], sudo=self._sudo)
            self._checked(line, f"systemctl start {self._unit}")
        answer = wait_for_status(self.status, running=True, timeout_s=START_TIMEOUT_S)
        if not answer.running:
            raise self._node.error(f"started, but it is not running: {answer.detail}")
        log.info("host_node_started", cluster=self.cluster, node=self.node_id, kind="ssh")

    def stop(self, *, deadline_s: float = 120.0) -> Stopped:
        return stop_with_deadline(
            self._node,
            status=self.status,
            request_stop=self._request_stop,
            kill=self._kill,
            deadline_s=deadline_s,
        )

    def _request_stop(self, left_s: float) -> None:
        custom = self._access.stop_command
        if custom is None:
            line = shell_line(["systemctl", "stop", "--no-block", self._unit], sudo=self._sudo)
            self._checked(line, f"systemctl stop {self._unit}")
            return
        ran = self._run(
            shell_line(render(custom, self._node.facts)), timeout_s=max(1.0, left_s), idle_ok=True
        )
        if ran.code != 0:  # a stop that failed or timed out: the status polling decides
            log.warning("host_stop_command_failed", node=self.node_id, exit=ran.code)

    def _kill(self) -> None:
        if self._access.stop_command is None:
            line = shell_line(["systemctl", "kill", "-s", "SIGKILL", self._unit], sudo=self._sudo)
            self._checked(line, f"systemctl kill {self._unit}")
        elif self._access.kill_command is not None:
            self._checked(shell_line(render(self._access.kill_command, self._node.facts)), "kill")
        else:
            raise self._node.error(
                "did not stop by the deadline, and nothing can kill it: set "
                f"{self._node.key('kill_command')}"
            )

    def _checked(self, line: str, what: str, *, timeout_s: float = START_TIMEOUT_S) -> Ran:
        ran = self._run(line, timeout_s=timeout_s)
        if ran.code != 0:
            raise self._node.error(f"{what} exited {ran.code}: {ran.last_line}")
        return ran

    # -- the storage tool --------------------------------------------------------------

    def storage_tool(self, args: list[str], *, timeout_s: float = 120.0) -> str:
        tool = f"{self._access.kafka_home.rstrip('/')}/bin/kafka-storage.sh"
        ran = self._run(shell_line([tool, *args], sudo=self._sudo), timeout_s=timeout_s)
        if ran.code != 0:
            raise self._node.error(
                f"{tool} {' '.join(args[:1])} exited {ran.code}: {ran.last_line}"
            )
        return ran.stdout.decode(errors="replace")

    # -- the connection ----------------------------------------------------------------

    def close(self) -> None:
        """Close the SSH connection (the next call opens a new one)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def _transport(self) -> paramiko.Transport:
        client = self._client
        if client is not None:
            transport = client.get_transport()
            if transport is not None and transport.is_active():
                return transport
            self.close()
        self._client = self._connect()
        transport = self._client.get_transport()
        assert transport is not None
        return transport

    def _connect(self) -> paramiko.SSHClient:
        access, node = self._access, self._node
        key_file = access.key_file
        if not os.access(key_file, os.R_OK):
            why = "does not exist" if not key_file.exists() else "is not readable"
            raise node.error(f"{node.key('key_file')} {key_file} {why}")
        passphrase = access.passphrase.get_secret_value() if access.passphrase else None
        where = f"{access.user}@{node.host}:{access.port}"

        def attempt() -> paramiko.SSHClient:
            client = paramiko.SSHClient()
            self._host_key_policy(client)
            try:
                client.connect(
                    node.host,
                    port=access.port,
                    username=access.user,
                    key_filename=str(key_file),
                    passphrase=passphrase,
                    timeout=access.connect_timeout_s,
                    banner_timeout=access.connect_timeout_s,
                    auth_timeout=access.connect_timeout_s,
                    allow_agent=False,
                    look_for_keys=False,
                )
            except BaseException:
                client.close()
                raise
            return client

        try:
            client = call_with_retries(
                attempt,
                deadline_s=2 * access.connect_timeout_s,
                transient=_transient,
                event="ssh_connect_retry",
                fields={"cluster": node.cluster, "node": node.node_id, "host": node.host},
            )
        except paramiko.BadHostKeyException:
            raise node.error(
                f"the host key of {node.host} is not the one in {access.known_hosts_file}: "
                "refusing to connect (a changed host, or a man in the middle)"
            ) from None
        except paramiko.PasswordRequiredException:
            raise node.error(
                f"{node.key('key_file')} {key_file} is encrypted: set {node.key('passphrase')}"
            ) from None
        except paramiko.AuthenticationException:
            raise node.error(f"{where} refused the key {key_file}") from None
        except paramiko.SSHException as exc:
            raise node.error(f"ssh to {where} failed: {self._explain(exc)}") from None
        except (OSError, EOFError) as exc:
            why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise node.error(f"cannot connect to {where}: {why}") from None
        log.debug("ssh_connected", cluster=node.cluster, node=node.node_id, host=node.host)
        return client

    def _host_key_policy(self, client: paramiko.SSHClient) -> None:
        access, node = self._access, self._node
        known = access.known_hosts_file
        if access.known_hosts == "off":
            client.set_missing_host_key_policy(_AcceptSilently())
            return
        if access.known_hosts == "strict":
            if not known.is_file():
                raise node.error(
                    f"{node.key('known_hosts_file')} {known} does not exist (known_hosts: strict)"
                )
            self._load_host_keys(client)
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
            return
        try:
            known.parent.mkdir(parents=True, exist_ok=True)
            known.touch(exist_ok=True)
        except OSError as exc:
            raise node.error(f"{node.key('known_hosts_file')} {known}: {exc.strerror}") from None
        self._load_host_keys(client)  # accept-new: an unknown host is added to the file
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())

    def _load_host_keys(self, client: paramiko.SSHClient) -> None:
        known, node = self._access.known_hosts_file, self._node
        try:
            client.load_host_keys(str(known))
        except OSError as exc:
            raise node.error(f"{node.key('known_hosts_file')} {known}: {exc.strerror}") from None
        except (paramiko.hostkeys.InvalidHostKey, paramiko.SSHException, ValueError) as exc:
            bad = str(exc.args[0])[:60] if exc.args else ""
            raise node.error(
                f"{node.key('known_hosts_file')} {known} holds a line that is not a host key: {bad}"
            ) from None

    def _explain(self, exc: paramiko.SSHException) -> str:
        text = str(exc)
        if "not found in known_hosts" in text:
            return (
                f"its host key is not in {self._access.known_hosts_file} (known_hosts: strict; "
                "add it with ssh-keyscan, or use accept-new)"
            )
        return text

    # -- running a command line --------------------------------------------------------

    def _run(
        self,
        line: str,
        *,
        stdin: Iterable[bytes] | None = None,
        timeout_s: float,
        idle_ok: bool = False,
    ) -> Ran:
        """Run line on the host; idle_ok: a timeout gives exit -1 instead of a HostError."""
        out = bytearray()
        try:
            for chunk, ran in self._exec(line, stdin=stdin, timeout_s=timeout_s):
                if ran is not None:
                    return Ran(ran.code, bytes(out), ran.stderr)
                out += chunk
        except TimeoutError:
            if idle_ok:
                return Ran(-1, bytes(out), f"no answer within {timeout_s:.0f}s")
            raise self._node.error(f"no answer within {timeout_s:.0f}s from: {line}") from None
        raise AssertionError("unreachable: _exec always ends with the finished command")

    def _stream(self, line: str, *, timeout_s: float) -> Iterator[tuple[bytes, Ran | None]]:
        try:
            yield from self._exec(line, stdin=None, timeout_s=timeout_s)
        except TimeoutError:
            raise self._node.error(f"no data within {timeout_s:.0f}s from: {line}") from None

    def _exec(
        self, line: str, *, stdin: Iterable[bytes] | None, timeout_s: float
    ) -> Iterator[tuple[bytes, Ran | None]]:
        """stdout chunks, then (b"", the finished command); raises TimeoutError when the host
        is silent for timeout_s, HostError when the connection fails."""
        try:
            channel = self._transport().open_session(timeout=self._access.connect_timeout_s)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self.close()
            raise self._node.error(f"cannot open an SSH session: {exc}") from None
        err = bytearray()
        with channel:
            channel.settimeout(timeout_s)
            try:
                channel.exec_command(line)
                if stdin is not None:
                    for chunk in stdin:
                        channel.sendall(chunk)
                        err += _drain_stderr(channel)
                    channel.shutdown_write()
                while True:
                    chunk = channel.recv(CHUNK)
                    err += _drain_stderr(channel)
                    if not chunk:
                        break
                    yield chunk, None
                deadline = time.monotonic() + timeout_s
                while not channel.exit_status_ready():
                    if time.monotonic() > deadline:
                        raise TimeoutError
                    err += _drain_stderr(channel)
                    time.sleep(0.05)
                err += _drain_stderr(channel, until_eof=True)
                code = channel.recv_exit_status()
            except TimeoutError:
                raise  # before OSError, of which it is one: the caller decides
            except (paramiko.SSHException, OSError, EOFError) as exc:
                self.close()
                raise self._node.error(f"the SSH session failed: {exc}") from None
        yield b"", Ran(code, b"", err.decode(errors="replace"))


def _transient(exc: BaseException) -> bool:
    """A refused or dropped connection is worth another try; a key or host key problem is not."""
    if isinstance(exc, paramiko.SSHException):  # keys, host keys: only a lost banner is not
        return "banner" in str(exc)
    return isinstance(exc, OSError | EOFError)


def _drain_stderr(channel: paramiko.Channel, *, until_eof: bool = False) -> bytes:
    data = bytearray()
    while channel.recv_stderr_ready() or until_eof:
        chunk = channel.recv_stderr(CHUNK)
        if not chunk:
            break
        data += chunk
    return bytes(data)
