"""A node's archive on its way into and out of the store: compressed (zstd) and checksummed
(SHA-256 of the stored bytes) on the way in, checked before anything is laid back on the way
out, and relocated so that a node's host can lay each path back where it was.

An object goes through a local temporary file (``tmp_dir``, default the system's): the store
takes a file in parts (multipart on S3), and a restore lays back only what matched its
checksum. The space needed is that of one compressed node.
"""

from __future__ import annotations

import copy
import hashlib
import os
import posixpath
import tarfile
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import zstandard

from dr.snapshots.manifest import NodeArchive, SnapshotError
from dr.storage import ObjectNotFound, ObjectStore

CHUNK = 1024 * 1024
ZSTD_LEVEL = 3


@dataclass(frozen=True)
class Written:
    """An object stored: its size and SHA-256, and the size of the tar it compresses."""

    key: str
    size: int
    sha256: str
    tar_bytes: int


class _HashingFile:
    """A write-only file that hashes and counts what goes through it to the real file."""

    def __init__(self, out: BinaryIO) -> None:
        self.out, self.hash, self.size = out, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        return self.out.write(data)

    def flush(self) -> None:
        self.out.flush()


def store_archive(
    store: ObjectStore, key: str, chunks: Iterable[bytes], *, tmp_dir: Path | None = None
) -> Written:
    """Compress the tar chunks into a temporary file, hashing the compressed bytes, then store
    it under key; returns what was written. Raises what the chunks' source or the store raise."""
    with tempfile.TemporaryDirectory(prefix="kafka-dr-snapshot-", dir=tmp_dir) as tmp:
        path = Path(tmp) / "node.tar.zst"
        tar_bytes = 0
        with path.open("wb") as raw:
            hashing = _HashingFile(raw)
            compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
            with compressor.stream_writer(hashing, closefd=False) as writer:  # type: ignore[arg-type]
                for chunk in chunks:
                    tar_bytes += len(chunk)
                    writer.write(chunk)
            raw.flush()
            os.fsync(raw.fileno())
        store.put_file(key, path)
        return Written(key, hashing.size, hashing.hash.hexdigest(), tar_bytes)


def file_digest(path: Path) -> tuple[int, str]:
    """(size, SHA-256) of a file, read in chunks."""
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def check_object(store: ObjectStore, archive: NodeArchive, path: Path) -> str | None:
    """Fetch the node's object into path and say what is wrong with it (None: its size and
    SHA-256 are the manifest's)."""
    try:
        store.get_file(archive.key, path)
    except ObjectNotFound:
        return f"{archive.key}: missing from the store"
    size, sha = file_digest(path)
    if size != archive.size:
        return f"{archive.key}: {size} bytes, the manifest says {archive.size}"
    if sha != archive.sha256:
        return f"{archive.key}: SHA-256 {sha[:16]}..., the manifest says {archive.sha256[:16]}..."
    return None


@contextmanager
def verified_copy(
    store: ObjectStore, archive: NodeArchive, *, tmp_dir: Path | None = None
) -> Iterator[Path]:
    """A local copy of the node's object whose size and checksum are the manifest's, removed
    afterwards; raises SnapshotError naming the object otherwise."""
    with tempfile.TemporaryDirectory(prefix="kafka-dr-snapshot-", dir=tmp_dir) as tmp:
        path = Path(tmp) / "node.tar.zst"
        problem = check_object(store, archive, path)
        if problem:
            raise SnapshotError(f"not laying back node {archive.node_id}: {problem}")
        yield path


def relocated(path: Path, root: str) -> Iterator[bytes]:
    """The members of the compressed tar at path that lie under root (an absolute path: a log
    dir or the config file), as a tar stream named relative to root's parent: untarred into
    ``posixpath.dirname(root)`` they land where they were. Raises SnapshotError when the
    archive holds nothing under root or cannot be read."""
    prefix = root.strip("/")
    parent = posixpath.dirname(prefix)
    read_fd, write_fd = os.pipe()
    failure: list[BaseException] = []
    found = [0]

    def produce() -> None:
        try:
            with (
                path.open("rb") as raw,
                zstandard.ZstdDecompressor().stream_reader(raw) as plain,
                tarfile.open(fileobj=plain, mode="r|") as source,
                os.fdopen(write_fd, "wb") as out,
                tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as target,
            ):
                for member in source:
                    if member.name != prefix and not member.name.startswith(prefix + "/"):
                        continue
                    found[0] += 1
                    moved = _renamed(member, parent)
                    target.addfile(moved, source.extractfile(member) if member.isreg() else None)
        except BrokenPipeError:
            pass
        except BaseException as exc:  # handed to the reader, raised there
            failure.append(exc)

    thread = threading.Thread(target=produce, name="snapshot-relocate", daemon=True)
    thread.start()
    with os.fdopen(read_fd, "rb") as pipe:
        while chunk := pipe.read(CHUNK):
            yield chunk
    thread.join()
    if failure:
        raise SnapshotError(f"cannot read the archive for {root}: {failure[0]}")
    if not found[0]:
        raise SnapshotError(f"the archive holds nothing under {root}")


def _renamed(member: tarfile.TarInfo, parent: str) -> tarfile.TarInfo:
    moved = copy.copy(member)
    # A long name travels in the pax header, which would win over the new name: drop it.
    moved.pax_headers = {k: v for k, v in member.pax_headers.items() if k not in ("path",)}
    moved.name = _relative(member.name, parent)
    if member.islnk():
        moved.pax_headers.pop("linkpath", None)
        moved.linkname = _relative(member.linkname, parent)
    return moved


def _relative(name: str, parent: str) -> str:
    return posixpath.relpath(name, parent) if parent else name
