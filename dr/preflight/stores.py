"""The checks of one store: list, write, read back and delete a probe object, then take and
release a probe lease (the conditional write every lock of kafka-dr stands on).

Probe objects live under a reserved key of their own, ``.kafka-dr-check/<random>/``, removed
afterwards whatever happened; no backup or lease is ever named like that. An S3 store is
opened with short timeouts and asked once per operation (no retries: a wrong endpoint is told
in seconds, and a passing throttle shows as a failure that the next check does not repeat).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import uuid
from datetime import UTC, datetime
from urllib.parse import urlparse

from dr.config.schema import StorageSettings
from dr.errors import DrError
from dr.preflight.model import PreflightCheck, Stopwatch, passed, problem
from dr.preflight.runner import CheckTask, Outcome
from dr.storage import ObjectStore, StorageError, StoreLease, open_store

PROBE_PREFIX = ".kafka-dr-check/"
S3_CONNECT_TIMEOUT_S = 3.0
S3_READ_TIMEOUT_S = 5.0
# Below the first backoff of dr.retry: one attempt per S3 call.
S3_RETRY_DEADLINE_S = 0.05
PROBE_LEASE_TTL_S = 30.0
_QUERY = re.compile(r"(https?://[^\s\"'?]+)\?[^\s\"']*")
_HINTS = {
    "open": "check the store's url, endpoint_url, region and credentials",
    "list": (
        "check the store's url, endpoint_url and credentials, and that the bucket or "
        "directory exists and kafka-dr may list it"
    ),
    "write": "give the user kafka-dr runs as the right to write there",
    "read back": "give the user kafka-dr runs as the right to read what it writes there",
    "delete": "give the user kafka-dr runs as the right to delete there (retention needs it)",
}


def store_task(name: str, settings: StorageSettings) -> CheckTask:
    """The task that checks store ``name``."""
    subject = f"store {name} ({describe_store(settings)})"
    check = f"store {name} read/write"

    def run() -> Outcome:
        watch = Stopwatch()
        try:
            store = open_probe_store(settings)
        except DrError as exc:
            detail = f"{describe_store(settings)}: {exc.message}"
            return Outcome(
                (problem(check, subject, detail, _HINTS["open"], seconds=watch.seconds),)
            )
        return Outcome(probe_store(name, store, subject=subject, where=describe_store(settings)))

    s3 = settings.url.startswith("s3:")
    deadline = S3_CONNECT_TIMEOUT_S + 2 * S3_READ_TIMEOUT_S if s3 else 15.0
    hint = "the store answers too slowly: check its endpoint and the network path to it"
    return CheckTask(check, subject, deadline, run, hint)


def describe_store(settings: StorageSettings) -> str:
    """'s3://bucket/prefix at http://127.0.0.1:9000', or the file:// URL."""
    if settings.endpoint_url:
        parts = urlparse(settings.endpoint_url)
        shown = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
        return f"{settings.url} at {shown}"
    return settings.url


def open_probe_store(settings: StorageSettings) -> ObjectStore:
    """The store, opened to answer quickly: an S3 store with short timeouts and retries."""
    if urlparse(settings.url).scheme == "s3":
        from dr.storage.s3 import S3Store  # here: boto3 only for an s3:// store

        return S3Store(
            settings,
            retry_deadline_s=min(settings.retry_deadline_s, S3_RETRY_DEADLINE_S),
            connect_timeout_s=S3_CONNECT_TIMEOUT_S,
            read_timeout_s=S3_READ_TIMEOUT_S,
        )
    return open_store(settings)


def probe_store(
    name: str, store: ObjectStore, *, subject: str, where: str | None = None
) -> tuple[PreflightCheck, ...]:
    """'store NAME read/write' and, when that passed, 'store NAME lock'."""
    check = f"store {name} read/write"
    where = where or store.url
    base = f"{PROBE_PREFIX}{uuid.uuid4().hex}/"
    key = base + "probe"
    payload = _payload()
    watch = Stopwatch()
    written = False
    step = "list"
    try:
        list(store.list(base))
        step = "write"
        written = True
        store.put_bytes(key, payload)
        step = "read back"
        if store.get_bytes(key) != payload:
            raise StorageError(f"'{key}' read back differs from what was written")
        step = "list"
        if key not in [o.key for o in store.list(base)]:
            raise StorageError(f"'{key}' was written but the listing does not show it")
        step = "delete"
        store.delete(key)
        if store.exists(key):
            raise StorageError(f"'{key}' is still there after its deletion")
    except DrError as exc:
        message = _short(exc.message)
        named = message if where in message else f"{where}: {message}"  # the store named once
        detail = f"{step} failed: {named}; the lock was not checked"
        hint = _HINTS[step] + _who_hint(store)
        return (problem(check, subject, detail, hint, seconds=watch.seconds),)
    finally:
        if written:
            _remove_under(store, base)
    detail = f"listed, wrote, read back and deleted a probe object in {where}"
    return passed(check, subject, detail, seconds=watch.seconds), lease_check(name, store, subject)


def lease_check(name: str, store: ObjectStore, subject: str) -> PreflightCheck:
    """'store NAME lock': a probe lease is taken (a conditional write) and released."""
    check = f"store {name} lock"
    base = f"{PROBE_PREFIX}{uuid.uuid4().hex}/"
    watch = Stopwatch()
    lease = StoreLease(store, base + "lease", purpose="kafka-dr check", ttl_s=PROBE_LEASE_TTL_S)
    try:
        lease.acquire(wait_s=0)
        lease.check_held()
    except DrError as exc:
        hint = (
            "kafka-dr's locks need conditional writes: an S3 server that honours "
            "If-None-Match (AWS S3, MinIO, recent SeaweedFS), or a filesystem with hard links"
        )
        detail = f"a probe lease could not be taken in {store.url}: {_short(exc.message)}"
        return problem(check, subject, detail, hint, seconds=watch.seconds)
    finally:
        lease.release()
        _remove_under(store, base)
    detail = "took and released a probe lease (conditional write)"
    return passed(check, subject, detail, seconds=watch.seconds)


def _payload() -> bytes:
    moment = datetime.now(UTC).isoformat(timespec="seconds")
    return f"kafka-dr check from {socket.gethostname()} at {moment}\n".encode() + os.urandom(16)


def _remove_under(store: ObjectStore, base: str) -> None:
    """Delete what the probe left under base; a store that fails here has been reported."""
    with contextlib.suppress(DrError):
        store.delete_many([o.key for o in store.list(base)])


def _short(message: str) -> str:
    """The message without the query strings of the URLs in it (S3 request parameters)."""
    return _QUERY.sub(r"\1", message)


def _who_hint(store: ObjectStore) -> str:
    if store.url.startswith("file:"):
        return f" (uid {os.geteuid()})"
    return ""
