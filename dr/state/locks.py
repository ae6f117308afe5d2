"""Locks held by one host's processes: one run of a procedure at a time on this host.

A lock is an flock on a file beside the state store that names its holder's pid; the kernel
frees it when the process dies. A lock that two hosts must both respect is a lease in the
object store instead (dr.storage.lease).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

from dr.errors import DrError
from dr.state.database import Database


class LockHeld(DrError):
    """Another run of the same procedure holds its lock."""


class HostLocks(Database):
    """Named locks in the folder ``<state file>.locks`` beside the store."""

    @contextmanager
    def exclusive(self, name: str, *, what: str) -> Iterator[None]:
        """Hold the lock `name` for this host while the block runs (patroni-style: one run of
        a procedure at a time). Raises LockHeld naming `what` and the holder's pid."""
        folder = self.path.parent / f"{self.path.name}.locks"
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / f"{name}.lock").open("a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "?"
                raise LockHeld(f"{what} is already running (pid {holder}); wait for it") from None
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            try:
                yield
            finally:
                handle.truncate(0)
                fcntl.flock(handle, fcntl.LOCK_UN)
