"""The daemon's HTTP endpoint: a small threaded server that answers GET and HEAD on a few paths."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from dr.errors import DrError
from dr.log import get_logger

log = get_logger(__name__)


class DaemonError(DrError):
    """The daemon could not start: its address is unusable or its schedule invalid."""


@dataclass(frozen=True)
class Response:
    """What a route answers."""

    status: int
    content_type: str
    body: bytes


Route = Callable[[], Response]


def parse_listen(listen: str) -> tuple[str, int]:
    """``host:port`` (or ``[v6-host]:port``) as a pair. Raises DaemonError."""
    host, sep, port = listen.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise DaemonError(f"daemon.listen '{listen}' is not host:port (e.g. 127.0.0.1:9187)")
    return host, int(port)


class HttpEndpoint:
    """A started server answering GET and HEAD on ``routes``; 404 elsewhere. Close it with
    close()."""

    def __init__(self, listen: str, routes: Mapping[str, Route]) -> None:
        host, port = parse_listen(listen)
        server_class = _Server6 if ":" in host else _Server
        try:
            self._server = server_class((host, port), _Handler)
        except OSError as exc:
            raise DaemonError(
                f"cannot listen on {listen} ({exc.strerror or exc}): "
                "free the port or change daemon.listen"
            ) from exc
        self._server.routes = dict(routes)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},  # how long close() waits for the loop to notice
            name="kafka-dr-http",
            daemon=True,
        )
        self._thread.start()

    @property
    def port(self) -> int:
        """The port listened on (the one chosen by the system when 0 was asked for)."""
        return int(self._server.server_address[1])

    def close(self) -> None:
        """Stop answering and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    routes: dict[str, Route]


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._send(self._answer())

    def do_HEAD(self) -> None:
        # The same status and headers as GET (a load balancer's or a scraper's probe).
        self._send(self._answer(), body=False)

    def _answer(self) -> Response:
        route = self.server.routes.get(self.path.split("?", 1)[0])
        if route is None:
            return Response(404, "text/plain; charset=utf-8", b"not found\n")
        try:
            return route()
        except Exception as exc:  # one bad answer must not take the endpoint down
            log.error("http_request_failed", path=self.path, error=f"{type(exc).__name__}: {exc}")
            return Response(500, "text/plain; charset=utf-8", b"internal error\n")

    def _send(self, response: Response, *, body: bool = True) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if body:
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: object) -> None:
        # Scrapes every few seconds would drown the log; keep them for debugging only.
        log.debug("http_request", request=format % args, client=self.client_address[0])
