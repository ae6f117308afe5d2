"""Reading the KRaft quorum from the table that ``kafka-metadata-quorum describe --replication``
prints, by column name, for Kafka 4.x and 3.x."""

from __future__ import annotations

import pytest

from dr.errors import KafkaError
from dr.kafka.quorum import QuorumMember, QuorumStatus, parse_replication_table

NOW_MS = 1795751950614  # ten seconds after the leader's timestamps below

# As Kafka 4.x prints it: tab-separated cells padded with spaces, a trailing tab on each line.
KAFKA_4_SINGLE_NODE = (
    "NodeId\tDirectoryId           \tLogEndOffset\tLag\tLastFetchTimestamp"
    "\tLastCaughtUpTimestamp\tStatus  \t\n"
    "1     \tAAAAAAAAAAAAAAAAAAAAAA\t20          \t0  \t1795751940614     "
    "\t1795751940614        \tLeader  \t\n"
)

KAFKA_4_THREE_VOTERS_ONE_OBSERVER = (
    "NodeId\tDirectoryId           \tLogEndOffset\tLag\tLastFetchTimestamp"
    "\tLastCaughtUpTimestamp\tStatus  \t\n"
    "2     \tAAAAAAAAAAAAAAAAAAAAAA\t4521        \t0  \t1795751940614     "
    "\t1795751940614        \tLeader  \t\n"
    "1     \tAAAAAAAAAAAAAAAAAAAAAA\t4521        \t0  \t1795751940414     "
    "\t1795751940414        \tFollower\t\n"
    "3     \tAAAAAAAAAAAAAAAAAAAAAA\t4519        \t2  \t1795751940114     "
    "\t1795751938614        \tFollower\t\n"
    "4     \tq8Gx2k7CTeC4bY1o5kqV0A\t4521        \t0  \t1795751940514     "
    "\t1795751940514        \tObserver\t\n"
)

KAFKA_4_VOTER_NEVER_CAUGHT_UP = (
    "NodeId\tDirectoryId           \tLogEndOffset\tLag\tLastFetchTimestamp"
    "\tLastCaughtUpTimestamp\tStatus  \t\n"
    "1     \tAAAAAAAAAAAAAAAAAAAAAA\t300         \t0  \t1795751940614     "
    "\t1795751940614        \tLeader  \t\n"
    "2     \tAAAAAAAAAAAAAAAAAAAAAA\t300         \t0  \t1795751940614     "
    "\t1795751940614        \tFollower\t\n"
    "3     \tAAAAAAAAAAAAAAAAAAAAAA\t0           \t300\t-1                "
    "\t-1                   \tFollower\t\n"
)

# Kafka 3.x before KIP-853 has no DirectoryId column.
KAFKA_3_WITHOUT_DIRECTORY_ID = (
    "NodeId\tLogEndOffset\tLag\tLastFetchTimestamp\tLastCaughtUpTimestamp\tStatus  \t\n"
    "3     \t88          \t0  \t1795751940614     \t1795751940614        \tLeader  \t\n"
    "1     \t87          \t1  \t1795751940614     \t1795751945614        \tFollower\t\n"
    "2     \t88          \t0  \t1795751940614     \t1795751940614        \tFollower\t\n"
)


def parse(output: str) -> QuorumStatus:
    return parse_replication_table(output, now_ms=NOW_MS)


def by_id(members: tuple[QuorumMember, ...]) -> dict[int, QuorumMember]:
    return {m.node_id: m for m in members}


def test_a_single_node_quorum_is_led_by_its_only_voter() -> None:
    quorum = parse(KAFKA_4_SINGLE_NODE)

    assert quorum.leader_id == 1
    assert quorum.high_watermark == 20
    assert quorum.voters == (
        QuorumMember(node_id=1, role="leader", log_end_offset=20, lag=0, last_caught_up_age_s=10.0),
    )
    assert quorum.observers == ()


