"""The Kafka Connect REST client, against a small HTTP server that imitates a Connect worker."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from structlog.testing import capture_logs

from dr.mirror.connect import ConnectClient, ConnectError, ConnectorStatus, TaskStatus

NAME = "primary->dr.MirrorSourceConnector"
CONFIG = {
    "connector.class": "org.apache.kafka.connect.mirror.MirrorSourceConnector",
    "source.cluster.alias": "primary",
    "source.cluster.sasl.jaas.config": 'ScramLoginModule required password="m1rr0r-pw";',
}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    authorization: str | None


@dataclass
class FakeConnect:
    """An in-memory Connect worker: connector configs and statuses, plus scripted failures."""

    configs: dict[str, dict[str, str]] = field(default_factory=dict)
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: dict[tuple[str, str], list[tuple[int, str]]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)

    def fail(self, method: str, path: str, status: int, message: str, *, times: int) -> None:
        """Answer the next `times` requests of method on path with this error."""
        self.failures[(method, path)] = [(status, message)] * times

    def handle(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        scripted = self.failures.get((method, path))
        if scripted:
            status, message = scripted.pop(0)
            return status, {"error_code": status, "message": message}
        parts = path.strip("/").split("/")
        if parts == ["connectors"] and method == "GET":
            return 200, list(self.configs)
        name, action = parts[1], "/".join(parts[2:])
        if name not in self.configs and (method, action) != ("PUT", "config"):
            return 404, {"error_code": 404, "message": f"Connector {name} not found"}
        if (method, action) == ("GET", "config"):
            return 200, self.configs[name]
        if (method, action) == ("PUT", "config"):
            created = name not in self.configs
            self.configs[name] = {**body, "name": name}
            return (201 if created else 200), {"name": name, "config": self.configs[name]}
        if (method, action) == ("GET", "status"):
            return 200, self.statuses[name]
        if method == "PUT" and action in ("pause", "resume"):
            return 202, None
        if (method, action) == ("POST", "restart"):
            return 202, self.statuses.get(name)
        if (method, action) == ("DELETE", ""):
            del self.configs[name]
            return 204, None
        return 405, {"error_code": 405, "message": "HTTP 405 Method Not Allowed"}


class Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    def do_GET(self) -> None:
        self._answer()

    def do_PUT(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def do_DELETE(self) -> None:
        self._answer()

    def _answer(self) -> None:
        fake: FakeConnect = self.server.fake  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        path = unquote(url.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        fake.requests.append(
            Request(self.command, path, dict(parse_qsl(url.query)), self.headers["Authorization"])
        )
        status, doc = fake.handle(self.command, path, body)
        raw = b"" if doc is None else json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def worker() -> Iterator[tuple[FakeConnect, str]]:
    fake = FakeConnect()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.fake = fake  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def client(url: str, **kwargs: Any) -> ConnectClient:
    return ConnectClient(url, **{"timeout_s": 2.0, "retry_deadline_s": 5.0, **kwargs})


def test_a_config_put_is_read_back_with_the_name_connect_adds(
    worker: tuple[FakeConnect, str],
) -> None:
    fake, url = worker
    connect = client(url)

    connect.put_config(NAME, CONFIG)

    assert connect.config(NAME) == {**CONFIG, "name": NAME}
    assert connect.connectors() == [NAME]
    assert fake.requests[0].path == f"/connectors/{NAME}/config"


def test_a_connector_that_does_not_exist_has_no_config(worker: tuple[FakeConnect, str]) -> None:
    _, url = worker

    assert client(url).config(NAME) is None


def test_a_status_with_a_failed_task_carries_the_tasks_trace(
    worker: tuple[FakeConnect, str],
) -> None:
    fake, url = worker
    fake.configs[NAME] = dict(CONFIG)
    fake.statuses[NAME] = {
        "name": NAME,
        "connector": {"state": "RUNNING", "worker_id": "10.0.0.1:8083"},
        "tasks": [
            {"id": 0, "state": "RUNNING", "worker_id": "10.0.0.1:8083"},
            {
                "id": 1,
                "state": "FAILED",
                "worker_id": "10.0.0.2:8083",
                "trace": "org.apache.kafka.common.errors.TimeoutException: boom\n\tat ...",
            },
        ],
        "type": "source",
    }

    status = client(url).status(NAME)

    assert status == ConnectorStatus(
        name=NAME,
        state="RUNNING",
        worker_id="10.0.0.1:8083",
        tasks=(
            TaskStatus(id=0, state="RUNNING", worker_id="10.0.0.1:8083", trace=None),
            TaskStatus(
                id=1,
                state="FAILED",
                worker_id="10.0.0.2:8083",
                trace="org.apache.kafka.common.errors.TimeoutException: boom\n\tat ...",
            ),
        ),
        type="source",
    )
    assert [t.id for t in status.failed_tasks] == [1]


def test_the_status_of_a_missing_connector_names_it_in_the_error(
    worker: tuple[FakeConnect, str],
) -> None:
    _, url = worker

    with pytest.raises(ConnectError) as raised:
        client(url).status(NAME)

    message = str(raised.value)
    assert f"GET /connectors/{NAME}/status" in message
    assert f"Connector {NAME} not found" in message


def test_a_rebalance_in_progress_is_retried_and_logged_without_the_config(
    worker: tuple[FakeConnect, str],
) -> None:
    fake, url = worker
    path = f"/connectors/{NAME}/config"
    fake.fail("PUT", path, 409, "Cannot complete request momentarily due to rebalance", times=1)

    with capture_logs() as logs:
        client(url).put_config(NAME, CONFIG)

    assert fake.configs[NAME]["source.cluster.alias"] == "primary"
    assert [r.method for r in fake.requests] == ["PUT", "PUT"]
    retries = [e for e in logs if e["event"] == "connect_retry"]
    assert len(retries) == 1
    assert retries[0]["path"] == path
    assert "rebalance" in retries[0]["error"]
    assert "m1rr0r-pw" not in repr(logs)


def test_a_persistent_server_error_fails_within_the_deadline_naming_path_and_message(
    worker: tuple[FakeConnect, str],
) -> None:
    fake, url = worker
    path = f"/connectors/{NAME}/config"
    fake.fail("GET", path, 500, "Request timed out\nwhile reading the config topic", times=1000)

    started = time.monotonic()
    with pytest.raises(ConnectError) as raised:
        client(url, retry_deadline_s=1.0).config(NAME)
    elapsed = time.monotonic() - started

    message = str(raised.value)
    assert elapsed < 4.0
    assert len(fake.requests) > 1
    assert f"GET {path}" in message
    assert "HTTP 500: Request timed out; while reading the config topic" in message
    assert "\n" not in message


def test_a_refused_connection_fails_within_the_deadline_naming_the_worker() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"

    with pytest.raises(ConnectError) as raised:
        client(url, retry_deadline_s=0.5).connectors()

    assert f"GET /connectors at {url}" in str(raised.value)
    assert "refused" in str(raised.value).lower()


def test_retries_of_an_unreachable_worker_are_logged_at_debug_level_only() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with capture_logs() as logs, pytest.raises(ConnectError):
        client(f"http://127.0.0.1:{port}", retry_deadline_s=1.0).connectors()

    retries = [e for e in logs if e["event"] == "connect_retry"]
    assert retries
    assert {e["log_level"] for e in logs} == {"debug"}


def test_a_connector_that_is_not_deployed_has_no_status_rather_than_an_error(
    worker: tuple[FakeConnect, str],
) -> None:
    fake, url = worker

    assert client(url).status_if_deployed(NAME) is None
    assert [r.method for r in fake.requests] == ["GET"]


def test_a_bad_request_is_not_retried(worker: tuple[FakeConnect, str]) -> None:
    fake, url = worker
    path = f"/connectors/{NAME}/config"
    fake.fail("PUT", path, 400, "Connector configuration is invalid", times=5)

    with pytest.raises(ConnectError, match="HTTP 400: Connector configuration is invalid"):
        client(url).put_config(NAME, CONFIG)

    assert len(fake.requests) == 1


def test_pause_resume_and_restart_hit_the_connectors_paths(
    worker: tuple[FakeConnect, str],
) -> None:
    fake, url = worker
    fake.configs[NAME] = dict(CONFIG)
    connect = client(url)

    connect.pause(NAME)
    connect.resume(NAME)
    connect.restart(NAME)
    connect.restart(NAME, include_tasks=False, only_failed=True)

    assert [(r.method, r.path, r.query) for r in fake.requests] == [
        ("PUT", f"/connectors/{NAME}/pause", {}),
        ("PUT", f"/connectors/{NAME}/resume", {}),
        ("POST", f"/connectors/{NAME}/restart", {"includeTasks": "true", "onlyFailed": "false"}),
        ("POST", f"/connectors/{NAME}/restart", {"includeTasks": "false", "onlyFailed": "true"}),
    ]


def test_deleting_twice_reports_whether_the_connector_was_there(
    worker: tuple[FakeConnect, str],
) -> None:
    fake, url = worker
    fake.configs[NAME] = dict(CONFIG)
    connect = client(url)

    assert connect.delete(NAME) is True
    assert connect.delete(NAME) is False
    assert connect.connectors() == []


def test_credentials_in_the_url_are_sent_as_basic_auth_and_never_shown(
    worker: tuple[FakeConnect, str],
) -> None:
    fake, url = worker
    with_credentials = url.replace("http://", "http://admin:s3cr%40t@")
    connect = client(with_credentials)

    with pytest.raises(ConnectError) as raised:
        connect.status(NAME)

    assert fake.requests[0].authorization == "Basic " + base64.b64encode(b"admin:s3cr@t").decode()
    assert connect.url == url
    assert "s3cr" not in str(raised.value)
    assert "admin" not in str(raised.value)


def test_a_url_that_is_not_http_is_refused_without_showing_its_credentials() -> None:
    with pytest.raises(ConnectError, match="'ftp://connect:8083'") as raised:
        ConnectClient("ftp://admin:pw@connect:8083")

    assert "pw" not in str(raised.value)
