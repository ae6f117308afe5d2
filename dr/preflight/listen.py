"""The check of the daemon's listen address: can the daemon bind it? A port held by a running
kafka-dr daemon is a warning (that daemon answers there), held by anything else a failure."""

from __future__ import annotations

import errno
import socket
import urllib.request
from collections.abc import Callable

from dr.preflight.model import PreflightCheck, Stopwatch, passed, problem, warning

CHECK = "daemon listen address"
IDENTIFY_TIMEOUT_S = 2.0
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}

Identify = Callable[[str, int], bool]


def listen_check(listen: str, *, identify: Identify | None = None) -> PreflightCheck:
    """Bind ``daemon.listen`` (host:port or [v6]:port) as the daemon would, then release it.
    ``identify`` tells whether a program holding the port is a kafka-dr daemon (by default:
    its /metrics says kafka_dr_)."""
    subject = f"daemon.listen ({listen})"
    watch = Stopwatch()
    host, sep, port_text = listen.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        hint = "write daemon.listen as host:port, e.g. 127.0.0.1:9187"
        return problem(CHECK, subject, f"'{listen}' is not host:port", hint)
    port = int(port_text)
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        hint = "daemon.listen must name an address of this host (0.0.0.0 for every one)"
        return problem(CHECK, subject, f"'{host}' does not resolve: {exc.strerror}", hint)
    sock = socket.socket(family, kind, proto)
    try:
        # As the daemon's HTTP server does: a port left in TIME_WAIT is free to take.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(1)
    except OSError as exc:
        return _refused(exc, host, port, subject, identify or is_kafka_dr_daemon, watch.seconds)
    finally:
        sock.close()
    return passed(CHECK, subject, f"{listen} can be bound", seconds=watch.seconds)


def is_kafka_dr_daemon(host: str, port: int) -> bool:
    """Whether the program listening there answers /metrics with kafka-dr's metrics."""
    target = _WILDCARDS.get(host, host)
    shown = f"[{target}]" if ":" in target else target
    try:
        with urllib.request.urlopen(
            f"http://{shown}:{port}/metrics", timeout=IDENTIFY_TIMEOUT_S
        ) as answer:
            return b"kafka_dr_" in answer.read(1_000_000)
    except (OSError, ValueError):
        return False


def _refused(
    exc: OSError, host: str, port: int, subject: str, identify: Identify, seconds: float
) -> PreflightCheck:
    if exc.errno == errno.EADDRINUSE:
        if identify(host, port):
            detail = f"port {port} is held by a running kafka-dr daemon"
            hint = "a second daemon on this host needs another daemon.listen"
            return warning(CHECK, subject, detail, hint, seconds=seconds)
        detail = f"port {port} is in use by another program"
        hint = "free the port, or give daemon.listen another one"
        return problem(CHECK, subject, detail, hint, seconds=seconds)
    if exc.errno == errno.EADDRNOTAVAIL:
        detail = f"{host} is not an address of this host"
        hint = "daemon.listen must name an address of this host (0.0.0.0 for every one)"
        return problem(CHECK, subject, detail, hint, seconds=seconds)
    if exc.errno == errno.EACCES:
        detail = f"binding port {port} is not allowed for this user"
        hint = "ports below 1024 need privileges: use a port of 1024 or above"
        return problem(CHECK, subject, detail, hint, seconds=seconds)
    hint = "give daemon.listen an address and port this host can listen on"
    return problem(CHECK, subject, f"cannot bind: {exc.strerror or exc}", hint, seconds=seconds)
