"""A client for the Kafka Connect REST API: the few calls that run MirrorMaker 2 connectors.

Transient failures (refused or broken connections, timeouts, 409 while the workers rebalance,
5xx) are retried until a deadline, each retry logged at debug level: the final failure is one
error naming the worker's URL, raised once. Connector configs hold the clusters'
secrets: they are sent and received, never logged, and never part of an error message.
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit, urlunsplit

from dr.config.mirror import check_http_url
from dr.errors import DrError
from dr.log import get_logger, register_secrets
from dr.retry import Attempts, call_with_retries

log = get_logger(__name__)

_MESSAGE_LIMIT = 300


class ConnectError(DrError):
    """A Kafka Connect worker could not be reached or refused a request."""


@dataclass(frozen=True)
class TaskStatus:
    """One task of a connector as the workers report it."""

    id: int
    state: str
    worker_id: str
    trace: str | None = None


@dataclass(frozen=True)
class ConnectorStatus:
    """A connector's state (RUNNING, PAUSED, STOPPED, FAILED, UNASSIGNED) and its tasks'."""

    name: str
    state: str
    worker_id: str
    tasks: tuple[TaskStatus, ...]
    type: str
    trace: str | None = None

    @property
    def failed_tasks(self) -> tuple[TaskStatus, ...]:
        """The tasks in state FAILED."""
        return tuple(t for t in self.tasks if t.state == "FAILED")


class _HttpFailure(Exception):
    """A worker's answer with an error status; message is the worker's own, one line."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}" if message else f"HTTP {status}")
        self.status = status


