"""A fault-injecting HTTP proxy in front of the S3-API server.

It forwards every request unchanged, unless told to answer the next N requests with a fault:
``"500"`` (InternalError), ``"503"`` (SlowDown, S3's throttling answer), ``"409"``
(ConditionalRequestConflict, S3's answer to two conditional writes in flight), ``"drop"`` (the
connection is closed without any response, as when a load balancer resets it) or ``"lost"``
(the request reaches the server, but its response is dropped). It can also strip request
headers, as a server that ignores them would.
"""

from __future__ import annotations

import http.client
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Literal
from urllib.parse import urlparse

Fault = Literal["500", "503", "409", "drop", "lost"]

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "expect",
        "content-length",
    }
)
_ERRORS: dict[str, tuple[int, str, str]] = {
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
    "503": (503, "SlowDown", "Please reduce your request rate."),
    "409": (
        409,
        "ConditionalRequestConflict",
        "A conflicting conditional operation is currently in progress against this resource.",
    ),
}


class FaultProxy:
    """An HTTP proxy on 127.0.0.1 that forwards to upstream and injects faults on demand."""

    def __init__(self, upstream: str) -> None:
        parsed = urlparse(upstream)
        self.upstream_host = parsed.hostname or "127.0.0.1"
        self.upstream_port = parsed.port or 80
        self._plan: deque[Fault | None] = deque()  # None: forward this one
        self._lock = threading.Lock()
        self.requests = 0
        self.faults_served = 0
        self.stripped_headers: frozenset[str] = frozenset()  # lower-case names
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def fail_next(self, count: int, fault: Fault, *, after: int = 0) -> None:
        """Forward `after` requests, then answer the next count requests with fault."""
        with self._lock:
            self._plan.extend([None] * after + [fault] * count)

    def clear(self) -> None:
        """Forward everything again and reset the counters."""
        with self._lock:
            self._plan.clear()
            self.stripped_headers = frozenset()
            self.requests = 0
            self.faults_served = 0

    def strip_headers(self, *names: str) -> None:
        """Forward requests without these headers (until clear())."""
        with self._lock:
            self.stripped_headers = frozenset(name.lower() for name in names)

    def take(self) -> Fault | None:
        """Count one request; the fault to answer it with, if any."""
        with self._lock:
            self.requests += 1
            fault = self._plan.popleft() if self._plan else None
            if fault is not None:
                self.faults_served += 1
            return fault

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _handler_for(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive and Expect: 100-continue, as boto3 uses

        def do_GET(self) -> None:
            self._handle()

        do_PUT = do_POST = do_HEAD = do_DELETE = do_GET

        def log_message(self, format: str, *args: object) -> None:
            return

        def _handle(self) -> None:
            body = self._read_body()
            fault = proxy.take()
            if fault == "drop":
                # No status line at all: the client sees the connection close under it.
                self.close_connection = True
                return
            if fault in _ERRORS:
                self._send_error(*_ERRORS[fault])
                return
            self._forward(body, answer=fault != "lost")

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks: list[bytes] = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _send_error(self, status: int, code: str, message: str) -> None:
            xml = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Error><Code>{code}</Code><Message>{message}</Message>"
                "<RequestId>injected</RequestId></Error>"
            ).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(xml)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(xml)

        def _forward(self, body: bytes, *, answer: bool = True) -> None:
            upstream = http.client.HTTPConnection(
                proxy.upstream_host, proxy.upstream_port, timeout=60
            )
            try:
                dropped = _HOP_BY_HOP | proxy.stripped_headers
                headers = {k: v for k, v in self.headers.items() if k.lower() not in dropped}
                if body or self.command in ("PUT", "POST"):
                    headers["Content-Length"] = str(len(body))
                upstream.request(self.command, self.path, body=body or None, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                if not answer:  # done upstream; the client sees the connection close
                    self.close_connection = True
                    return
                self.send_response(response.status, response.reason)
                for name, value in response.getheaders():
                    # send_response() has written its own Server and Date headers.
                    if name.lower() not in _HOP_BY_HOP | {"server", "date"}:
                        self.send_header(name, value)
                length = response.getheader("Content-Length")
                if self.command == "HEAD" and length is not None:
                    self.send_header("Content-Length", length)
                else:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
            finally:
                upstream.close()

    return Handler
