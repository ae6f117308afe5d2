"""Files that hand secrets (a SASL password in client properties) to the Java tools.

A temporary file in /tmp is removed by a ``finally`` — which never runs when kafka-dr is
killed (SIGKILL, or SIGTERM, whose default action skips it): the password would stay on disk.
On Linux the file is instead an anonymous memory file (memfd) that the tool opens as
``/dev/fd/N``: it never has a name on disk, and it vanishes with the last process holding it,
however that process ends. Elsewhere, a 0600 temporary file removed after use.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

_FD_PATH = re.compile(r"^/dev/fd/(\d+)$")


@contextmanager
def private_file(text: str, *, name: str) -> Iterator[Path]:
    """A file holding text, readable by this process and the tools run_tool starts with its
    path as an argument; gone when the block ends or the process dies. ``name`` only labels
    it (in /proc/PID/fd, or as the temporary file's prefix)."""
    if not hasattr(os, "memfd_create"):
        with _temporary_file(text, name=name) as path:
            yield path
        return
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    try:
        os.fchmod(fd, 0o600)  # a memfd is created 0777: only its owner opens it through /proc
        _write_all(fd, text.encode("utf-8"))
        yield Path(f"/dev/fd/{fd}")
    finally:
        os.close(fd)


def inherited_fds(args: Sequence[str]) -> tuple[int, ...]:
    """The descriptors that arguments of the form /dev/fd/N name: a child must inherit them
    to open those paths."""
    return tuple(int(m.group(1)) for a in args if (m := _FD_PATH.match(a)))


@contextmanager
def _temporary_file(text: str, *, name: str) -> Iterator[Path]:
    fd, path = tempfile.mkstemp(prefix=f"{name}-")
    try:
        os.fchmod(fd, 0o600)  # mkstemp's mode already, whatever the umask: said, not assumed
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
        yield Path(path)
    finally:
        Path(path).unlink(missing_ok=True)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
