"""The daemon's listen address: free, held by a kafka-dr daemon, or held by something else."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from dr.preflight.listen import is_kafka_dr_daemon, listen_check


def test_a_free_address_can_be_bound(unused_port: int) -> None:
    check = listen_check(f"127.0.0.1:{unused_port}")

    assert check.status == "ok"
    assert check.detail == f"127.0.0.1:{unused_port} can be bound"


@pytest.fixture
def held_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield int(sock.getsockname()[1])


def test_a_port_held_by_another_program_fails(held_port: int) -> None:
    check = listen_check(f"127.0.0.1:{held_port}", identify=lambda host, port: False)

    assert check.status == "fail"
    assert check.detail == f"port {held_port} is in use by another program"
    assert check.hint and "daemon.listen" in check.hint


def test_a_port_held_by_a_kafka_dr_daemon_is_only_a_warning(held_port: int) -> None:
    check = listen_check(f"127.0.0.1:{held_port}", identify=lambda host, port: True)

    assert check.status == "warn"
    assert "kafka-dr daemon" in check.detail


class _Metrics(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve(body: bytes) -> HTTPServer:
    handler = type("Handler", (_Metrics,), {"body": body})
    server = HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_daemon_is_told_from_another_http_server_by_its_metrics() -> None:
    ours = serve(b"# TYPE kafka_dr_build_info gauge\nkafka_dr_build_info 1\n")
    theirs = serve(b"node_exporter_build_info 1\n")
    try:
        assert is_kafka_dr_daemon("0.0.0.0", ours.server_address[1])
        assert not is_kafka_dr_daemon("127.0.0.1", theirs.server_address[1])
        check = listen_check(f"127.0.0.1:{ours.server_address[1]}")
        assert check.status == "warn"
    finally:
        ours.shutdown()
        theirs.shutdown()
        ours.server_close()
        theirs.server_close()


def test_an_address_that_is_not_this_hosts_fails_with_a_hint() -> None:
    check = listen_check("192.0.2.1:9187")  # TEST-NET-1: never a local address

    assert check.status == "fail"
    assert check.detail == "192.0.2.1 is not an address of this host"
