"""The lab kind's files: atomic writes, and tar streams made and read with tarfile."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from dr.hosts import localfiles


def test_a_tar_stream_names_members_without_the_leading_slash_and_untars_the_same(
    tmp_path: Path,
) -> None:
    data = tmp_path / "node" / "data"
    (data / "orders-0").mkdir(parents=True)
    (data / "orders-0" / "00000.log").write_bytes(os.urandom(3 * localfiles.CHUNK + 5))
    (data / "meta.properties").write_text("node.id=1\n")

    chunks = list(localfiles.tar_stream([str(data)]))
    localfiles.untar(str(tmp_path / "copy"), iter(chunks))

    assert len(chunks) > 1  # streamed, not one buffer
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
        names = tar.getnames()
    assert str(data / "meta.properties").lstrip("/") in names
    copy = tmp_path / "copy" / str(data).lstrip("/")
    for name in ("meta.properties", "orders-0/00000.log"):
        assert (copy / name).read_bytes() == (data / name).read_bytes()


def test_a_missing_path_fails_the_tar_before_any_byte(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        next(localfiles.tar_stream([str(tmp_path / "gone")]))


def test_a_member_reaching_outside_the_destination_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("../escaped")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))

    with pytest.raises(tarfile.TarError):
        localfiles.untar(str(tmp_path / "dest"), [buffer.getvalue()])
    assert not (tmp_path / "escaped").exists()


def test_a_write_replaces_the_file_whole_and_leaves_nothing_aside(tmp_path: Path) -> None:
    target = tmp_path / "server.properties"
    target.write_text("old")

    localfiles.write_file(str(target), b"new")

    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["server.properties"]
