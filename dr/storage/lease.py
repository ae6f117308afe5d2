"""A lease that every host sharing one object store respects: one holder per key at a time.

A lease is a series of generation objects ``<key>.00000001``, ``<key>.00000002``, ...; the
highest generation present is the lease's state: held by the owner it names, or released.
Only its owner rewrites it (renewals every ttl/3 change its content); everything else creates:

* To acquire, a host creates generation N+1 with ``put_if_absent``, where N is the highest it
  read, then lists again and backs off (deleting its object) if anything above N+1 exists; it
  deletes the generations below its own. Of any contenders that read N, exactly one creates
  N+1, so two stealers never both win.
* The highest generation is never deleted: release first puts a "released" generation above
  its own, then deletes its own; a contender that lost deletes only its own object, below the
  winner's. So the highest number never goes down, and a contender with a stale view either
  finds N+1 taken or, after creating it, lists a higher generation and backs off.
* Generation N may be taken over when it is released, when its owner is a dead process on
  this same host (same host name, boot and pid namespace), or when this observer has read the
  same content for ttl on its own monotonic clock. Wall-clock times in the objects are for
  people only: a host whose clock is wrong can neither steal a renewed lease nor keep a dead
  one.
* A holder trusts itself for VALIDITY of ttl after the start of its last renewal, and only a
  renewal that lands within that window extends it: by then no observer has seen the old
  content unchanged for a whole ttl. ``check_held()`` also lists the generations, so a caller
  that calls it right before committing learns of a takeover (fencing).

lease_owner.py says who an owner is and whether its process still runs on this host.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal

from dr.errors import DrError
from dr.log import get_logger
from dr.state import LockHeld
from dr.storage.base import ObjectNotFound, ObjectStore, check_key
from dr.storage.lease_owner import LeaseOwner, add_held_token, discard_held_token

__all__ = ["LEASE_TTL_S", "VALIDITY", "LeaseOwner", "LockLost", "StoreLease"]

log = get_logger(__name__)

LEASE_TTL_S = 60.0
# A holder counts on its lease for this share of the ttl after its last renewal began.
VALIDITY = 0.8
_GENERATION_SUFFIX = re.compile(r"\d{8,}")

Verdict = Literal["free", "released", "dead", "expired", "held"]


class LockLost(DrError):
    """A lease this process held was taken over (or not renewed in time): do not commit."""


@dataclass(frozen=True)
class _Generation:
    """The highest generation object as read: its number, key, raw content and decoding."""

    number: int
    key: str
    content: bytes

    @property
    def doc(self) -> dict[str, Any]:
        try:
            doc = json.loads(self.content)
        except ValueError:
            return {}
        return doc if isinstance(doc, dict) else {}

    @property
    def owner(self) -> LeaseOwner | None:
        """The owner the object names; None for a released or unreadable one."""
        raw = self.doc.get("owner")
        try:
            owner = LeaseOwner(**raw) if isinstance(raw, dict) else None
        except TypeError:  # fields missing or unknown: not written by this code
            return None
        if owner and isinstance(owner.pid, int) and isinstance(owner.host, str):
            return owner
        return None

    def describe(self) -> str:
        """'host-a pid 1234 since 2026-12-01T10:00:00+00:00 (backup of job orders)'."""
        doc, owner = self.doc, self.owner
        if doc.get("released") is True and isinstance(doc.get("released_by"), dict):
            by, at = doc["released_by"], doc.get("released_at")
            return f"{by.get('host')} pid {by.get('pid')}, who released it at {at}"
        who = f"{owner.host} pid {owner.pid}" if owner else "an unknown owner"
        return f"{who} since {doc.get('acquired_at', '?')} ({doc.get('purpose', '?')})"


class StoreLease:
    """An exclusive lease named key in store; use ``with StoreLease(...) as lease:``."""

    def __init__(
        self,
        store: ObjectStore,
        key: str,
        *,
        purpose: str,
        ttl_s: float = LEASE_TTL_S,
        wait_s: float = 0.0,
        poll_s: float | None = None,
        host: str | None = None,
    ) -> None:
        """A lease on key (e.g. 'orders/locks/backup.json'), not yet acquired. purpose says
        what it is for; host stands in for this machine's host name (tests use it to play
        another host). Raises ValueError for a ttl that is not positive, StorageError for an
        invalid key."""
        if ttl_s <= 0:
            raise ValueError(f"lease ttl must be positive, not {ttl_s}")
        self.store, self.key, self.purpose = store, check_key(key), purpose
        self.ttl_s, self.wait_s = ttl_s, wait_s
        self._poll_s = poll_s if poll_s is not None else min(1.0, ttl_s / 10)
        self._host = host
        self._me = LeaseOwner.of_this_process(host)
        self._number: int | None = None
        self._acquired_at = ""
        self._renewals = 0
        self._valid_until = 0.0
        self._lost: str | None = None
        self._seen: tuple[str, bytes, float] | None = None  # key, content, first read (monotonic)
        self._state_lock = threading.Lock()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def __enter__(self) -> StoreLease:
        """Acquire, unless already acquired (``with lease.acquire(wait_s=5):``)."""
        return self if self._number is not None else self.acquire()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    @property
    def owner(self) -> LeaseOwner:
        """Who this lease names as its owner once acquired."""
        return self._me

    def acquire(self, wait_s: float | None = None) -> StoreLease:
        """Take the lease, waiting up to wait_s (default: the constructor's) for its holder to
        release it, die or stop renewing; returns self, renewing in the background. Raises
        LockHeld naming the holder, or StorageError."""
        if self._number is not None:
            raise RuntimeError(f"lease '{self.key}' is already held by this object")
        deadline = time.monotonic() + (self.wait_s if wait_s is None else wait_s)
        self._me = LeaseOwner.of_this_process(self._host)
        waiting = False
        while True:
            try:
                top = self._read_top()
            except ObjectNotFound:  # replaced between listing and reading: read again
                continue
            verdict = self._judge(top)
            if verdict != "held":
                if self._try_create(top, verdict):
                    return self
                continue
            if time.monotonic() >= deadline:
                raise LockHeld(self._held_message(top))
            if not waiting and top is not None:
                waiting = True
                log.info("lease_waiting", lease=self.key, holder=top.describe())
            time.sleep(min(self._poll_s, max(0.0, deadline - time.monotonic())))

    def still_held(self) -> bool:
        """True while acquired, not known lost and renewed recently enough (no I/O)."""
        with self._state_lock:
            return (
                self._number is not None
                and self._lost is None
                and time.monotonic() < self._valid_until
            )

    def check_held(self) -> None:
        """Make sure the lease is still this process's, reading the store; call it right before
        a commit point. Raises LockLost naming who took it over, or StorageError."""
        with self._state_lock:
            number, lost, valid_until = self._number, self._lost, self._valid_until
        if number is None:
            raise LockLost(f"lease '{self.key}' is not held: acquire it before committing")
        if lost is None:
            numbers = self._generations()
            if numbers and numbers[-1] > number:
                lost = self._mark_lost(self._taken_over_message(numbers[-1]))
            elif number not in numbers:
                lost = self._mark_lost(f"lease '{self.key}' object was deleted by someone else")
            elif time.monotonic() >= valid_until:
                lost = self._mark_lost(
                    f"lease '{self.key}' was not renewed within {self.ttl_s * VALIDITY:g}s, "
                    "so another host may take it over"
                )
        if lost is not None:
            raise LockLost(lost)

    def release(self) -> None:
        """Stop renewing and give the lease up: put a 'released' generation above this one,
        then delete this one. Never raises for the store: an unreleased lease expires."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
            self._renewer = None
        with self._state_lock:
            number, self._number = self._number, None
        discard_held_token(self._me.token)
        if number is None:
            return
        try:
            self.store.put_if_absent(
                self._key_of(number + 1), self._content(number + 1, released=True)
            )
            self.store.delete(self._key_of(number))
        except DrError as exc:
            log.warning("lease_release_failed", lease=self.key, generation=number, error=str(exc))
            return
        log.info("lease_released", lease=self.key, generation=number, purpose=self.purpose)

    def _read_top(self) -> _Generation | None:
        """The highest generation, read; None when there is none. Raises ObjectNotFound."""
        numbers = self._generations()
        if not numbers:
            return None
        key = self._key_of(numbers[-1])
        return _Generation(numbers[-1], key, self.store.get_bytes(key))

    def _generations(self) -> list[int]:
        """The generation numbers present, ascending."""
        prefix = self.key + "."
        found = (info.key.removeprefix(prefix) for info in self.store.list(prefix))
        return sorted(int(s) for s in found if _GENERATION_SUFFIX.fullmatch(s))

    def _judge(self, top: _Generation | None) -> Verdict:
        """Whether top may be taken: free, released, dead here, expired (unchanged for ttl by
        this observer's monotonic clock) or held."""
        if top is None:
            return "free"
        if top.doc.get("released") is True:
            return "released"
        owner = top.owner
        if owner is not None and owner.is_dead_process_here(self._me):
            return "dead"
        now = time.monotonic()
        if self._seen is None or self._seen[:2] != (top.key, top.content):
            self._seen = (top.key, top.content, now)
        return "expired" if now - self._seen[2] >= self.ttl_s else "held"

    def _try_create(self, top: _Generation | None, verdict: Verdict) -> bool:
        """Create the generation above top; True when it is ours and the highest."""
        number = top.number + 1 if top else 1
        key = self._key_of(number)
        started = time.monotonic()
        self._acquired_at, self._renewals = _now(), 0
        content = self._content(number)
        add_held_token(self._me.token)
        try:
            if not self.store.put_if_absent(key, content) and not self._is_mine(key):
                return self._forget_token()
            numbers = self._generations()
            if number not in numbers or numbers[-1] > number:  # a contender saw further
                self.store.delete(key)
                return self._forget_token()
        except BaseException:
            self._forget_token()
            raise
        with self._state_lock:
            self._number, self._lost = number, None
            self._valid_until = started + self.ttl_s * VALIDITY
        self._start_renewing()
        self._log_acquired(top, verdict, number)
        try:  # what is below is history (or a stale contender's): tidy, not needed
            self.store.delete_many(self._key_of(n) for n in numbers if n < number)
        except DrError as exc:
            log.warning("lease_cleanup_failed", lease=self.key, error=str(exc))
        return True

    def _is_mine(self, key: str) -> bool:
        """True when key holds this lease's token (a retried create whose first try landed)."""
        try:
            owner = _Generation(0, key, self.store.get_bytes(key)).owner
        except ObjectNotFound:
            return False
        return owner is not None and owner.token == self._me.token

    def _forget_token(self) -> Literal[False]:
        discard_held_token(self._me.token)
        return False

    def _start_renewing(self) -> None:
        self._stop.clear()
        self._renewer = threading.Thread(
            target=self._renew_until_stopped, name=f"lease-renewer:{self.key}", daemon=True
        )
        self._renewer.start()

    def _renew_until_stopped(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            if not self._renew_once():
                return

    def _renew_once(self) -> bool:
        """Rewrite this generation with a new renewed_at; False once the lease is lost."""
        with self._state_lock:
            number = self._number
        if number is None:
            return False
        started = time.monotonic()
        try:
            numbers = self._generations()
            if numbers and numbers[-1] > number:
                self._mark_lost(self._taken_over_message(numbers[-1]))
                return False
            self._renewals += 1
            self.store.put_bytes(self._key_of(number), self._content(number))
        except DrError as exc:
            log.warning("lease_renewal_failed", lease=self.key, generation=number, error=str(exc))
            return True
        with self._state_lock:
            if time.monotonic() < self._valid_until:
                self._valid_until = started + self.ttl_s * VALIDITY
                return True
        self._mark_lost(f"lease '{self.key}' was renewed too late to be sure no host took it")
        return False

    def _mark_lost(self, reason: str) -> str:
        """Record why the lease is lost (the first reason stays) and return the reason."""
        with self._state_lock:
            first = self._lost is None
            if first:
                self._lost = reason
            reason = self._lost or reason
        if first:
            log.warning("lease_lost", lease=self.key, reason=reason)
        return reason

    def _taken_over_message(self, number: int) -> str:
        try:
            who = _Generation(number, "", self.store.get_bytes(self._key_of(number))).describe()
        except DrError:
            who = "another owner"
        return f"lease '{self.key}' was taken over by {who} (generation {number})"

    def _held_message(self, top: _Generation | None) -> str:
        seen = time.monotonic() - self._seen[2] if self._seen else 0.0
        return (
            f"lease '{self.key}' is held by {top.describe() if top else '?'}; it is taken over "
            f"once unchanged for {self.ttl_s:g}s (unchanged for {seen:.0f}s so far)"
        )

    def _log_acquired(self, top: _Generation | None, verdict: Verdict, number: int) -> None:
        fields = {"lease": self.key, "generation": number, "purpose": self.purpose}
        if verdict in ("dead", "expired") and top is not None:
            reason = "its process died" if verdict == "dead" else f"unchanged for {self.ttl_s:g}s"
            log.info("lease_taken_over", **fields, previous=top.describe(), reason=reason)
        else:
            log.info("lease_acquired", **fields)

    def _key_of(self, number: int) -> str:
        return f"{self.key}.{number:08d}"

    def _content(self, number: int, *, released: bool = False) -> bytes:
        """A generation object: held by this owner, or (released) a marker that it is free."""
        doc: dict[str, Any] = {"lease": self.key, "generation": number, "purpose": self.purpose}
        if released:
            doc |= {"released": True, "released_at": _now(), "released_by": asdict(self._me)}
        else:
            doc |= {"owner": asdict(self._me), "acquired_at": self._acquired_at}
            doc |= {"renewed_at": _now(), "renewals": self._renewals}
        return json.dumps(doc, sort_keys=True).encode()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
