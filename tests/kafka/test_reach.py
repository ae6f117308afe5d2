"""First contact with a cluster: librdkafka's reports judged (refused, unknown host, failed
authentication, a dual-stack name that needs its second address), and the wait that ends as
soon as they say the cluster will not answer."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pytest
from confluent_kafka import KafkaException

from dr.errors import ClusterUnreachableError, KafkaError
from dr.kafka.reach import (
    PERMANENT_AFTER_S,
    ClusterUnreachable,
    ConnectionWatch,
    await_first_answer,
    interruptibly,
    split_report,
)

REFUSED = "127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused"
UNKNOWN = (
    "no-such-host.invalid:9092/bootstrap: Failed to resolve 'no-such-host.invalid:9092': "
    "Name or service not known"
)


@dataclass
class Report:
    """A stand-in for the confluent_kafka.KafkaError that error_cb receives."""

    code: str
    text: str
    is_fatal: bool = False

    def name(self) -> str:
        return self.code

    def str(self) -> str:
        return self.text

    def fatal(self) -> bool:
        return self.is_fatal


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_report_loses_its_broker_prefix_timing_and_suppression_note() -> None:
    text = f"{REFUSED} (after 0ms in state CONNECT, 1 identical error(s) suppressed)"

    assert split_report(text) == (
        "127.0.0.1:1/bootstrap",
        "Connect to ipv4#127.0.0.1:1 failed: Connection refused",
    )
    assert split_report(f"{REFUSED} (after 3ms in state CONNECT), 4 identical error(s) suppressed")[
        1
    ].endswith("Connection refused")


def test_every_bootstrap_broker_refusing_for_a_second_is_a_verdict_naming_the_cause() -> None:
    clock = Clock()
    watch = ConnectionWatch(brokers=1, clock=clock)

    for _ in range(int(PERMANENT_AFTER_S / 0.05) + 2):
        watch.record(Report("_TRANSPORT", f"{REFUSED} (after 0ms in state CONNECT)"))
        watch.verdict()
        clock.now += 0.05

    assert watch.verdict() == "Connect to ipv4#127.0.0.1:1 failed: Connection refused"


def test_a_first_refusal_is_not_yet_a_verdict() -> None:
    clock = Clock()
    watch = ConnectionWatch(brokers=1, clock=clock)
    watch.record(Report("_TRANSPORT", REFUSED))

    assert watch.verdict() is None
    clock.now += PERMANENT_AFTER_S / 2
    watch.record(Report("_TRANSPORT", REFUSED))
    assert watch.verdict() is None


def test_an_unknown_host_is_a_verdict_in_its_own_words() -> None:
    clock = Clock()
    watch = ConnectionWatch(brokers=1, clock=clock)
    watch.record(Report("_RESOLVE", UNKNOWN))
    watch.verdict()
    clock.now += PERMANENT_AFTER_S
    watch.record(Report("_RESOLVE", UNKNOWN))

    assert watch.verdict() == (
        "Failed to resolve 'no-such-host.invalid:9092': Name or service not known"
    )


def test_a_name_whose_first_address_refuses_and_whose_second_connects_is_no_verdict() -> None:
    # localhost resolves to ::1 (refused) and 127.0.0.1 (a broker): the failures stop.
    clock = Clock()
    watch = ConnectionWatch(brokers=1, clock=clock)
    watch.record(
        Report("_TRANSPORT", "localhost:9092/bootstrap: Connect to ipv6#[::1]:9092 failed")
    )
    watch.verdict()
    clock.now += PERMANENT_AFTER_S + 0.5

    assert watch.verdict() is None


def test_one_of_two_bootstrap_brokers_refusing_is_no_verdict() -> None:
    clock = Clock()
    watch = ConnectionWatch(brokers=2, clock=clock)
    for _ in range(40):
        watch.record(Report("_TRANSPORT", REFUSED))
        watch.verdict()
        clock.now += 0.05

    assert watch.verdict() is None


def test_failed_authentication_is_a_verdict_at_once() -> None:
    watch = ConnectionWatch(brokers=3, clock=Clock())
    watch.record(
        Report(
            "_AUTHENTICATION",
            "sasl_ssl://k1:9093/bootstrap: SASL authentication error: Authentication failed "
            "(after 12ms in state AUTH_REQ)",
        )
    )

    assert watch.verdict() == "SASL authentication error: Authentication failed"


def test_a_reset_forgets_what_was_reported() -> None:
    watch = ConnectionWatch(brokers=1, clock=Clock())
    watch.record(Report("_AUTHENTICATION", "bad password"))

    watch.reset()

    assert watch.verdict() is None


def test_the_wait_ends_at_the_verdict_naming_the_cluster_not_at_the_timeout() -> None:
    release = threading.Event()
    watch = ConnectionWatch(brokers=1)
    watch.record(Report("_AUTHENTICATION", "SASL authentication error: bad credentials"))
    started = time.monotonic()

    with pytest.raises(ClusterUnreachable) as caught:
        await_first_answer(
            release.wait, poll=lambda: None, watch=watch, label="cluster 'p' (k:9092)", timeout_s=30
        )

    release.set()
    assert time.monotonic() - started < 2
    assert str(caught.value) == (
        "cluster 'p' (k:9092) is unreachable: SASL authentication error: bad credentials"
    )
    assert isinstance(caught.value, KafkaError | ClusterUnreachableError)
    assert isinstance(caught.value, KafkaException)  # code written for the client catches it


def test_the_first_answer_is_handed_back() -> None:
    answer = await_first_answer(
        lambda: "metadata",
        poll=lambda: None,
        watch=ConnectionWatch(brokers=1),
        label="cluster 'p' (k:9092)",
        timeout_s=5,
    )

    assert answer == "metadata"


def test_a_request_that_fails_without_a_verdict_says_the_cluster_did_not_answer() -> None:
    def ask() -> str:
        raise TimeoutError("timed out")

    with pytest.raises(ClusterUnreachable) as caught:
        await_first_answer(
            ask,
            poll=lambda: None,
            watch=ConnectionWatch(brokers=1),
            label="cluster 'p' (k:9092)",
            timeout_s=5,
        )

    assert str(caught.value) == "cluster 'p' (k:9092) did not answer within 5s: timed out"


def test_a_blocking_request_from_the_main_thread_runs_in_a_thread_of_its_own() -> None:
    ran_in: list[str] = []

    def request() -> str:
        ran_in.append(threading.current_thread().name)
        return "answer"

    assert interruptibly(request) == "answer"
    assert ran_in == ["kafka-dr-request"]


def test_a_request_that_fails_in_its_thread_raises_its_own_error() -> None:
    def request() -> str:
        raise KafkaError("cluster 'p' (k:9092): cannot list topics: boom")

    with pytest.raises(KafkaError, match="boom"):
        interruptibly(request)
