"""The Kafka clients of a lab application for one connection (a bootstrap and a topic): an
idempotent producer with ``acks=all`` and a consumer that commits by hand after processing.

A session writes every acknowledged and consumed record to the ledger, and tells its app
whether the cluster answers; the app (dr/lab/app.py) decides when to replace the session.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from dr.kafka.client import librdkafka_logger
from dr.lab.appfiles import AppSpec, Target
from dr.lab.ledger import Event, LedgerEntry, LedgerWriter
from dr.log import get_logger

log = get_logger(__name__)

PARTITIONS = 3
COMMIT_INTERVAL_S = 0.2
COMMIT_EVERY = 100
PRODUCER_TIMEOUT_MS = 120_000
# Errors that say the cluster does not answer (as opposed to a topic or group problem).
_UNREACHABLE = {KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT, KafkaError._RESOLVE}


class Session:
    """A producer and/or consumer connected to one target."""

    def __init__(
        self,
        spec: AppSpec,
        target: Target,
        ledger: LedgerWriter,
        client: dict[str, str] | None = None,
    ) -> None:
        self.spec = spec
        self.target = target
        self.ledger = ledger
        self.topic_ready = False
        self.fatal: str | None = None
        self.acked = 0
        self.failed = 0
        self.unreachable_since: float | None = None
        self._pending: dict[tuple[str, int], int] = {}  # next offset to commit, per partition
        self._last_commit = time.monotonic()
        self._since_commit = 0
        common: dict[str, Any] = {
            **(client or {}),  # a secure lab's: TLS and the lab apps' SCRAM user
            "bootstrap.servers": target.bootstrap,
            "error_cb": self._on_error,
            "reconnect.backoff.max.ms": 1000,
            "topic.metadata.refresh.interval.ms": 5000,
        }
        self.admin = AdminClient(dict(common), logger=librdkafka_logger())
        self.producer: Producer | None = None
        self.consumer: Consumer | None = None
        if spec.produce_rate:
            self.producer = Producer(
                {
                    **common,
                    "acks": "all",
                    "enable.idempotence": True,
                    "linger.ms": 5,
                    "message.timeout.ms": PRODUCER_TIMEOUT_MS,
                },
                logger=librdkafka_logger(),
            )
        if spec.group:
            self.consumer = Consumer(
                {
                    **common,
                    "group.id": spec.group,
                    "enable.auto.commit": False,
                    # Never 'latest': a group with no offset on a new cluster rereads, and says so.
                    "auto.offset.reset": "earliest",
                    "session.timeout.ms": 6000,
                },
                logger=librdkafka_logger(),
            )

    # -- the topic ---------------------------------------------------------------------

    def ensure_topic(self, timeout_s: float = 2.0) -> bool:
        """Create the topic when the cluster lacks it (3 partitions, replication min(3,
        brokers)), then subscribe; True once the topic is there."""
        if self.topic_ready:
            return True
        try:
            metadata = self.admin.list_topics(timeout=timeout_s)
        except KafkaException:
            return False
        self._answered()
        meta = metadata.topics.get(self.target.topic)
        if meta is None or meta.error is not None:
            replication = max(1, min(3, len(metadata.brokers)))
            new = NewTopic(
                self.target.topic, num_partitions=PARTITIONS, replication_factor=replication
            )
            future = self.admin.create_topics([new], operation_timeout=timeout_s)[self.target.topic]
            try:
                future.result(timeout=timeout_s * 3)
                log.info("app_topic_created", topic=self.target.topic, replication=replication)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    log.warning("app_topic_not_created", topic=self.target.topic, error=str(exc))
                    return False
        if self.consumer is not None:
            self.consumer.subscribe(
                [self.target.topic], on_assign=self._on_assign, on_revoke=self._on_revoke
            )
        self.topic_ready = True
        return True

    # -- producing -----------------------------------------------------------------------

    def produce(self, key: str) -> bool:
        """Hand one record to the producer; False when its queue is full."""
        assert self.producer is not None
        value = f"{key} {datetime.now(UTC).isoformat()}".encode()
        try:
            self.producer.produce(
                self.target.topic, key=key.encode(), value=value, on_delivery=self._on_delivery
            )
        except BufferError:
            return False
        return True

    def flush(self, timeout_s: float) -> bool:
        """Wait until every record handed to the producer is acknowledged (or failed); True
        when none is left."""
        if self.producer is None:
            return True
        try:
            return int(self.producer.flush(timeout_s)) == 0
        except (KafkaException, SystemError) as exc:
            self.fatal = self.fatal or f"{type(exc).__name__}: {exc}"
            return False

    def _on_delivery(self, err: KafkaError | None, msg: Any) -> None:
        if err is not None:
            self.failed += 1
            if self.failed == 1:  # the first of a session; close() reports how many in all
                log.warning("app_delivery_failed", key=_key(msg), error=err.str())
            return
        self._answered()
        self.acked += 1
        self.ledger.append(self._entry("acked", msg))

    # -- consuming -----------------------------------------------------------------------

    def serve(self, wait_s: float) -> None:
        """Serve delivery reports and consume what is there, waiting up to wait_s."""
        if self.producer is not None:
            try:
                self.producer.poll(0 if self.consumer is not None and self.topic_ready else wait_s)
            except (KafkaException, SystemError) as exc:
                # A fatal producer error (the idempotent producer's sequence lost on a topic
                # just created) is raised from poll; confluent-kafka sometimes garbles it into
                # a SystemError. The session ends; the app starts a new one with new clients.
                self.fatal = self.fatal or f"{type(exc).__name__}: {exc}"
                log.error("app_client_fatal", error=self.fatal)
                return
        if self.consumer is None or not self.topic_ready:
            return
        for msg in self.consumer.consume(num_messages=500, timeout=wait_s):
            err = msg.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    self._on_error(err)
                continue
            self._answered()
            entry = self._entry("consumed", msg)
            self.ledger.append(entry)
            self._pending[(entry.topic, entry.partition)] = entry.offset + 1
            self._since_commit += 1
        due = time.monotonic() - self._last_commit >= COMMIT_INTERVAL_S
        # A commit to a cluster that does not answer would block: it waits until it answers.
        ready = self._pending and self.unreachable_since is None
        if ready and (due or self._since_commit >= COMMIT_EVERY):
            self.commit(wait=False)

    def commit(self, only: set[tuple[str, int]] | None = None, *, wait: bool = True) -> None:
        """Commit the offsets after the records consumed and logged: synchronously, or with
        ``wait`` False in the background (a commit to a cluster just lost would block)."""
        self._last_commit = time.monotonic()
        self._since_commit = 0
        picked = {tp: off for tp, off in self._pending.items() if only is None or tp in only}
        if self.consumer is None or not picked:
            return
        offsets = [TopicPartition(t, p, off) for (t, p), off in picked.items()]
        try:
            if wait:
                self.consumer.commit(offsets=offsets, asynchronous=False)
            else:
                self.consumer.commit(offsets=offsets, asynchronous=True)
        except KafkaException as exc:
            log.warning("app_commit_failed", group=self.spec.group, error=exc.args[0].str())
            return
        for tp, off in picked.items():
            if self._pending.get(tp) == off:
                del self._pending[tp]

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        try:
            committed = consumer.committed(partitions, timeout=5)
        except KafkaException:
            return
        fresh = [tp.partition for tp in committed if tp.offset < 0]
        if fresh:
            log.warning(
                "app_group_has_no_offset_starting_from_earliest",
                group=self.spec.group,
                topic=self.target.topic,
                partitions=fresh,
                bootstrap=self.target.bootstrap,
            )

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.commit(only={(tp.topic, tp.partition) for tp in partitions})
        for tp in partitions:
            self._pending.pop((tp.topic, tp.partition), None)

    # -- health --------------------------------------------------------------------------

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self.fatal = err.str()
            log.error("app_client_fatal", error=err.str())
        elif err.code() in _UNREACHABLE and self.unreachable_since is None:
            self.unreachable_since = time.monotonic()
            log.warning("app_cluster_unreachable", bootstrap=self.target.bootstrap, error=err.str())

    def _answered(self) -> None:
        if self.unreachable_since is not None:
            log.info("app_cluster_answers", bootstrap=self.target.bootstrap)
        self.unreachable_since = None

    def unreachable_for(self) -> float:
        """Seconds since the cluster stopped answering (0 while it answers)."""
        return 0.0 if self.unreachable_since is None else time.monotonic() - self.unreachable_since

    def probe(self) -> None:
        """Ask the cluster for metadata (a second at most): an idle client learns it is back."""
        try:
            self.admin.list_topics(timeout=1)
        except KafkaException:
            return
        self._answered()

    # -- the end -------------------------------------------------------------------------

    def close(self, *, flush_s: float) -> None:
        """Wait up to flush_s for the producer's acknowledgements (what is left is dropped,
        never acknowledged), commit, and leave the group (bounded: a dead cluster can make a
        consumer's close wait for long)."""
        if self.producer is not None:
            left = self.producer.flush(flush_s)
            if left:
                self.producer.purge()
                self.producer.flush(0)
                log.warning("app_unacknowledged_dropped", records=left)
            if self.failed:
                log.warning(
                    "app_deliveries_failed", bootstrap=self.target.bootstrap, records=self.failed
                )
        if self.consumer is not None:
            # The cluster may be gone without an error seen yet: never wait on it for long.
            if (
                self.topic_ready
                and self.unreachable_for() == 0
                and not _within(self.commit, timeout_s=5)
            ):
                log.warning("app_final_commit_abandoned", bootstrap=self.target.bootstrap)
            consumer = self.consumer
            if not _within(consumer.close, timeout_s=10):
                log.warning("app_consumer_close_abandoned", bootstrap=self.target.bootstrap)

    def _entry(self, event: Event, msg: Any) -> LedgerEntry:
        return LedgerEntry(
            event=event,
            key=_key(msg),
            topic=str(msg.topic()),
            partition=int(msg.partition()),
            offset=int(msg.offset()),
            cluster_bootstrap=self.target.bootstrap,
            time=datetime.now(UTC),
            group=self.spec.group if event == "consumed" else None,
        )


def _key(msg: Any) -> str:
    key = msg.key()
    return key.decode(errors="replace") if isinstance(key, bytes) else str(key)


def _within(call: Callable[[], object], *, timeout_s: float) -> bool:
    """Run call in a daemon thread; True when it returned within timeout_s."""
    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(timeout_s)
    return not thread.is_alive()
