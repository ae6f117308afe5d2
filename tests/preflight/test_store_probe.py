"""The store checks against a real local-directory store: the probe round trip, the lock, and
a directory kafka-dr cannot write to."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pydantic import SecretStr

from dr.config.schema import StorageSettings
from dr.preflight.stores import PROBE_PREFIX, describe_store, probe_store, store_task
from dr.storage import LocalStore


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_a_writable_directory_passes_both_checks_and_keeps_no_probe(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "job").mkdir()
    (tmp_path / "store" / "job" / "backup.json").write_text("{}")

    rw, lock = probe_store("lab", store, subject="store lab")

    assert (rw.name, rw.status) == ("store lab read/write", "ok")
    assert (lock.name, lock.status) == ("store lab lock", "ok")
    assert files_under(tmp_path / "store") == [tmp_path / "store" / "job" / "backup.json"]
    assert not (tmp_path / "store" / PROBE_PREFIX.rstrip("/")).exists()


def test_the_store_task_checks_the_directory_the_settings_name(tmp_path: Path) -> None:
    settings = StorageSettings(url=(tmp_path / "store").as_uri())

    outcome = store_task("lab", settings).run()

    assert [(c.name, c.status) for c in outcome.checks] == [
        ("store lab read/write", "ok"),
        ("store lab lock", "ok"),
    ]
    assert outcome.checks[0].subject == f"store lab ({(tmp_path / 'store').as_uri()})"


@contextmanager
def read_only(directory: Path) -> Iterator[None]:
    """The directory made unwritable, even for root (which ignores permission bits)."""
    if os.geteuid() != 0:
        directory.chmod(0o555)
        try:
            yield
        finally:
            directory.chmod(0o755)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(directory)], check=False).returncode:
        pytest.skip("running as root on a filesystem without chattr +i: cannot make it read-only")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(directory)], check=True)


def test_a_read_only_directory_fails_the_write_with_a_hint_and_skips_the_lock(
    tmp_path: Path,
) -> None:
    root = tmp_path / "store"
    root.mkdir()
    store = LocalStore(root)

    with read_only(root):
        checks = probe_store("lab", store, subject="store lab")

    assert len(checks) == 1
    (check,) = checks
    assert (check.name, check.status, check.critical) == ("store lab read/write", "fail", True)
    assert check.detail.startswith("write failed: ")
    assert root.as_uri() in check.detail
    assert "the lock was not checked" in check.detail
    assert check.hint is not None and "right to write" in check.hint
    assert f"uid {os.geteuid()}" in check.hint


def test_an_s3_store_is_described_with_its_endpoint_and_without_credentials() -> None:
    settings = StorageSettings(
        url="s3://backups/prod", endpoint_url="http://user:pw@minio.local:9000"
    )

    assert describe_store(settings) == "s3://backups/prod at http://minio.local:9000"


def test_an_s3_endpoint_that_refuses_connections_fails_within_seconds_naming_it(
    unused_port: int,
) -> None:
    settings = StorageSettings(
        url="s3://backups/prod",
        endpoint_url=f"http://127.0.0.1:{unused_port}",
        region="us-east-1",
        access_key_id=SecretStr("AKIAEXAMPLE000000000"),
        secret_access_key=SecretStr("not-a-real-secret-key"),
    )
    task = store_task("s3", settings)

    outcome = task.run()

    (check,) = outcome.checks
    assert check.status == "fail"
    assert check.name == "store s3 read/write"
    assert check.detail.startswith("list failed: ")
    assert f"http://127.0.0.1:{unused_port}" in check.detail  # the endpoint is named
    assert check.seconds < task.deadline_s
