"""Writing restored records: in order, without gaps, each with its backed-up timestamp.

Records go through librdkafka as an idempotent producer with ``enable.gapless.guarantee``: a
batch that fails stops the producer (a fatal error), so a failed batch is never followed by a
later batch of the same partition, and each target partition always holds a prefix of its
backed-up records, which is what lets a restore resume.

librdkafka reads a timestamp of 0 as "now", so a record stamped 0 (the Unix epoch) is written by
a second, pure-Python producer (kafka-python), which keeps 0: once every earlier record is
acknowledged, and acknowledged itself before the next one is written, so the partition's order
holds.

A Python delivery callback per record would cost as much as the rest of the write loop, so only
markers carry one: the first record written to each partition, every MARK_EVERY-th, and the
last one queued before each check(), settle() or drain() and before the writes move on to
another partition (write() holds the latest record back until it knows whether it is a marker).
Reports come in order per partition, and a marker's report carries the offset the cluster gave
it: a marker n records after the previous acknowledged one must land exactly n offsets after
it, which proves every record in between is there (the idempotent producer never writes one
twice). Only then does ``delivered`` move to the marker; a report that does not line up is a
failure of that partition. So ``delivered`` never counts a record the cluster does not hold, and
after a failure it may stop at the last marker before it (the partition is then reported
incomplete, as it is anyway).
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections import Counter
from collections.abc import Mapping
from functools import partial
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
MARK_EVERY = 8192
Headers = list[tuple[str, bytes | None]] | None
# A record queued but not yet handed to librdkafka: tp, key, value, headers, timestamp, and its
# number among the records this writer wrote to tp (1 for the first).
_Held = tuple[TP, bytes | None, bytes | None, Headers, int, int]

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
        self._queued: Counter[TP] = Counter()  # records handed to a client, up to the held one
        self._acked: dict[TP, tuple[int, int]] = {}  # (number, offset) of the last good marker
        self._held: _Held | None = None
        self._exact: Any = None  # kafka-python's KafkaProducer, made at the first record stamped 0
        self._producer = Producer(
            confluent_config(cluster, **producer_settings(overrides)),
            logger=_quiet_logger(),
        )
        # Positional: topic, value, key, partition, on_delivery, callback, timestamp, headers
        # (its C signature; keywords cost a third of the call). A test pins the order.
        self._produce = self._producer.produce

    def delivered(self, tp: TP) -> int:
        """Records of tp the cluster acknowledged, counted up to the last acknowledged marker
        (see the module docstring): never more than the cluster holds."""
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
        held = self._held
        if held is not None and (held[0] is tp or held[0] == tp):
            number = held[5] + 1
            if held[5] % MARK_EVERY and held[5] != 1:  # the common case: no marker, inline
                try:
                    self._produce(tp[0], held[2], held[1], tp[1], None, None, held[4], held[3])  # type: ignore[arg-type]
                except (BufferError, KafkaException):
                    self._held = None
                    self._send(held, mark=False)
            else:
                self._held = None
                self._send(held, mark=True)
        else:
            if held is not None:
                self._held = None
                self._send(held, mark=True)
            number = self._queued[tp] + 1
        self._held = (tp, key, value, headers, timestamp, number)

    def _release(self) -> None:
        """Hand the held record to librdkafka, as a marker."""
        held, self._held = self._held, None
        if held is not None:
            self._send(held, mark=True)

    def _send(self, held: _Held, *, mark: bool) -> None:
        tp, key, value, headers, timestamp, number = held
        if mark:
            self._queued[tp] = number
        on_delivery = partial(self._on_marker, number) if mark else None
        while True:
            try:
                self._produce(tp[0], value, key, tp[1], on_delivery, None, timestamp, headers)  # type: ignore[arg-type]
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
        self._release()
        self._poll(0)
        reports, self._reports = self._reports, []
        for e, m in reports:
            if self._refused is None and refused_kind(e) is not None:
                topic = f"topic '{m.topic()}'"
                self._refused = refusal(self._cluster, e, operation="WRITE", resource=topic)
        if self._refused is not None:
            raise self._refused
        self._failures += [((m.topic(), m.partition()), _reason(e)) for e, m in reports]
        # The failed batch's own report, not those of the later records purged after it (the
        # failed record is seldom a marker: then the fatal error's text names its partition).
        real = [f for f in self._failures if "_PURGE" not in f[1]]
        if self._fatal is not None and not (real and self._fatal.startswith("SystemError")):
            named = _named_partition(self._fatal)
            purged = self._failures[0][0] if self._failures else None
            raise WriteFailed(real[0][0] if real else named or purged, self._fatal)
        real = real or self._failures
        if real:
            raise WriteFailed(*real[0])

    def settle(self, timeout_s: float = FLUSH_S) -> None:
        """Wait until every queued record is acknowledged; raises WriteFailed otherwise."""
        self._release()
        remaining = self._flush(timeout_s)
        self.check()
        if remaining:
            raise WriteFailed(None, f"{remaining} records not acknowledged within {timeout_s:.0f}s")

    def drain(self, timeout_s: float = FLUSH_S) -> None:
        """After a failure: hand over the held record (the last one written: a prefix stays a
        prefix) and wait for what is in flight, so the counts are final; never raises."""
        # When the producer has stopped, the held record is not written, nor counted.
        with contextlib.suppress(RestoreError, NotAuthorizedError):
            self._release()
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
        number = self._queued[tp] + 1
        try:
            future = self._exact_producer().send(
                tp[0],
                value=_NULL if value is None else value,
                key=key,
                partition=tp[1],
                timestamp_ms=0,
                headers=list(headers or []),
            )
            written = future.get(timeout=FLUSH_S)
        except RestoreError:
            raise
        except Exception as exc:  # kafka-python raises its own error tree
            raise WriteFailed(tp, f"{type(exc).__name__}: {exc}") from None
        self._queued[tp] = number
        self._acknowledged(tp, number, written.offset)
        self.check()

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

    def _on_marker(self, number: int, err: Any, msg: Any) -> None:
        if err is None:
            self._acknowledged((msg.topic(), msg.partition()), number, msg.offset())
        else:
            # Read later: after a fatal error confluent-kafka runs this callback with the
            # error already raised, when no method of err or msg may be called.
            self._reports.append((err, msg))

    def _acknowledged(self, tp: TP, number: int, offset: int) -> None:
        """The number-th record of tp is at offset: every record up to it is, if it lies as
        many offsets after the last acknowledged marker as it was written after it."""
        last = self._acked.get(tp)
        lined_up = (
            offset - last[1] == number - last[0] if last is not None else number == 1
        ) and offset >= 0
        if lined_up:
            self._acked[tp] = (number, offset)
            self._delivered[tp] = number
        elif not self._failures or self._failures[-1][0] != tp:
            self._failures.append((tp, _misplaced(number, offset, last)))

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


def _misplaced(number: int, offset: int, last: tuple[int, int] | None) -> str:
    """Why a marker's offset does not prove the records before it are there."""
    if offset < 0:
        return f"record {number} was acknowledged without an offset"
    if last is None:
        return f"records before offset {offset} were not acknowledged"
    missing = number - last[0] - (offset - last[1])
    if missing > 0:
        return f"{missing} records before offset {offset} were not acknowledged (a gap)"
    return (
        f"{-missing} records more than were written lie before offset {offset}: something "
        "else writes to this partition"
    )


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