class ConnectClient:
    """The REST API of one Kafka Connect cluster, reached through any of its workers.

    ``base_url`` may carry ``user:password@`` for HTTP basic authentication; the credentials
    are sent in a header and never appear in logs or messages.
    """

    def __init__(
        self, base_url: str, *, timeout_s: float = 10.0, retry_deadline_s: float = 30.0
    ) -> None:
        try:
            check_http_url(base_url)
        except ValueError as exc:
            raise ConnectError(f"Kafka Connect URL {exc}") from None
        parts = urlsplit(base_url)
        self._headers = {"Accept": "application/json"}
        if parts.username is not None:
            user, password = unquote(parts.username), unquote(parts.password or "")
            register_secrets([password])
            token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            self._headers["Authorization"] = f"Basic {token}"
        self.url = _without_credentials(base_url).rstrip("/")
        self._timeout_s = timeout_s
        self._deadline_s = retry_deadline_s

    def connectors(self) -> list[str]:
        """The names of the connectors on the cluster, sorted."""
        names = self._request("GET", "/connectors")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise self._unexpected("GET", "/connectors", "a list of names")
        return sorted(names)

    def config(self, name: str) -> dict[str, str] | None:
        """The connector's config as stored by Connect (secrets included), None when absent."""
        path = f"/connectors/{name}/config"
        config = self._request("GET", path, missing_ok=True)
        if config is None:
            return None
        if not isinstance(config, dict):
            raise self._unexpected("GET", path, "a config object")
        return {str(k): str(v) for k, v in config.items()}

    def put_config(self, name: str, config: dict[str, str]) -> None:
        """Create the connector with this config, or replace the config of the existing one."""
        self._request("PUT", f"/connectors/{name}/config", body=config)

    def status(self, name: str) -> ConnectorStatus:
        """The connector's and its tasks' states; raises ConnectError when it does not exist."""
        path = f"/connectors/{name}/status"
        return self._status(path, self._request("GET", path))

    def status_if_deployed(self, name: str) -> ConnectorStatus | None:
        """The connector's and its tasks' states, None when Connect has no such connector."""
        path = f"/connectors/{name}/status"
        doc = self._request("GET", path, missing_ok=True)
        return None if doc is None else self._status(path, doc)

    def _status(self, path: str, doc: Any) -> ConnectorStatus:
        try:
            connector = doc["connector"]
            return ConnectorStatus(
                name=str(doc["name"]),
                state=str(connector["state"]),
                worker_id=str(connector["worker_id"]),
                tasks=tuple(
                    TaskStatus(
                        id=int(t["id"]),
                        state=str(t["state"]),
                        worker_id=str(t["worker_id"]),
                        trace=t.get("trace") or None,
                    )
                    for t in doc.get("tasks", [])
                ),
                type=str(doc.get("type", "unknown")),
                trace=connector.get("trace") or None,
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            raise self._unexpected("GET", path, "a connector status") from None

    def pause(self, name: str) -> None:
        """Pause the connector and its tasks (idempotent)."""
        self._request("PUT", f"/connectors/{name}/pause")

    def resume(self, name: str) -> None:
        """Resume a paused connector and its tasks (idempotent)."""
        self._request("PUT", f"/connectors/{name}/resume")

    def stop(self, name: str) -> None:
        """Stop the connector and shut its tasks down (Kafka 3.5+); resume starts it again."""
        self._request("PUT", f"/connectors/{name}/stop")

    def offsets(self, name: str) -> list[dict[str, Any]]:
        """A connector's stored source positions (Kafka 3.5+, KIP-875)."""
        doc = self._request("GET", f"/connectors/{name}/offsets")
        found = doc.get("offsets") if isinstance(doc, dict) else None
        return [e for e in found or [] if isinstance(e, dict)]

    def alter_offsets(self, name: str, offsets: list[dict[str, Any]]) -> None:
        """Set a stopped connector's stored source positions (Kafka 3.6+, KIP-875)."""
        self._request("PATCH", f"/connectors/{name}/offsets", body={"offsets": offsets})

    def restart(self, name: str, *, include_tasks: bool = True, only_failed: bool = False) -> None:
        """Restart the connector and, by default, its tasks (only the failed ones if asked)."""
        query = {"includeTasks": str(include_tasks).lower(), "onlyFailed": str(only_failed).lower()}
        self._request("POST", f"/connectors/{name}/restart", query=query)

    def delete(self, name: str) -> bool:
        """Delete the connector; True if it existed, False if there was nothing to delete."""
        return self._request("DELETE", f"/connectors/{name}", missing_ok=True) is not _MISSING

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        query: dict[str, str] | None = None,
        missing_ok: bool = False,
    ) -> Any:
        """The decoded JSON answer (None for an empty one), retried while failures are transient.

        With missing_ok, a 404 answers None (_MISSING for DELETE) instead of raising.
        """
        attempts = Attempts()
        try:
            return call_with_retries(
                lambda: self._send(method, path, body, query),
                deadline_s=self._deadline_s,
                transient=_is_transient,
                event="connect_retry",
                fields={"method": method, "path": path, "worker": self.url},
                describe=_describe,
                attempts=attempts,
                level="debug",
            )
        except _HttpFailure as exc:
            if exc.status == 404 and missing_ok:
                return _MISSING if method == "DELETE" else None
            error: BaseException = exc
        except (OSError, http.client.HTTPException, ValueError) as exc:
            error = exc
        raise ConnectError(
            f"Kafka Connect {method} {path} at {self.url} failed{attempts.summary()}: "
            f"{_describe(error)}"
        ) from error

    def _send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        query: dict[str, str] | None,
    ) -> Any:
        url = self.url + quote(path, safe="/")
        if query:
            url += "?" + urlencode(query)
        headers = dict(self._headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            with exc:
                raise _HttpFailure(exc.code, _worker_message(exc.read())) from None
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise ValueError("the answer is not JSON") from None

    def _unexpected(self, method: str, path: str, expected: str) -> ConnectError:
        return ConnectError(
            f"Kafka Connect {method} {path} at {self.url} did not answer with {expected}: "
            "is the URL a Kafka Connect REST endpoint?"
        )


_MISSING = object()


def _is_transient(exc: BaseException) -> bool:
    """True for failures that heal by themselves: rebalances, 5xx, refused or broken links."""
    if isinstance(exc, _HttpFailure):
        return exc.status == 409 or exc.status >= 500
    if isinstance(exc, urllib.error.URLError):
        if not isinstance(exc.reason, OSError):
            return False  # an unknown scheme or a malformed URL
        exc = exc.reason
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return False  # a certificate problem does not heal by retrying
    # OSError covers refused and reset connections, timeouts and unresolvable host names.
    return isinstance(exc, OSError | http.client.HTTPException)


def _worker_message(raw: bytes) -> str:
    """The worker's error message (the JSON "message" field), on one line."""
    text = raw.decode("utf-8", "replace")
    try:
        doc = json.loads(text)
        if isinstance(doc, dict) and doc.get("message"):
            text = str(doc["message"])
    except ValueError:
        pass
    return _one_line(text)


def _describe(error: BaseException) -> str:
    if isinstance(error, urllib.error.URLError) and not isinstance(error, urllib.error.HTTPError):
        reason = error.reason
        text = (reason.strerror if isinstance(reason, OSError) else None) or str(reason)
        return _one_line(text)
    return _one_line(str(error) or type(error).__name__)


def _one_line(text: str) -> str:
    line = "; ".join(part.strip() for part in text.splitlines() if part.strip())
    return line if len(line) <= _MESSAGE_LIMIT else line[: _MESSAGE_LIMIT - 3] + "..."


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
