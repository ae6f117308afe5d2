"""File access on this very host (the lab kind): atomic writes and tar streams with tarfile."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tarfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

CHUNK = 1024 * 1024


def read_file(path: str) -> bytes:
    return Path(path).read_bytes()


def write_file(path: str, data: bytes) -> None:
    """Write aside, flush to disk, rename over path: a reader never sees half a file."""
    target = Path(path)
    tmp = target.with_name(f"{target.name}.kafka-dr.tmp")
    with tmp.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, target)


def remove_tree(path: str) -> None:
    target = Path(path)
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.exists():
        shutil.rmtree(target)


def tar_stream(paths: list[str]) -> Iterator[bytes]:
    """A tar of the absolute paths (members named without the leading '/'), in chunks.

    tarfile writes into a pipe from a thread, so a log dir of any size streams through a
    fixed buffer. Raises OSError (at the end) when a path could not be read.
    """
    for path in paths:
        if not os.path.lexists(path):
            raise FileNotFoundError(f"{path} does not exist")
    read_fd, write_fd = os.pipe()
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            with (
                os.fdopen(write_fd, "wb") as out,
                tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar,
            ):
                for path in paths:
                    tar.add(path, arcname=path.lstrip("/"))
        except BrokenPipeError:
            pass  # the reader stopped early: nothing more is wanted
        except BaseException as exc:  # handed to the reader, raised there
            failure.append(exc)

    thread = threading.Thread(target=produce, name="tar-stream", daemon=True)
    thread.start()
    with os.fdopen(read_fd, "rb") as pipe:
        while chunk := pipe.read(CHUNK):
            yield chunk
    thread.join()
    if failure:
        raise failure[0]


class _ChunkReader(io.RawIOBase):
    """A read-only stream over an iterable of byte chunks."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def untar(dest: str, chunks: Iterable[bytes]) -> None:
    """Extract a tar stream into dest (created if missing); members that would land outside
    dest (absolute names, '..', links out) are refused by tarfile's data filter."""
    Path(dest).mkdir(parents=True, exist_ok=True)
    reader = io.BufferedReader(_ChunkReader(chunks), buffer_size=CHUNK)
    with contextlib.closing(reader), tarfile.open(fileobj=reader, mode="r|") as tar:
        tar.extractall(dest, filter="data")
