"""Object stores for backups: an S3 bucket prefix or a local directory, behind one protocol;
and the lease held in a store that every host sharing it respects."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from dr.config.schema import StorageSettings
from dr.storage.base import (
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    StorageError,
    check_key,
    check_prefix,
)
from dr.storage.lease import LEASE_TTL_S, LeaseOwner, LockLost, StoreLease
from dr.storage.local import LocalStore
from dr.storage.s3 import S3Store

__all__ = [
    "LEASE_TTL_S",
    "LeaseOwner",
    "LocalStore",
    "LockLost",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "S3Store",
    "StorageError",
    "StoreLease",
    "check_key",
    "check_prefix",
    "open_store",
]


def open_store(settings: StorageSettings) -> ObjectStore:
    """The store the settings' URL names (s3:// or file://); raises StorageError."""
    parsed = urlparse(settings.url)
    if parsed.scheme == "s3":
        return S3Store(settings, retry_deadline_s=settings.retry_deadline_s)
    if parsed.scheme == "file":
        return LocalStore(Path(unquote(parsed.path)))
    raise StorageError(f"'{settings.url}' is neither an s3:// nor a file:// store URL")
