"""Restored records keep their timestamps, and the second client keeps the cluster's security."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError, Message, Producer

from dr.backup.restore_plan import RestoreError
from dr.backup.restore_resume import written_timestamp
from dr.backup.restore_write import RecordWriter, WriteFailed, kafka_python_config
from dr.config.schema import ClusterSettings


def cluster(**client: str) -> ClusterSettings:
    return ClusterSettings(bootstrap_servers="b1:9093,b2:9093", client=client)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("timestamp", "timestamp_type", "written"),
    [(0, 1, 0), (1, 1, 1), (999, 1, 999), (-5, 1, -5), (1_700_000_000_000, 2, 1_700_000_000_000)],
)
def test_a_backed_up_timestamp_is_written_as_it_was(
    timestamp: int, timestamp_type: int, written: int
) -> None:
    assert written_timestamp(timestamp, timestamp_type) == written


def test_a_record_that_had_no_timestamp_is_written_with_kafkas_no_timestamp() -> None:
    assert written_timestamp(-1, 0) == -1
    assert written_timestamp(1234, 0) == -1


def test_the_exact_timestamp_client_gets_the_clusters_sasl_and_tls_settings() -> None:
    conf = kafka_python_config(
        cluster(
            **{
                "security.protocol": "sasl_ssl",
                "sasl.mechanism": "SCRAM-SHA-512",
                "sasl.username": "restore",
                "sasl.password": "s3cret",
                "ssl.ca.location": "/etc/kafka/ca.pem",
                "ssl.endpoint.identification.algorithm": "none",
                "socket.keepalive.enable": "true",
            }
        )
    )

    assert conf == {
        "bootstrap_servers": ["b1:9093", "b2:9093"],
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "restore",
        "sasl_plain_password": "s3cret",
        "ssl_cafile": "/etc/kafka/ca.pem",
        "ssl_check_hostname": False,
    }


def test_a_security_setting_the_exact_timestamp_client_cannot_honour_is_refused() -> None:
    with pytest.raises(RestoreError, match=r"ssl\.keystore\.location"):
        kafka_python_config(cluster(**{"ssl.keystore.location": "/etc/kafka/client.p12"}))


def test_a_gapless_guarantee_error_names_the_partition_whose_batch_failed() -> None:
    from dr.backup.restore_write import _named_partition

    reason = (
        "ProduceRequest for orders-restored [1] with 1 message(s) failed: Broker: Message size "
        "too large (broker 1 PID{Id:44,Epoch:0}, base seq 10): unable to satisfy gap-less "
        "guarantee (_GAPLESS_GUARANTEE)"
    )

    assert _named_partition(reason) == ("orders-restored", 1)
    assert _named_partition("Local: Fatal error") is None


# -- delivery counted from markers, not one callback per record --------------------------------


class FakeProducer:
    """librdkafka as RecordWriter sees it: records land in order per partition at the next
    poll or flush; a record listed in ``lose`` is lost without a report of its own (as one
    timing out would be, when it carries no callback)."""

    def __init__(self, conf: object, logger: object = None) -> None:
        self.queued: list[tuple[str, int, bytes | None, Any]] = []
        self.log: dict[tuple[str, int], list[bytes | None]] = {}
        self.lose: set[bytes] = set()
        self.fail: set[bytes] = set()
        self.callbacks = 0

    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        partition: int,
        on_delivery: Any,
        callback: Any,  # its alias, read only when on_delivery is not given at all
        timestamp: int,
        headers: Any,
    ) -> None:
        self.queued.append((topic, partition, value, on_delivery))

    def poll(self, timeout: float = 0) -> int:
        queued, self.queued = self.queued, []
        for topic, partition, value, on_delivery in queued:
            log = self.log.setdefault((topic, partition), [])
            err = None
            if value in self.fail:
                err = KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, "Broker: Message size too large")
            elif value not in self.lose:
                log.append(value)
            if on_delivery is not None:
                self.callbacks += 1
                offset = len(log) - 1 if err is None else -1
                msg = Message(topic=topic, partition=partition, offset=offset, value=value)
                on_delivery(err, msg)
        return len(queued)

    def flush(self, timeout: float = 0) -> int:
        self.poll()
        return 0

    def __len__(self) -> int:
        return len(self.queued)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeProducer:
    made: list[FakeProducer] = []

    def producer(conf: object, logger: object = None) -> FakeProducer:
        made.append(FakeProducer(conf, logger))
        return made[-1]

    monkeypatch.setattr("dr.backup.restore_write.Producer", producer)
    RecordWriter(cluster())  # made once here so the test can reach it
    return made[0]


def writer_on(fake: FakeProducer, monkeypatch: pytest.MonkeyPatch) -> RecordWriter:
    monkeypatch.setattr("dr.backup.restore_write.Producer", lambda conf, logger=None: fake)
    return RecordWriter(cluster())


def values(n: int, tag: str = "") -> list[bytes]:
    return [f"{tag}{i}".encode() for i in range(n)]


def test_a_settled_write_counts_every_record_with_few_callbacks(
    fake: FakeProducer, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = writer_on(fake, monkeypatch)
    for tp, tag in ((("t", 0), "a"), (("t", 1), "b")):
        for v in values(20_000, tag):
            writer.write(tp, None, v, None, 1_700_000_000_000)
    writer.settle()

    assert writer.delivered(("t", 0)) == writer.delivered(("t", 1)) == 20_000
    assert fake.log[("t", 0)] == values(20_000, "a")
    assert fake.callbacks < 20


def test_a_lost_record_stops_the_count_at_the_last_marker_before_it_and_names_its_partition(
    fake: FakeProducer, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = writer_on(fake, monkeypatch)
    fake.lose = {b"10000"}  # past the marker at 8192, no callback of its own
    for v in values(20_000):
        writer.write(("t", 0), None, v, None, 1_700_000_000_000)

    with pytest.raises(WriteFailed, match=r"writing to t-0 failed: 1 records .* not acknowledged"):
        writer.settle()
    assert writer.delivered(("t", 0)) == 8192  # never more than the cluster holds in order
    assert len(fake.log[("t", 0)]) == 19_999


def test_a_finished_partition_is_counted_whole_when_a_later_one_fails(
    fake: FakeProducer, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = writer_on(fake, monkeypatch)
    fake.fail = {b"b5"}
    for v in values(100, "a"):
        writer.write(("t", 0), None, v, None, 1_700_000_000_000)
    # b5 carries no callback: what shows is the gap it leaves before the next marker.
    with pytest.raises(WriteFailed, match=r"writing to t-1 failed: 1 records before offset 98 "):
        for v in values(100, "b"):
            writer.write(("t", 1), None, v, None, 1_700_000_000_000)
        writer.check()
    writer.drain()

    assert writer.delivered(("t", 0)) == 100
    assert writer.delivered(("t", 1)) == 1  # the first record; then b5 failed


def test_drain_writes_the_last_record_held_back_so_a_prefix_stays_whole(
    fake: FakeProducer, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = writer_on(fake, monkeypatch)
    for v in values(10):
        writer.write(("t", 0), None, v, None, 1_700_000_000_000)

    writer.drain()  # as after a damaged segment of another partition

    assert fake.log[("t", 0)] == values(10)
    assert writer.delivered(("t", 0)) == 10


def test_confluent_kafka_takes_produces_arguments_in_the_order_record_writer_passes_them() -> None:
    producer = Producer({"bootstrap.servers": "127.0.0.1:1", "log_level": 0})
    reports: list[tuple[int, bytes | None, bytes | None]] = []

    def report(err: Any, msg: Any) -> None:
        reports.append((msg.partition(), msg.key(), msg.value()))

    # topic, value, key, partition, on_delivery, callback, timestamp, headers
    producer.produce("t", b"v", b"k", 3, report, None, 1_700_000_000_000, [("h", b"x")])
    with pytest.raises(TypeError):  # a ninth argument: the order changed
        producer.produce("t", b"v", b"k", 3, report, None, 1, None, None)  # type: ignore[call-arg]
    producer.purge()
    producer.poll(1)

    assert reports == [(3, b"k", b"v")]


def test_records_another_producer_slips_in_are_a_failure_not_counted(
    fake: FakeProducer, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = writer_on(fake, monkeypatch)
    for v in values(5):
        writer.write(("t", 0), None, v, None, 1_700_000_000_000)
    writer.check()
    fake.log[("t", 0)] += [b"intruder", b"intruder"]
    for v in values(5, "b"):
        writer.write(("t", 0), None, v, None, 1_700_000_000_000)

    with pytest.raises(WriteFailed, match="2 records more than were written lie before offset 11"):
        writer.settle()
    assert writer.delivered(("t", 0)) == 5
