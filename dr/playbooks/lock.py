"""One playbook at a time per cluster pair, across hosts.

Two locks, in this order: this host's lock in the state directory (refused at once), and a
lease object in the object store (``kafka-dr/playbooks/<a>--<b>/lease.<generation>``), which
every host using the same store sees. The pair is unordered: a failover primary->dr and a
failback dr->primary exclude each other. The store is the first one of ``storage`` (in config
order: every host with the same config picks the same); with no store at all only this host is
protected, and the plan says so.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, ExitStack
from types import TracebackType

from dr.config.schema import Settings
from dr.state import StateStore
from dr.storage import StoreLease, open_store

LEASE_TTL_S = 30.0


def lease_store_name(settings: Settings) -> str | None:
    """The store holding playbook leases, or None when only this host can be protected."""
    return next(iter(settings.storage), None)


def lock_description(settings: Settings, source: str, target: str) -> str:
    store = lease_store_name(settings)
    where = f"a lease in store '{store}'" if store else "this host only (no store configured)"
    return f"one playbook at a time on {'/'.join(sorted((source, target)))}: {where}"


class PlaybookLock(AbstractContextManager["PlaybookLock"]):
    """Both locks of a cluster pair as one context manager."""

    def __init__(self, settings: Settings, state: StateStore, source: str, target: str) -> None:
        a, b = sorted((source, target))
        self._state, self._name = state, f"playbook-{a}--{b}"
        self._what = f"a playbook on {a}/{b}"
        store = lease_store_name(settings)
        self._lease = (
            None
            if store is None
            else StoreLease(
                open_store(settings.storage[store]),
                f"kafka-dr/playbooks/{a}--{b}/lease",
                purpose=self._what,
                ttl_s=LEASE_TTL_S,
            )
        )
        self._stack = ExitStack()

    def __enter__(self) -> PlaybookLock:
        """Raises LockHeld naming the holder when another run holds either lock."""
        with ExitStack() as stack:
            stack.enter_context(self._state.exclusive(self._name, what=self._what))
            if self._lease is not None:
                stack.enter_context(self._lease.acquire(wait_s=LEASE_TTL_S + 5))
            self._stack = stack.pop_all()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stack.close()
