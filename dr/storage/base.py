"""The object store every backup goes through: the protocol, its errors and the key rules.

A key is a relative, '/'-separated path such as ``orders/data/0/000.seg``. The rules in
``check_key`` make sure that no key can name anything outside the store's root or prefix,
whichever store holds it (a local directory or an S3 bucket prefix).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from dr.errors import DrError


class StorageError(DrError):
    """An object store refused or failed an operation."""


class ObjectNotFound(StorageError):
    """The object asked for does not exist in the store."""

    def __init__(self, key: str, url: str) -> None:
        super().__init__(f"object '{key}' not found in {url}")
        self.key = key
        self.url = url


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object: its key relative to the store root, its size and when it was written."""

    key: str
    size: int
    modified: datetime


class ObjectStore(Protocol):
    """Where backups live. Every method validates its key with ``check_key``."""

    url: str
    """The store's location for messages (s3://bucket/prefix, file:///path); never a secret."""

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store data under key, replacing any object there; readers never see half of it."""
        ...

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Create the object under key only if there is none: True when this call created it,
        False when an object already existed (it is left unchanged). Atomic between writers on
        any host: of two racing calls for one key, exactly one returns True. Raises
        StorageError, also when the store cannot do a conditional write."""
        ...

    def put_file(self, key: str, path: Path) -> None:
        """Store the file at path under key (large files go up in parts)."""
        ...

    def get_bytes(self, key: str) -> bytes:
        """The object's content; raises ObjectNotFound."""
        ...

    def get_file(self, key: str, path: Path) -> None:
        """Write the object to path (created or replaced whole); raises ObjectNotFound."""
        ...

    def exists(self, key: str) -> bool:
        """True when an object is stored under key."""
        ...

    def stat(self, key: str) -> ObjectInfo | None:
        """The object's size and modification time, or None when there is no such object."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; removing a missing object is not an error."""
        ...

    def delete_many(self, keys: Iterable[str]) -> None:
        """Remove every object named; missing ones are skipped. All keys are checked first."""
        ...

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object whose key starts with prefix ('' for all), at any depth, sorted by key.

        Prefixes match like S3's: 'orders/' lists the objects under orders/, while 'orders'
        also lists 'orders-archive/...'.
        """
        ...

    def clean_temporaries(self, older_than_s: float, under: str = "") -> int:
        """Remove what interrupted writes left behind longer than older_than_s seconds ago
        (temporary files of a local store, incomplete multipart uploads of an S3 prefix), only
        under the key prefix ``under`` ('' for the whole store; 'JOB/' for one job, whose lock
        the caller holds); the number removed. Objects are never touched; keep older_than_s
        well above the longest write, which a younger leftover may still belong to. Raises
        StorageError."""
        ...


def check_key(key: str) -> str:
    """The key itself when it is a valid object key; raises StorageError naming it otherwise.

    Valid keys are relative '/'-separated paths of non-empty segments, none of them '.' or '..',
    without backslashes or control characters.
    """
    problem = key_problem(key)
    if problem:
        raise StorageError(f"invalid object key {key!r}: {problem}")
    return key


def check_prefix(prefix: str) -> str:
    """The prefix itself when list() may take it: '' or a valid key, optionally ending in '/'."""
    if prefix == "":
        return prefix
    problem = key_problem(prefix.removesuffix("/"))
    if problem:
        raise StorageError(f"invalid key prefix {prefix!r}: {problem}")
    return prefix


def key_problem(key: str) -> str | None:
    """Why key is not a valid object key, or None when it is one."""
    if not key:
        return "it is empty"
    if key.startswith("/"):
        return "it is an absolute path"
    if "\\" in key:
        return "it contains a backslash"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in key):
        return "it contains a control character"
    for segment in key.split("/"):
        if segment == "":
            return "it has an empty segment"
        if segment in (".", ".."):
            return f"it has a '{segment}' segment"
    return None
