"""Who holds a lease: a process on a host, named so that a process of the same host can tell
whether it still runs.

A pid means something only on its own host, boot and pid namespace (the machine id), and only
while the process that had it runs (its start time, from /proc, tells a reused pid apart). A
lease naming this very pid with another token was left by an earlier process that had the same
pid: ``add_held_token``/``discard_held_token`` keep the tokens of the leases this process holds.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

# The tokens of the leases this process holds (see add_held_token).
_held_tokens: set[str] = set()
_held_tokens_lock = threading.Lock()


@dataclass(frozen=True)
class LeaseOwner:
    """Who holds a lease: a process on a host, and the lease's own random token."""

    host: str
    pid: int
    token: str
    machine: str | None = None  # boot id and pid namespace: where pid numbers mean something
    process_started: int | None = None  # the pid's start time (clock ticks): tells reuse apart

    @classmethod
    def of_this_process(cls, host: str | None = None) -> LeaseOwner:
        """This process, with a new token (host defaults to this machine's host name)."""
        pid = os.getpid()
        return cls(
            host=host or socket.gethostname(),
            pid=pid,
            token=secrets.token_hex(8),
            machine=_machine_id(),
            process_started=_start_ticks(_proc_stat(pid)),
        )

    def is_dead_process_here(self, me: LeaseOwner) -> bool:
        """True when this owner is a process of me's host and boot that no longer runs."""
        if self.host != me.host or self.machine != me.machine:
            return False  # another host: only the ttl can tell
        if self.pid == me.pid:
            with _held_tokens_lock:
                return self.token not in _held_tokens
        fields = _proc_stat(self.pid)
        if fields is None:  # no /proc entry: gone on Linux, or no /proc on this system
            return not _pid_alive(self.pid)
        if fields[0] == b"Z":  # killed, not yet reaped by its parent
            return True
        return self.process_started is not None and _start_ticks(fields) != self.process_started


def add_held_token(token: str) -> None:
    """Note that this process holds (or is about to hold) the lease with token."""
    with _held_tokens_lock:
        _held_tokens.add(token)


def discard_held_token(token: str) -> None:
    """Note that this process no longer holds the lease with token (known or not)."""
    with _held_tokens_lock:
        _held_tokens.discard(token)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        pass
    return True


def _proc_stat(pid: int) -> list[bytes] | None:
    """/proc/PID/stat from its state field on (field 3 of proc(5)); None without one."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return stat.rsplit(b")", 1)[-1].split()  # the command name may hold spaces and ')'


def _start_ticks(fields: list[bytes] | None) -> int | None:
    """The process's start time in clock ticks after boot; None when unknown."""
    try:
        return int(fields[19]) if fields else None  # starttime, field 22 of proc(5)
    except (IndexError, ValueError):
        return None


def _machine_id() -> str | None:
    """This boot and pid namespace (Linux): the same host name elsewhere is another machine."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            boot = handle.read().strip()
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None
    return f"{boot}/{namespace}"
