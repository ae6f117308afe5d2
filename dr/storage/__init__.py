"""Object stores for backups: an S3 bucket prefix or a local directory, behind one protocol;
and the lease held in a store that every host sharing it respects."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
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
from dr.storage.crypt import EncryptionError, Keyring
from dr.storage.encrypted import (
    EncryptedStore,
    get_stored,
    keyring_of,
    open_stored,
    put_encrypted,
)
from dr.storage.lease import LEASE_TTL_S, LeaseOwner, LockLost, StoreLease
from dr.storage.local import LocalStore

if TYPE_CHECKING:
    from dr.storage.s3 import S3Store

__all__ = [
    "LEASE_TTL_S",
    "EncryptedStore",
    "EncryptionError",
    "Keyring",
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
    "get_stored",
    "open_store",
    "open_stored",
    "put_encrypted",
]


def __getattr__(name: str) -> Any:
    # S3Store is imported on first use: boto3 costs ~0.15 s that a file:// store never needs.
    if name == "S3Store":
        from dr.storage.s3 import S3Store

        return S3Store
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_store(settings: StorageSettings) -> ObjectStore:
    """The store the settings' URL names (s3:// or file://), wrapped in an EncryptedStore when
    the settings have encryption keys; raises StorageError."""
    store = _plain_store(settings)
    keyring = keyring_of(settings)
    if keyring is None or settings.encryption is None:
        return store
    allow = settings.encryption.allow_unencrypted_reads
    return EncryptedStore(store, keyring, allow_unencrypted_reads=allow)


def _plain_store(settings: StorageSettings) -> ObjectStore:
    parsed = urlparse(settings.url)
    if parsed.scheme == "s3":
        from dr.storage.s3 import S3Store

        return S3Store(settings, retry_deadline_s=settings.retry_deadline_s)
    if parsed.scheme == "file":
        return LocalStore(Path(unquote(parsed.path)))
    raise StorageError(f"'{settings.url}' is neither an s3:// nor a file:// store URL")