def test_voters_and_observers_are_told_apart_by_their_status() -> None:
    quorum = parse(KAFKA_4_THREE_VOTERS_ONE_OBSERVER)

    assert quorum.leader_id == 2
    assert quorum.high_watermark == 4521
    assert [(v.node_id, v.role) for v in quorum.voters] == [
        (2, "leader"),
        (1, "follower"),
        (3, "follower"),
    ]
    assert [(o.node_id, o.role) for o in quorum.observers] == [(4, "observer")]


def test_each_member_carries_its_lag_and_how_long_ago_it_caught_up() -> None:
    quorum = parse(KAFKA_4_THREE_VOTERS_ONE_OBSERVER)
    voters = by_id(quorum.voters)

    assert voters[1].lag == 0
    assert voters[1].log_end_offset == 4521
    assert voters[1].last_caught_up_age_s == pytest.approx(10.2)
    assert voters[3].lag == 2
    assert voters[3].log_end_offset == 4519
    assert voters[3].last_caught_up_age_s == pytest.approx(12.0)
    assert quorum.max_voter_lag == 2


def test_the_observer_lag_does_not_count_as_voter_lag() -> None:
    output = KAFKA_4_THREE_VOTERS_ONE_OBSERVER.replace(
        "4     \tq8Gx2k7CTeC4bY1o5kqV0A\t4521        \t0  ",
        "4     \tq8Gx2k7CTeC4bY1o5kqV0A\t21        \t4500",
    )

    quorum = parse(output)

    assert quorum.observers[0].lag == 4500
    assert quorum.max_voter_lag == 2


def test_a_voter_that_never_caught_up_has_no_caught_up_age() -> None:
    quorum = parse(KAFKA_4_VOTER_NEVER_CAUGHT_UP)
    voters = by_id(quorum.voters)

    assert voters[3].last_caught_up_age_s is None
    assert voters[3].lag == 300
    assert voters[2].last_caught_up_age_s == pytest.approx(10.0)
    assert quorum.max_voter_lag == 300


def test_a_caught_up_timestamp_from_the_future_counts_as_just_now() -> None:
    quorum = parse_replication_table(KAFKA_4_SINGLE_NODE, now_ms=1795751940000)

    assert quorum.voters[0].last_caught_up_age_s == 0.0


def test_a_3x_table_without_directory_ids_is_read_by_column_name() -> None:
    quorum = parse(KAFKA_3_WITHOUT_DIRECTORY_ID)
    voters = by_id(quorum.voters)

    assert quorum.leader_id == 3
    assert quorum.high_watermark == 88
    assert sorted(voters) == [1, 2, 3]
    assert voters[1].log_end_offset == 87
    assert voters[1].lag == 1
    assert voters[1].last_caught_up_age_s == pytest.approx(5.0)
    assert quorum.observers == ()


def test_lines_printed_before_the_table_are_skipped() -> None:
    output = (
        "WARNING: an illegal reflective access operation has occurred\n\n" + KAFKA_4_SINGLE_NODE
    )

    assert parse(output).leader_id == 1


def test_a_table_without_a_leader_reports_none() -> None:
    output = KAFKA_4_THREE_VOTERS_ONE_OBSERVER.replace("Leader  ", "Follower")

    quorum = parse(output)

    assert quorum.leader_id is None
    assert quorum.high_watermark is None
    assert len(quorum.voters) == 3


@pytest.mark.parametrize(
    "output",
    [
        "",
        "Error while executing: org.apache.kafka.common.errors.TimeoutException\n",
        "ClusterId:              MkU3OEVBNTcwNTJENDM2Qk\nLeaderId:               1\n",
    ],
    ids=["empty", "an error message", "the --status form"],
)
def test_output_that_is_not_a_replication_table_is_a_kafka_error(output: str) -> None:
    with pytest.raises(KafkaError, match="no replication table"):
        parse(output)


def test_a_row_with_a_non_numeric_cell_is_a_kafka_error_that_quotes_it() -> None:
    output = KAFKA_4_SINGLE_NODE.replace("20          ", "twenty      ")

    with pytest.raises(KafkaError, match="unexpected row: 1 AAAAAAAAAAAAAAAAAAAAAA twenty"):
        parse(output)
