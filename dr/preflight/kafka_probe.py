"""Asking a cluster, fast: does it answer, does it accept our credentials, what may we do.

librdkafka retries a refused connection or a failed authentication until the request's
timeout, and says why only through its error callback. The probe listens to that callback
while it waits, so that a permanent failure (connection refused, unknown host, authentication
or TLS refused) ends the wait at once, with librdkafka's own words, instead of after the
cluster's whole timeout_s.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from confluent_kafka import KafkaException, TopicCollection
from confluent_kafka.admin import AdminClient

from dr.config.schema import ClusterSettings
from dr.kafka import admin as kadmin
from dr.kafka.client import confluent_config, librdkafka_logger
from dr.log import redact_text
from dr.preflight.acl_eval import Binding

FailureKind = Literal["unreachable", "timeout", "authentication", "tls"]
_AUTH_ERRORS = {"_AUTHENTICATION", "SASL_AUTHENTICATION_FAILED"}
_POLL_S = 0.05
_SILENT: tuple[FailureKind, str] = ("timeout", "")
_SUFFIX = re.compile(r"\s*\(after \d+ms in state \w+\)\s*$")


class ProbeFailure(Exception):
    """The cluster could not be asked: ``kind`` says how it failed, ``message`` librdkafka's
    words (secrets masked)."""

    def __init__(self, kind: FailureKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class ClusterAnswer:
    """What DescribeCluster said: the id, the live brokers, and the operations this client
    may perform on the cluster (None when the cluster did not say)."""

    cluster_id: str
    broker_ids: tuple[int, ...]
    operations: frozenset[str] | None


class _Errors:
    """librdkafka's error callback: remembers the first permanent failure."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.fatal: tuple[FailureKind, str] | None = None
        self.last: str | None = None

    def __call__(self, err: Any) -> None:
        name, text = str(err.name()), _clean(str(err.str()))
        with self._lock:
            if name in _AUTH_ERRORS:
                self.fatal = self.fatal or ("authentication", text)
            elif name == "_SSL":
                self.fatal = self.fatal or ("tls", text)
            elif name == "_ALL_BROKERS_DOWN":
                # Without an error before it, the brokers took the connection and then said
                # nothing until connection setup timed out.
                self.fatal = self.fatal or (("unreachable", self.last) if self.last else _SILENT)
            elif name in ("_TRANSPORT", "_RESOLVE"):
                self.last = text


def probe_cluster(cluster: ClusterSettings) -> tuple[AdminClient, ClusterAnswer]:
    """An AdminClient for the cluster and its answer to DescribeCluster, within the cluster's
    timeout_s; raises ProbeFailure as soon as the failure is known to be permanent."""
    errors = _Errors()
    timeout_s = cluster.timeout_s
    conf = confluent_config(
        cluster,
        **{"socket.connection.setup.timeout.ms": int(timeout_s * 1000), "error_cb": errors},
    )
    admin = AdminClient(conf, logger=librdkafka_logger())
    deadline = time.monotonic() + timeout_s
    future = admin.describe_cluster(request_timeout=timeout_s, include_authorized_operations=True)
    while not future.done():
        admin.poll(_POLL_S)
        if errors.fatal is not None and errors.fatal != _SILENT:
            raise ProbeFailure(*errors.fatal)
        if errors.fatal == _SILENT or time.monotonic() > deadline:
            last = f" (last error: {errors.last})" if errors.last else ""
            raise ProbeFailure("timeout", f"no answer within {timeout_s:g}s{last}")
    try:
        result = future.result(timeout=0)
    except KafkaException as exc:
        raise ProbeFailure(_kind_of(exc), _clean(kadmin.reason(exc))) from None
    answer = ClusterAnswer(
        cluster_id=str(result.cluster_id),
        broker_ids=tuple(sorted(n.id for n in result.nodes)),
        operations=_operation_names(result.authorized_operations),
    )
    return admin, answer


