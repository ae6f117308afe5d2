"""Writing restored records: in order, without gaps, each with its backed-up timestamp.

Records go through librdkafka as an idempotent producer with ``enable.gapless.guarantee``: a
batch that fails stops the producer (a fatal error), so a failed batch is never followed by a
later batch of the same partition, and each target partition always holds a prefix of its
backed-up records, which is what lets a restore resume.

librdkafka reads a timestamp of 0 as "now", so a record stamped 0 (the Unix epoch) is written by
a second, pure-Python producer (kafka-python), which keeps 0: once every earlier record is
acknowledged, and acknowledged itself before the next one is written, so the partition's order
holds.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaException, Producer

from dr.backup.restore_plan import RestoreError
from dr.backup.tuning import producer_settings
from dr.config.client_overrides import ClientValue
from dr.config.schema import ClusterSettings
from dr.errors import NotAuthorizedError
from dr.kafka.authz import refusal, refused_kind
from dr.kafka.client import confluent_config

TP = tuple[str, int]
FLUSH_S = 120.0
Headers = list[tuple[str, bytes | None]] | None

# librdkafka's names of the client settings, and kafka-python's.
_KAFKA_PYTHON = {
    "security.protocol": "security_protocol",
    "sasl.mechanism": "sasl_mechanism",
    "sasl.mechanisms": "sasl_mechanism",
    "sasl.username": "sasl_plain_username",
    "sasl.password": "sasl_plain_password",
    "sasl.kerberos.service.name": "sasl_kerberos_service_name",
    "ssl.ca.location": "ssl_cafile",
    "ssl.certificate.location": "ssl_certfile",
    "ssl.key.location": "ssl_keyfile",
    "ssl.key.password": "ssl_password",
    "ssl.crl.location": "ssl_crlfile",
    "ssl.cipher.suites": "ssl_ciphers",
    "client.id": "client_id",
}
_SECURITY_PREFIXES = ("ssl.", "sasl.", "security.")
_PRODUCE_REQUEST = re.compile(r"ProduceRequest for (\S+) \[(\d+)\]")
# A null value: kafka-python's send() wants a key or a value, a Kafka record may have neither.
_NULL = object()


class WriteFailed(RestoreError):
    """Records could not be written to a target partition."""

    def __init__(self, tp: TP | None, reason: str) -> None:
        where = f"writing to {tp[0]}-{tp[1]}" if tp else "writing"
        super().__init__(f"{where} failed: {reason}")
        self.tp = tp


def kafka_python_config(cluster: ClusterSettings) -> dict[str, Any]:
    """The cluster's client settings for kafka-python; raises RestoreError for a security
    setting it has no equivalent of (the records stamped 0 cannot be written then)."""
    conf = confluent_config(cluster)
    out: dict[str, Any] = {"bootstrap_servers": str(conf.pop("bootstrap.servers")).split(",")}
    for key, value in conf.items():
        if key in _KAFKA_PYTHON:
            out[_KAFKA_PYTHON[key]] = value
        elif key == "ssl.endpoint.identification.algorithm":
            out["ssl_check_hostname"] = str(value).lower() not in ("none", "")
        elif key.startswith(_SECURITY_PREFIXES):
            raise RestoreError(
                f"cluster setting '{key}' has no equivalent in kafka-python, which writes the "
                "records stamped 0 (librdkafka cannot): use PEM files (ssl.ca.location, "
                "ssl.certificate.location, ssl.key.location) or SASL PLAIN/SCRAM"
            )
    if "security_protocol" in out:
        out["security_protocol"] = str(out["security_protocol"]).upper()
    return out


class RecordWriter:
    """Writes records partition after partition; counts what each partition had acknowledged."""

    def __init__(
        self, cluster: ClusterSettings, overrides: Mapping[str, ClientValue] | None = None
    ) -> None:
        self._cluster = cluster
        self._failures: list[tuple[TP, str]] = []
        self._fatal: str | None = None
        self._refused: NotAuthorizedError | None = None  # the cluster refused a write
        self._reports: list[tuple[Any, Any]] = []
        self._delivered: Counter[TP] = Counter()
        self._exact: Any = None  # kafka-python's KafkaProducer, made at the first record stamped 0
        self._producer = Producer(
            confluent_config(cluster, **producer_settings(overrides)),
            logger=_quiet_logger(),
        )

    def delivered(self, tp: TP) -> int:
        """Records of tp the cluster acknowledged."""
        return self._delivered[tp]

    def write(
        self,
        tp: TP,
        key: bytes | None,
        value: bytes | None,
        headers: Headers,
        timestamp: int,
    ) -> None:
        """Queue one record; raises WriteFailed once any earlier write has failed."""
        if timestamp == 0:
            self._write_exact(tp, key, value, headers)
            return
        while True:
            try:
                self._producer.produce(
                    tp[0],
                    value,
                    key,
                    partition=tp[1],
                    on_delivery=self._on_delivery,
                    timestamp=timestamp,
                    headers=headers,  # type: ignore[arg-type]
                )
                return
            except BufferError:
                self._poll(0.05)
                self.check()
            except KafkaException as exc:
                self._fatal = self._fatal or _fatal_reason(exc)
                self._refused = self._refused or refusal(self._cluster, exc)
                self.check()

    def check(self) -> None:
        """Serve delivery reports; raises WriteFailed naming the first failure."""
        self._poll(0)
        reports, self._reports = self._reports, []
        for e, m in reports:
            if self._refused is None and refused_kind(e) is not None:
                topic = f"topic '{m.topic()}'"
                self._refused = refusal(self._cluster, e, operation="WRITE", resource=topic)
        if self._refused is not None:
            raise self._refused
        self._failures += [((m.topic(), m.partition()), _reason(e)) for e, m in reports]
        # The failed batch's own report, not those of the later records purged after it.
        real = [f for f in self._failures if "_PURGE" not in f[1]] or self._failures
        if self._fatal is not None and not (real and self._fatal.startswith("SystemError")):
            raise WriteFailed(real[0][0] if real else _named_partition(self._fatal), self._fatal)
        if real:
            raise WriteFailed(*real[0])

    def settle(self, timeout_s: float = FLUSH_S) -> None:
        """Wait until every queued record is acknowledged; raises WriteFailed otherwise."""
        remaining = self._flush(timeout_s)
        self.check()
        if remaining:
            raise WriteFailed(None, f"{remaining} records not acknowledged within {timeout_s:.0f}s")

    def drain(self, timeout_s: float = FLUSH_S) -> None:
        """After a failure: wait for what is in flight, so the counts are final; never raises."""
        self._flush(timeout_s)

    def close(self) -> None:
        if self._exact is not None:
            self._exact.close(timeout=10)

    def _write_exact(
        self, tp: TP, key: bytes | None, value: bytes | None, headers: Headers
    ) -> None:
        """One record stamped 0, through kafka-python, once every earlier record is
        acknowledged, and acknowledged itself before the next record is written (one at a
        time: kafka-python has no gapless guarantee, and such records are rare)."""
        if headers and any(v is None for _, v in headers):
            raise WriteFailed(
                tp,
                "a record stamped 0 has a null header value, which kafka-python (the client "
                "that writes timestamp 0) cannot send; leave the topic out with --topics",
            )
        self.settle()
        try:
            future = self._exact_producer().send(
                tp[0],
                value=_NULL if value is None else value,
                key=key,
                partition=tp[1],
                timestamp_ms=0,
                headers=list(headers or []),
            )
            future.get(timeout=FLUSH_S)
        except RestoreError:
            raise
        except Exception as exc:  # kafka-python raises its own error tree
            raise WriteFailed(tp, f"{type(exc).__name__}: {exc}") from None
        self._delivered[tp] += 1

    def _exact_producer(self) -> Any:
        if self._exact is None:
            from kafka import KafkaProducer  # type: ignore[import-untyped]  # rarely needed

            logging.getLogger("kafka").setLevel(_quiet_logger().level)
            self._exact = KafkaProducer(
                **kafka_python_config(self._cluster),
                acks="all",
                enable_idempotence=True,
                max_request_size=16 * 1024 * 1024,
                value_serializer=_serialize,
            )
        return self._exact

    def _on_delivery(self, err: Any, msg: Any) -> None:
        if err is None:
            self._delivered[(msg.topic(), msg.partition())] += 1
        else:
            # Read later: after a fatal error confluent-kafka runs this callback with the
            # error already raised, when no method of err or msg may be called.
            self._reports.append((err, msg))

    # A fatal error (the gapless guarantee) is raised from poll() and flush() as a
    # KafkaException; confluent-kafka then still runs the delivery callbacks of the purged
    # records with that exception set, which surfaces as a SystemError caused by it.

    def _poll(self, timeout_s: float) -> None:
        try:
            self._producer.poll(timeout_s)
        except (KafkaException, SystemError) as exc:
            self._fatal = self._fatal or _fatal_reason(exc)
            self._refused = self._refused or refusal(self._cluster, exc)

    def _flush(self, timeout_s: float) -> int:
        """Records still queued after waiting up to timeout_s; once the producer has stopped
        (a fatal error) what it still holds will never be sent: no more waiting then."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                remaining = int(self._producer.flush(min(1.0, deadline - time.monotonic())))
            except (KafkaException, SystemError) as exc:
                self._fatal = self._fatal or _fatal_reason(exc)
                self._refused = self._refused or refusal(self._cluster, exc)
                remaining = len(self._producer)
            if not remaining or self._fatal is not None or time.monotonic() >= deadline:
                return remaining


