"""S3Store through a proxy that throttles, fails and drops connections: retried, logged, bounded."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

import dr.storage.s3
from dr.storage import ObjectNotFound, S3Store, StorageError
from integration.s3server import SECRET_ACCESS_KEY, S3Server
from integration.storage.faults import FaultProxy


@pytest.fixture
def store(s3_server: S3Server, s3_prefix: str, fault_proxy: FaultProxy) -> S3Store:
    """A store that reaches the server through the fault proxy."""
    return S3Store(s3_server.settings(s3_prefix, endpoint_url=fault_proxy.url), retry_deadline_s=20)


def retries(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in logs if entry["event"] == "s3_retry"]


def test_a_put_succeeds_after_two_slow_down_answers_each_retry_logged_once(
    store: S3Store, fault_proxy: FaultProxy
) -> None:
    fault_proxy.fail_next(2, "503")

    with capture_logs() as logs:
        store.put_bytes("orders/manifest.json", b"{}")

    assert store.get_bytes("orders/manifest.json") == b"{}"
    assert fault_proxy.faults_served == 2
    logged = retries(logs)
    # Two retries, both ours: botocore's own retries would have hidden the first 503.
    assert [e["attempt"] for e in logged] == [1, 2]
    assert all(e["op"] == "put" and e["key"] == "orders/manifest.json" for e in logged)
    assert all(e["log_level"] == "warning" and "SlowDown" in e["error"] for e in logged)
    assert SECRET_ACCESS_KEY not in repr(logs)


def test_a_read_succeeds_after_a_dropped_connection(
    store: S3Store, fault_proxy: FaultProxy
) -> None:
    store.put_bytes("orders/data/0/000.seg", b"payload")
    fault_proxy.clear()
    fault_proxy.fail_next(1, "drop")

    with capture_logs() as logs:
        assert store.get_bytes("orders/data/0/000.seg") == b"payload"

    assert fault_proxy.faults_served == 1
    assert [e["op"] for e in retries(logs)] == ["get"]
    assert "ConnectionClosedError" in retries(logs)[0]["error"]


def test_a_download_succeeds_after_a_dropped_connection(
    store: S3Store, fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    store.put_bytes("seg", b"payload" * 1000)
    fault_proxy.fail_next(1, "drop", after=1)  # the GET after the HEAD

    store.get_file("seg", tmp_path / "seg")

    assert (tmp_path / "seg").read_bytes() == b"payload" * 1000
    assert fault_proxy.faults_served == 1


@pytest.mark.parametrize("after", [0, 2], ids=["create-upload", "upload-part"])
def test_a_multipart_upload_succeeds_after_a_failed_request(
    s3_server: S3Server, s3_prefix: str, fault_proxy: FaultProxy, tmp_path: Path, after: int
) -> None:
    settings = s3_server.settings(s3_prefix, endpoint_url=fault_proxy.url, multipart_threshold_mb=5)
    store = S3Store(settings, retry_deadline_s=20)
    source = tmp_path / "big.seg"
    source.write_bytes(bytes(range(256)) * (12 * 1024 * 1024 // 256))
    fault_proxy.fail_next(1, "500", after=after)

    with capture_logs() as logs:
        store.put_file("big.seg", source)

    assert fault_proxy.faults_served == 1
    assert [e["op"] for e in retries(logs)] == ["put"]
    assert store.get_bytes("big.seg") == source.read_bytes()


def test_a_listing_resumes_after_a_throttled_page(
    store: S3Store, fault_proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dr.storage.s3, "LIST_PAGE_SIZE", 5)
    wanted = [f"m/{i:02d}" for i in range(12)]
    for key in wanted:
        store.put_bytes(key, b"x")
    fault_proxy.fail_next(2, "503", after=1)  # the second page

    assert [i.key for i in store.list("m/")] == wanted
    assert fault_proxy.faults_served == 2


def test_persistent_server_errors_end_in_one_clear_error_at_the_deadline(
    s3_server: S3Server, s3_prefix: str, fault_proxy: FaultProxy
) -> None:
    settings = s3_server.settings(s3_prefix, endpoint_url=fault_proxy.url)
    store = S3Store(settings, retry_deadline_s=2)
    fault_proxy.fail_next(10_000, "500")
    started = time.monotonic()

    with capture_logs() as logs, pytest.raises(StorageError) as caught:
        store.put_bytes("orders/data/0/000.seg", b"x")

    elapsed = time.monotonic() - started
    message = str(caught.value)
    assert not isinstance(caught.value, ObjectNotFound)
    assert message.startswith(f"S3 put of 'orders/data/0/000.seg' in {store.url} failed after ")
    assert "InternalError (HTTP 500)" in message
    assert "\n" not in message and "Traceback" not in message
    assert fault_proxy.faults_served >= 3
    assert len(retries(logs)) == fault_proxy.faults_served - 1
    assert elapsed < 8, f"gave up after {elapsed:.1f}s with a 2s deadline"


def test_a_missing_object_is_reported_at_once_without_retries(
    store: S3Store, fault_proxy: FaultProxy
) -> None:
    with capture_logs() as logs, pytest.raises(ObjectNotFound):
        store.get_bytes("nothing/here")

    assert fault_proxy.requests == 1
    assert retries(logs) == []
