"""Kafka client configuration from settings: for confluent-kafka and for the Java tools.

Client properties use librdkafka's names. Properties prefixed ``java.`` are passed only to the
Java tools (for example ``java.ssl.keystore.location``); the common security settings
(SASL username and password, a PEM CA file) are translated for Java automatically.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient

from dr.config.schema import ClusterSettings
from dr.kafka.authz import cluster_name, principal_of
from dr.kafka.private_files import private_file
from dr.kafka.reach import ConnectionWatch, await_first_answer, interruptibly

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


class ClusterAdmin(AdminClient):
    """An AdminClient that knows its cluster: ``label`` names it in messages, ``timeout_s`` is
    how long a request waits for it (its clusters.NAME.timeout_s unless given). Until the
    cluster has answered once, every request first waits for that answer and raises
    ClusterUnreachable (dr.kafka.reach) as soon as the cluster cannot be reached for good."""

    def __init__(self, cluster: ClusterSettings, *, timeout_s: float | None = None) -> None:
        self.label = cluster.describe()
        self.cluster_name = cluster_name(cluster)  # as authorization errors name them
        self.principal = principal_of(cluster)
        self.timeout_s = cluster.timeout_s if timeout_s is None else timeout_s
        servers = {s.strip() for s in cluster.bootstrap_servers.split(",") if s.strip()}
        self._watch = ConnectionWatch(len(servers))
        self._reached = False
        self._reach_lock = threading.Lock()
        conf = confluent_config(
            cluster,
            **{
                "socket.connection.setup.timeout.ms": int(self.timeout_s * 1000),
                "error_cb": self._watch.record,
            },
        )
        super().__init__(conf, logger=librdkafka_logger())

    def reach(self, timeout_s: float | None = None) -> Any:
        """Wait for the cluster's first answer (its metadata, returned; None when it answered
        before). Raises ClusterUnreachable naming the cluster, its bootstrap servers and why."""
        with self._reach_lock:
            self.poll(0)  # serve the reports queued since, whatever comes next
            if self._reached:
                return None
            self._watch.reset()
            limit = self.timeout_s if timeout_s is None or timeout_s <= 0 else timeout_s
            metadata = await_first_answer(
                lambda: AdminClient.list_topics(self, timeout=limit),
                poll=lambda: self.poll(0),
                watch=self._watch,
                label=self.label,
                timeout_s=limit,
            )
            self._reached = True
            return metadata

    def list_topics(self, *args: Any, **kwargs: Any) -> Any:
        """AdminClient.list_topics; the first call's answer is the first contact's."""
        topic = kwargs.get("topic", args[0] if args else None)
        metadata = self.reach(kwargs.get("timeout"))
        if metadata is not None and topic is None:
            return metadata
        return interruptibly(lambda: AdminClient.list_topics(self, *args, **kwargs))


def _after_first_contact(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def request(self: ClusterAdmin, *args: Any, **kwargs: Any) -> Any:
        self.reach()
        return method(self, *args, **kwargs)

    return request


# Every request of the client waits for the first contact (list_topics does so itself).
for _request in (
    "alter_configs",
    "alter_consumer_group_offsets",
    "alter_user_scram_credentials",
    "cluster_id",
    "create_acls",
    "create_partitions",
    "create_topics",
    "delete_acls",
    "delete_consumer_groups",
    "delete_records",
    "delete_topics",
    "describe_acls",
    "describe_cluster",
    "describe_configs",
    "describe_consumer_groups",
    "describe_topics",
    "describe_user_scram_credentials",
    "elect_leaders",
    "incremental_alter_configs",
    "list_consumer_group_offsets",
    "list_consumer_groups",
    "list_groups",
    "list_offsets",
):
    setattr(ClusterAdmin, _request, _after_first_contact(getattr(AdminClient, _request)))


def admin_client(cluster: ClusterSettings, *, timeout_s: float | None = None) -> ClusterAdmin:
    """An AdminClient for the cluster whose requests wait timeout_s for an answer (default:
    the cluster's timeout_s), and which fails fast when the cluster cannot be reached."""
    return ClusterAdmin(cluster, timeout_s=timeout_s)


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
    """A private properties file for a tool's --command-config, gone afterwards even when
    kafka-dr is killed (dr.kafka.private_files); run_tool passes it to the tool.

    Yields None when the cluster needs no client properties.
    """
    props = java_properties(cluster)
    if not props:
        yield None
        return
    text = "".join(f"{key}={escape_property(value)}\n" for key, value in props.items())
    with private_file(text, name="kafka-dr-client.properties") as path:
        yield path


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def escape_property(value: str) -> str:
    """A value escaped for a java.util.Properties file (backslashes, line breaks)."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