def _quiet_logger() -> logging.Logger:
    """librdkafka's log, silent unless debugging: a fatal error is reported by the restore's
    own error line, once."""
    logger = logging.getLogger("dr.backup.restore.librdkafka")
    debug = logging.getLogger().level <= logging.DEBUG
    logger.setLevel(logging.DEBUG if debug else logging.CRITICAL + 10)
    return logger


def _serialize(value: Any) -> bytes | None:
    return None if value is _NULL else value


def _named_partition(reason: str) -> TP | None:
    """The partition a gapless-guarantee error names ("ProduceRequest for TOPIC [P] with..."),
    for when the failed batch's own delivery report was not served."""
    found = _PRODUCE_REQUEST.search(reason)
    return (found.group(1), int(found.group(2))) if found else None


def _fatal_reason(exc: BaseException) -> str:
    """The KafkaException's own reason; a SystemError without one (the delivery callbacks of
    purged records) stays "SystemError: ...", and the failed batch's report names the cause."""
    cause = exc if isinstance(exc, KafkaException) else (exc.__cause__ or exc.__context__)
    if isinstance(cause, KafkaException) and cause.args:
        return _reason(cause.args[0])
    return f"{type(exc).__name__}: {exc}"


def _reason(err: Any) -> str:
    try:
        return f"{err.str()} ({err.name()})"
    except AttributeError:
        return str(err)
