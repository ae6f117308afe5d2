"""Kafka client configuration from settings: for confluent-kafka and for the Java tools.

Client properties use librdkafka's names. Properties prefixed ``java.`` are passed only to the
Java tools (for example ``java.ssl.keystore.location``); the common security settings
(SASL username and password, a PEM CA file) are translated for Java automatically.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient

from dr.config.schema import ClusterSettings

JAVA_PREFIX = "java."
_LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}
_librdkafka_log = logging.getLogger("dr.kafka.librdkafka")


def librdkafka_logger() -> logging.Logger:
    """The logger librdkafka writes to: silent below CRITICAL unless debugging.

    librdkafka reports every refused connection; kafka-dr reports the outcome instead.
    """
    root_level = logging.getLogger().level
    _librdkafka_log.setLevel(logging.DEBUG if root_level <= logging.DEBUG else logging.CRITICAL)
    return _librdkafka_log


def confluent_config(cluster: ClusterSettings, **overrides: Any) -> dict[str, Any]:
    """The librdkafka configuration for this cluster, secrets revealed, overrides applied."""
    conf: dict[str, Any] = {
        k: v for k, v in cluster.client_properties().items() if not k.startswith(JAVA_PREFIX)
    }
    conf["bootstrap.servers"] = cluster.bootstrap_servers
    conf.update(overrides)
    return conf


def admin_client(cluster: ClusterSettings, *, timeout_s: float = 10.0) -> AdminClient:
    """An AdminClient for the cluster whose requests give up after timeout_s."""
    conf = confluent_config(
        cluster,
        **{"socket.connection.setup.timeout.ms": int(timeout_s * 1000)},
    )
    return AdminClient(conf, logger=librdkafka_logger())


def java_properties(cluster: ClusterSettings) -> dict[str, str]:
    """The same client settings under the Java client's names, for the Kafka tools."""
    props = cluster.client_properties()
    out: dict[str, str] = {}
    if "security.protocol" in props:
        out["security.protocol"] = props["security.protocol"]
    mechanism = props.get("sasl.mechanism") or props.get("sasl.mechanisms")
    if mechanism:
        out["sasl.mechanism"] = mechanism
        user, password = props.get("sasl.username"), props.get("sasl.password")
        module = _LOGIN_MODULES.get(mechanism.upper())
        if module and user is not None and password is not None:
            out["sasl.jaas.config"] = (
                f'{module} required username="{_quote(user)}" password="{_quote(password)}";'
            )
    if "ssl.ca.location" in props:
        out["ssl.truststore.type"] = "PEM"
        out["ssl.truststore.location"] = props["ssl.ca.location"]
    if "ssl.endpoint.identification.algorithm" in props:
        value = props["ssl.endpoint.identification.algorithm"]
        out["ssl.endpoint.identification.algorithm"] = "" if value == "none" else value
    for key, value in props.items():
        if key.startswith(JAVA_PREFIX):
            out[key[len(JAVA_PREFIX) :]] = value
    return out


@contextmanager
def java_properties_file(cluster: ClusterSettings) -> Iterator[Path | None]:
    """A private temporary properties file for --command-config, removed afterwards.

    Yields None when the cluster needs no client properties.
    """
    props = java_properties(cluster)
    if not props:
        yield None
        return
    fd, name = tempfile.mkstemp(prefix="kafka-dr-client-", suffix=".properties")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for key, value in props.items():
                handle.write(f"{key}={escape_property(value)}\n")
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def escape_property(value: str) -> str:
    """A value escaped for a java.util.Properties file (backslashes, line breaks)."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
