"""A store in a local directory: one file per object, every write atomic and durable.

Writes go to a temporary file in the object's own directory, are flushed and fsynced, then
renamed over the object and the directory is fsynced: after a crash the object is either the
old one or the new one, never a mix. Objects are created readable by their owner only.
A conditional write (put_if_absent) hard-links its temporary file to the object's name, which
the filesystem refuses atomically when the name exists; that holds between hosts sharing the
directory too (NFS makes the link on the server; a retried link that reports "exists" for the
one it made is recognised by comparing the two files).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat as stat_mode
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from dr.log import get_logger
from dr.storage.base import (
    ObjectInfo,
    ObjectNotFound,
    StorageError,
    check_key,
    check_prefix,
    key_problem,
)

log = get_logger(__name__)

# Temporary files start with this; list() skips them and no key may name one.
TEMP_PREFIX = ".kafka-dr-tmp."
# A concurrent delete may remove a directory just made for a write; try again this often.
_MKDIR_ATTEMPTS = 3


class LocalStore:
    """Objects as files under root; keys are paths relative to it."""

    def __init__(self, root: Path) -> None:
        self.root = root.absolute().resolve()
        self.url = self.root.as_uri()

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store data under key atomically; raises StorageError."""
        path = self._path(key)
        with self._failing("write", key):
            atomic_write(path, lambda out: out.write(data), stop_at=self.root)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Create the object only if key names none: True when this call created it, False
        when an object was already there (left unchanged); raises StorageError."""
        path = self._path(key)
        with self._failing("write", key):
            created = link_new(path, data, stop_at=self.root)
        if not created and path.is_dir():
            raise StorageError(f"cannot write '{key}' in {self.url}: a directory has that name")
        return created

    def put_file(self, key: str, path: Path) -> None:
        """Copy the file at path under key atomically; raises StorageError."""
        target = self._path(key)
        try:
            source = path.open("rb")
        except OSError as exc:
            raise StorageError(
                f"cannot read {path} to store it as '{key}' in {self.url}: {_reason(exc)}"
            ) from exc
        with source, self._failing("write", key):
            atomic_write(target, lambda out: shutil.copyfileobj(source, out), stop_at=self.root)

    def get_bytes(self, key: str) -> bytes:
        """The object's content; raises ObjectNotFound or StorageError."""
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFound(key, self.url) from None
        except OSError as exc:
            raise StorageError(f"cannot read '{key}' in {self.url}: {_reason(exc)}") from exc

    def get_file(self, key: str, path: Path) -> None:
        """Copy the object to path, replacing it whole; raises ObjectNotFound or StorageError."""
        source_path = self._path(key)
        try:
            source = source_path.open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFound(key, self.url) from None
        except OSError as exc:
            raise StorageError(f"cannot read '{key}' in {self.url}: {_reason(exc)}") from exc
        with source:
            try:
                atomic_write(path, lambda out: shutil.copyfileobj(source, out))
            except OSError as exc:
                raise StorageError(
                    f"cannot copy '{key}' from {self.url} to {path}: {_reason(exc)}"
                ) from exc

    def exists(self, key: str) -> bool:
        """True when an object is stored under key."""
        return self.stat(key) is not None

    def stat(self, key: str) -> ObjectInfo | None:
        """The object's size and modification time, or None when there is none."""
        path = self._path(key)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise StorageError(f"cannot stat '{key}' in {self.url}: {_reason(exc)}") from exc
        if not stat_mode.S_ISREG(st.st_mode):
            return None
        return ObjectInfo(key=key, size=st.st_size, modified=_mtime(st))

    def delete(self, key: str) -> None:
        """Remove the object and the directories it leaves empty; a missing one is fine."""
        path = self._path(key)
        self._delete_path(key, path)

    def delete_many(self, keys: Iterable[str]) -> None:
        """Remove every object named, after checking every key; missing ones are fine."""
        paths = [(key, self._path(key)) for key in keys]
        for key, path in paths:
            self._delete_path(key, path)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object whose key starts with prefix, sorted by key; raises StorageError."""
        check_prefix(prefix)
        directory, _, name_start = prefix.rpartition("/")
        start = self.root.joinpath(*directory.split("/")) if directory else self.root
        if not self._inside(start):
            raise StorageError(f"key prefix '{prefix}' leads outside {self.url}")
        base = f"{directory}/" if directory else ""
        return self._listing(prefix, start, base, name_start)

    def clean_temporaries(self, older_than_s: float, under: str = "") -> int:
        """Delete temporary files that interrupted writes left under the key prefix ``under``,
        last modified more than older_than_s seconds ago; the number deleted. Raises
        StorageError."""
        cutoff = time.time() - older_than_s
        stale: list[Path] = []
        top = self._path(check_prefix(under).rstrip("/")) if under else self.root
        with self._failing("clean temporary files under", under or "/"):
            for directory, _subdirs, names in os.walk(top):
                for name in names:
                    path = Path(directory) / name
                    if name.startswith(TEMP_PREFIX) and _modified_before(path, cutoff):
                        stale.append(path)
            removed = 0
            for path in stale:
                with contextlib.suppress(FileNotFoundError):  # its write ended meanwhile
                    path.unlink()
                    removed += 1
                    self._prune_empty_parents(path)
        if removed:
            log.info("temporaries_cleaned", store=self.url, removed=removed)
        return removed

    def _listing(
        self, prefix: str, start: Path, base: str, name_start: str
    ) -> Iterator[ObjectInfo]:
        with self._failing("list", prefix):
            yield from self._walk(start, base, name_start)

    def _walk(self, directory: Path, base: str, name_start: str = "") -> Iterator[ObjectInfo]:
        try:
            entries = list(os.scandir(directory))
        except (FileNotFoundError, NotADirectoryError):
            return
        # Sorting directories as 'name/' yields keys in the same order as sorting the keys.
        tagged: list[tuple[str, bool, os.DirEntry[str]]] = []
        for entry in entries:
            if not entry.name.startswith(name_start) or entry.name.startswith(TEMP_PREFIX):
                continue
            is_dir = entry.is_dir(follow_symlinks=False)
            tagged.append((entry.name + "/" if is_dir else entry.name, is_dir, entry))
        tagged.sort(key=lambda item: item[0])
        for name, is_dir, entry in tagged:
            if is_dir:
                yield from self._walk(Path(entry.path), base + name)
                continue
            key = base + name
            try:
                st = entry.stat()
            except FileNotFoundError:  # deleted while we were listing
                continue
            if (
                stat_mode.S_ISREG(st.st_mode)
                and key_problem(key) is None  # other file names are not objects
                and (not entry.is_symlink() or self._inside(Path(entry.path)))
            ):
                yield ObjectInfo(key=key, size=st.st_size, modified=_mtime(st))

    def _path(self, key: str) -> Path:
        check_key(key)
        if any(segment.startswith(TEMP_PREFIX) for segment in key.split("/")):
            raise StorageError(f"invalid object key '{key}': '{TEMP_PREFIX}' names are reserved")
        path = self.root.joinpath(*key.split("/"))
        if not self._inside(path):
            raise StorageError(f"object key '{key}' leads outside {self.url} (symbolic link)")
        return path

    def _inside(self, path: Path) -> bool:
        return path.resolve().is_relative_to(self.root)

    def _delete_path(self, key: str, path: Path) -> None:
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return
        except OSError as exc:
            raise StorageError(f"cannot delete '{key}' in {self.url}: {_reason(exc)}") from exc
        self._prune_empty_parents(path)

    def _prune_empty_parents(self, path: Path) -> None:
        """Make path's removal durable, then remove the directories it left empty."""
        _fsync_dir(path.parent)
        parent = path.parent
        while parent != self.root and parent.is_relative_to(self.root):
            try:
                parent.rmdir()
            except OSError:  # not empty (or gone): stop pruning
                break
            parent = parent.parent

    @contextlib.contextmanager
    def _failing(self, op: str, key: str) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            raise StorageError(f"cannot {op} '{key}' in {self.url}: {_reason(exc)}") from exc