class AdminGrants:
    """What the cluster says this client may do (dr.preflight.acl_eval.Grants), over an
    AdminClient. Raises KafkaException when the cluster stops answering."""

    def __init__(self, admin: AdminClient, answer: ClusterAnswer, *, timeout_s: float) -> None:
        self._admin = admin
        self._answer = answer
        self._timeout_s = timeout_s

    def cluster_operations(self) -> frozenset[str] | None:
        return self._answer.operations

    def topic_names(self) -> Sequence[str]:
        metadata = self._admin.list_topics(timeout=self._timeout_s)
        return sorted(n for n, t in metadata.topics.items() if t.error is None)

    def topic_operations(self, names: Sequence[str]) -> dict[str, frozenset[str] | None]:
        futures = self._admin.describe_topics(
            TopicCollection(list(names)),
            request_timeout=self._timeout_s,
            include_authorized_operations=True,
        )
        return {n: self._operations_of(f, "TOPIC_AUTHORIZATION_FAILED") for n, f in futures.items()}

    def group_names(self) -> Sequence[str]:
        listing = self._admin.list_consumer_groups(request_timeout=self._timeout_s)
        return sorted(g.group_id for g in listing.result(timeout=self._timeout_s + 5).valid)

    def group_operations(self, names: Sequence[str]) -> dict[str, frozenset[str] | None]:
        futures = self._admin.describe_consumer_groups(
            list(names), request_timeout=self._timeout_s, include_authorized_operations=True
        )
        return {n: self._operations_of(f, "GROUP_AUTHORIZATION_FAILED") for n, f in futures.items()}

    def bindings(self) -> Sequence[Binding] | None:
        found = kadmin.acls(self._admin, self._timeout_s)
        if isinstance(found, str):
            return None
        return [Binding(**{k: str(v) for k, v in b.items()}) for b in found]

    def _operations_of(self, future: Any, denied: str) -> frozenset[str] | None:
        try:
            result = future.result(timeout=self._timeout_s + 5)
        except KafkaException as exc:
            if _error_name(exc) == denied:
                return frozenset()
            return None  # gone meanwhile, or not answered: nothing to judge by
        return _operation_names(result.authorized_operations)


def principal_of(cluster: ClusterSettings) -> str | None:
    """User:NAME for a client that authenticates with a SASL user name (PLAIN, SCRAM); None
    when its principal is not known from the config (mTLS, OAUTHBEARER, GSSAPI, none)."""
    props = cluster.client_properties()
    mechanism = (props.get("sasl.mechanism") or props.get("sasl.mechanisms") or "").upper()
    user = props.get("sasl.username")
    if user and (mechanism == "PLAIN" or mechanism.startswith("SCRAM-")):
        return f"User:{user}"
    return None


def describe_authentication(cluster: ClusterSettings) -> str:
    """How the client authenticates, in words: 'SASL_SSL SCRAM-SHA-512 as user kafka-dr'."""
    props = cluster.client_properties()
    protocol = props.get("security.protocol", "PLAINTEXT").upper()
    if protocol == "PLAINTEXT":
        return "PLAINTEXT: no authentication configured"
    if protocol == "SSL":
        client_cert = "ssl.certificate.location" in props or "ssl.keystore.location" in props
        return "SSL with a client certificate" if client_cert else "SSL, no client certificate"
    mechanism = props.get("sasl.mechanism") or props.get("sasl.mechanisms") or "GSSAPI"
    user = props.get("sasl.username")
    return f"{protocol} {mechanism}" + (f" as user {user}" if user else "")


def _operation_names(operations: Any) -> frozenset[str] | None:
    if operations is None:
        return None
    return frozenset(getattr(op, "name", str(op)) for op in operations)


def _kind_of(exc: KafkaException) -> FailureKind:
    name = _error_name(exc)
    if name in _AUTH_ERRORS:
        return "authentication"
    if name == "_SSL":
        return "tls"
    if name in ("_TIMED_OUT", "REQUEST_TIMED_OUT"):
        return "timeout"
    return "unreachable"


def _error_name(exc: KafkaException) -> str:
    err: Any = exc.args[0] if exc.args else None
    return str(err.name()) if err is not None and hasattr(err, "name") else ""


def _clean(text: str) -> str:
    """librdkafka's message without its state suffix, secrets masked."""
    return redact_text(_SUFFIX.sub("", text.strip()))
