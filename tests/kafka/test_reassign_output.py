"""What Kafka's reassignment and log-dir tools print, as kafka-dr reads it."""

from __future__ import annotations

import pytest

from dr.errors import KafkaError
from dr.kafka.reassign import Ongoing, parse_log_dirs, parse_ongoing


def test_ongoing_reassignments_are_read_with_their_adding_and_removing_replicas() -> None:
    output = (
        "Current partition reassignments:\n"
        "my-topic.v2-11: replicas: 1,2,3,4. adding: 4. removing: 1.\n"
        "other-0: replicas: 2,3,4. adding: 4.\n"
    )
    first, second = parse_ongoing(output)
    assert first == Ongoing("my-topic.v2", 11, (1, 2, 3, 4), (4,), (1,))
    assert first.target == (2, 3, 4)
    assert second.tp == ("other", 0) and second.removing == ()


def test_no_reassignment_is_an_empty_listing() -> None:
    assert parse_ongoing("No partition reassignments found.\n") == ()


def test_an_unknown_listing_line_is_an_error_not_a_guess() -> None:
    with pytest.raises(KafkaError, match="unexpected line"):
        parse_ongoing("Current partition reassignments:\nsomething else\n")


def test_partition_sizes_are_the_largest_replica_of_each_partition() -> None:
    output = (
        "Querying brokers for log directories information\n"
        "Received log directory information from brokers 1,2\n"
        '{"version":1,"brokers":[{"broker":1,"logDirs":[{"logDir":"/d","error":null,'
        '"partitions":[{"partition":"a-b-0","size":100,"offsetLag":0,"isFuture":false},'
        '{"partition":"a-b-0","size":999,"offsetLag":0,"isFuture":true}]}]},'
        '{"broker":2,"logDirs":[{"logDir":"/d","error":null,"partitions":['
        '{"partition":"a-b-0","size":120,"offsetLag":0,"isFuture":false}]}]}]}\n'
    )
    assert parse_log_dirs(output) == {("a-b", 0): 120}