def atomic_write(
    path: Path, write: Callable[[BinaryIO], object], *, stop_at: Path | None = None
) -> None:
    """Create or replace path with what write() puts in a file, atomically and durably.

    Missing directories are created (and made durable down from stop_at when given).
    Raises OSError; no temporary file is left behind.
    """
    parent = path.parent
    fd, tmp = _new_temporary(parent, stop_at=stop_at)
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(parent)


def link_new(path: Path, data: bytes, *, stop_at: Path | None = None) -> bool:
    """Create path holding data only if no file has that name: True when created, False when
    the name was taken (that file is left unchanged). Durable and atomic: the data is fsynced
    in a temporary file, which is then hard-linked to path (the kernel refuses an existing
    name) and removed. Raises OSError (also where the filesystem has no hard links)."""
    parent = path.parent
    fd, tmp = _new_temporary(parent, stop_at=stop_at)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return _same_file(tmp, path)  # ours, when a retried NFS LINK said EEXIST
        return True
    finally:
        tmp.unlink(missing_ok=True)
        _fsync_dir(parent)


def _new_temporary(parent: Path, *, stop_at: Path | None) -> tuple[int, Path]:
    """An open descriptor and the path of a new temporary file in parent (made if missing)."""
    for attempt in range(1, _MKDIR_ATTEMPTS + 1):
        _make_dirs(parent, stop_at=stop_at)
        try:
            fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=parent)
            return fd, Path(tmp_name)
        except FileNotFoundError:  # a concurrent delete pruned the directory just made
            if attempt == _MKDIR_ATTEMPTS:
                raise
    raise AssertionError("unreachable: the last attempt returns or raises")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except FileNotFoundError:  # b was deleted since: it existed, and was not ours
        return False


def _modified_before(path: Path, cutoff: float) -> bool:
    try:
        st = path.lstat()
    except FileNotFoundError:
        return False
    return stat_mode.S_ISREG(st.st_mode) and st.st_mtime < cutoff


def _make_dirs(directory: Path, *, stop_at: Path | None) -> None:
    missing: list[Path] = []
    current = directory
    while not current.is_dir():
        missing.append(current)
        if current.parent == current or current == stop_at:
            break
        current = current.parent
    for new in reversed(missing):
        with contextlib.suppress(FileExistsError):
            new.mkdir()
        _fsync_dir(new.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _mtime(st: os.stat_result) -> datetime:
    return datetime.fromtimestamp(st.st_mtime, tz=UTC)


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)
