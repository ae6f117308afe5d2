"""A store whose backup objects are encrypted: any ObjectStore wrapped with a Keyring.

Only the objects a backup asks to encrypt (``put_encrypted``: data segments and metadata
snapshots) are sealed; everything else goes through as it is: manifests, sequence entries,
leases, probes, snapshot archives. Reads open any encrypted object (its header names its key),
and pass objects stored before encryption was turned on through, unless the settings refuse
them. Checksums are taken by the caller on the bytes ``get_stored`` returns (as stored) and
on the plaintext ``open_stored`` returns, so that a store can be verified without the key.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from dr.config.storage import StorageSettings
from dr.storage.base import ObjectInfo, ObjectStore
from dr.storage.crypt import EncryptionError, Keyring, header_key_id, is_encrypted, seal, unseal


def expects_encryption(key: str) -> bool:
    """True for the keys a backup encrypts: JOB/data/.../START.seg and JOB/metadata/ID.json."""
    parts = key.split("/")
    if len(parts) >= 3 and parts[1] == "data":
        return key.endswith(".seg")
    return len(parts) == 3 and parts[1] == "metadata" and key.endswith(".json")


def keyring_of(settings: StorageSettings) -> Keyring | None:
    """The keyring the settings describe, or None when the store is not encrypted."""
    if settings.encryption is None:
        return None
    where = f"storage.{settings.name or 'STORE'}.encryption.keys"
    return Keyring(settings.encryption.current, settings.encryption.key_bytes(), where)


class EncryptedStore:
    """An ObjectStore that opens encrypted objects on read and encrypts on ``seal`` requests."""

    def __init__(
        self, inner: ObjectStore, keyring: Keyring, *, allow_unencrypted_reads: bool = True
    ) -> None:
        self.inner = inner
        self.keyring = keyring
        self.allow_unencrypted_reads = allow_unencrypted_reads
        self.url = inner.url

    def seal(self, key: str, data: bytes) -> bytes:
        """The encrypted object to store under key."""
        return seal(self.keyring, key, data)

    def open(self, key: str, stored: bytes) -> bytes:
        """The plaintext of the object stored under key; raises EncryptionError."""
        if is_encrypted(stored):
            return unseal(self.keyring, key, stored)
        if not self.allow_unencrypted_reads and expects_encryption(key):
            where = self.keyring.where.removesuffix(".keys")
            raise EncryptionError(
                f"object '{key}' is not encrypted, and {where}.allow_unencrypted_reads is false"
            )
        return stored

    # -- the ObjectStore protocol --------------------------------------------------------

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store data as it is (use put_encrypted for what must be encrypted)."""
        self.inner.put_bytes(key, data)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        return self.inner.put_if_absent(key, data)

    def put_file(self, key: str, path: Path) -> None:
        self.inner.put_file(key, path)

    def get_bytes(self, key: str) -> bytes:
        """The object's plaintext; raises ObjectNotFound, StorageError, EncryptionError."""
        return self.open(key, self.inner.get_bytes(key))

    def get_file(self, key: str, path: Path) -> None:
        self.inner.get_file(key, path)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def stat(self, key: str) -> ObjectInfo | None:
        return self.inner.stat(key)

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def delete_many(self, keys: Iterable[str]) -> None:
        self.inner.delete_many(keys)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        return self.inner.list(prefix)

    def clean_temporaries(self, older_than_s: float, under: str = "") -> int:
        return self.inner.clean_temporaries(older_than_s, under)


def put_encrypted(store: ObjectStore, key: str, data: bytes) -> bytes:
    """Store data under key, encrypted when the store has keys; returns the bytes as stored
    (for their checksum). Raises StorageError."""
    if isinstance(store, EncryptedStore):
        stored = store.seal(key, data)
        store.inner.put_bytes(key, stored)
        return stored
    store.put_bytes(key, data)
    return data


def get_stored(store: ObjectStore, key: str) -> bytes:
    """The object's bytes exactly as stored (encrypted or not); needs no key. Raises
    ObjectNotFound, StorageError."""
    if isinstance(store, EncryptedStore):
        return store.inner.get_bytes(key)
    return store.get_bytes(key)


def open_stored(store: ObjectStore, key: str, stored: bytes) -> bytes:
    """The plaintext of bytes get_stored returned for key; raises EncryptionError naming the
    object and its key id (also when the store has no keys and the object is encrypted)."""
    if isinstance(store, EncryptedStore):
        return store.open(key, stored)
    if is_encrypted(stored):
        raise EncryptionError(
            f"object '{key}' is encrypted with key '{header_key_id(stored)}', and the settings "
            f"of {store.url} have no encryption keys"
        )
    return stored
