"""The lock of a backup job: one run or prune at a time, across every host sharing the store.

Two locks, taken in this order: the state dir's lock (another run on this host is refused at
once) and the job's lease in the store itself (`<job>/locks/backup.<generation>`), which every
host writing to that store respects. A lease left by a host that died is taken over once it has
not changed for the job's lock_ttl_s, measured on this host's own monotonic clock; a run
therefore waits up to lock_ttl_s + LEASE_GRACE_S for it before it is skipped.
"""

from __future__ import annotations

from contextlib import ExitStack
from types import TracebackType

from dr.config.schema import Settings
from dr.state import StateStore
from dr.storage import ObjectStore, StoreLease

LEASE_GRACE_S = 5.0


def lease_key(job: str) -> str:
    return f"{job}/locks/backup"


class JobLock:
    """Both locks of a job, as one context manager; ``fence()`` before a commit."""

    def __init__(self, settings: Settings, job: str, store: ObjectStore, *, what: str) -> None:
        assert settings.state is not None  # set by the config loader
        self.job = job
        self.ttl_s = float(settings.backups[job].lock_ttl_s)
        self._state = StateStore(settings.state)
        self.lease = StoreLease(
            store, lease_key(job), purpose=f"{what} of job {job}", ttl_s=self.ttl_s
        )
        self._stack = ExitStack()

    def __enter__(self) -> JobLock:
        """Raises LockHeld when another run or prune of the job holds either lock."""
        with ExitStack() as stack:
            stack.enter_context(
                self._state.exclusive(f"backup-{self.job}", what=f"backup job '{self.job}'")
            )
            stack.enter_context(self.lease.acquire(wait_s=self.ttl_s + LEASE_GRACE_S))
            self._stack = stack.pop_all()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stack.close()

    def fence(self) -> None:
        """Raise LockLost when the lease was taken over meanwhile (another host's run)."""
        self.lease.check_held()
