"""Where a replica stops following its source, over (offset, digest) pairs: no Kafka."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dr.playbooks.divergence_match import DivergenceError, Entry, match_replica

WHERE = "orders-0 (replica primary.orders-0), walked from log start"


def log(*records: tuple[int, str]) -> list[Entry]:
    return list(records)


def contiguous(digests: str, start: int = 0) -> list[Entry]:
    """One record per offset from start, each digest one letter."""
    return [(start + i, d) for i, d in enumerate(digests)]


def test_a_contiguous_replica_ends_at_the_source_record_it_copied_last() -> None:
    source = contiguous("abcdefgh", start=100)
    replica = contiguous("abcde", start=40)

    match = match_replica(replica, source, where=WHERE)

    assert match.source_offset == 104  # "e": the divergence is f, g, h from 105
    assert (match.replica_offset, match.matched, match.duplicates) == (44, 5, 0)


def test_transaction_markers_leave_holes_in_offsets_on_both_sides_without_mattering() -> None:
    # Source: a transaction a,b committed at 2 (a marker), c at 3, d,e + marker at 6, f, g.
    source = log((0, "a"), (1, "b"), (3, "c"), (4, "d"), (5, "e"), (7, "f"), (8, "g"))
    # The replica got a..e; its own markers sit elsewhere.
    replica = log((10, "a"), (12, "b"), (13, "c"), (14, "d"), (16, "e"))

    match = match_replica(replica, source, where=WHERE)

    assert match.source_offset == 5
    assert match.replica_offset == 16


def test_records_mirrormaker_copied_twice_are_duplicates_not_divergence() -> None:
    source = contiguous("abcdefg")
    # A restart re-copied b, c, d after d; then e, plus one more repeat of e.
    replica = contiguous("abcdbcdee")

    match = match_replica(replica, source, where=WHERE)

    assert match.source_offset == 4  # "e"
    assert (match.matched, match.duplicates) == (5, 4)


def test_a_repeat_that_is_also_the_next_source_record_counts_as_that_record() -> None:
    # The source itself holds the same record twice (a producer retry): the replica's second
    # copy is the source's second record, so nothing is reported replicated that was not.
    source = log((0, "a"), (1, "a"), (2, "b"))
    replica = log((0, "a"), (1, "a"))

    assert match_replica(replica, source, where=WHERE).source_offset == 1


def test_an_empty_replica_matches_nothing_and_reads_no_source_record() -> None:
    def never() -> Iterator[Entry]:
        raise AssertionError("the source was read for an empty replica")
        yield (0, "a")

    match = match_replica([], never(), where=WHERE)

    assert match.source_offset is None and match.replica_offset is None
    assert match.matched == match.duplicates == 0


def test_the_source_is_read_only_as_far_as_the_replica_goes() -> None:
    read: list[int] = []

    def source() -> Iterator[Entry]:
        for entry in contiguous("abcdefghij"):
            read.append(entry[0])
            yield entry

    match_replica(contiguous("abc"), source(), where=WHERE)

    assert read == [0, 1, 2]


def test_a_walk_from_the_log_starts_refuses_first_records_that_differ() -> None:
    # No usable sync: the replica's oldest records were deleted by its retention, so the log
    # starts are not the same record and nothing says where to begin.
    source = contiguous("abcdef")
    replica = contiguous("cdef", start=2)

    with pytest.raises(DivergenceError) as err:
        match_replica(replica, source, where=WHERE)

    message = str(err.value)
    assert message.startswith("orders-0 (replica primary.orders-0), walked from log start: ")
    assert "first record (offset 2)" in message and "offset 0" in message
    assert "\n" not in message


def test_an_offset_sync_that_does_not_hold_is_refused() -> None:
    where = "orders-0 (replica primary.orders-0), walked from offset-sync 120->118"
    with pytest.raises(DivergenceError, match=r"offset-sync 120->118.*offset 118.*offset 120"):
        match_replica(contiguous("xb", start=118), contiguous("ab", start=120), where=where)


def test_a_replica_record_missing_on_the_source_fails_naming_both_offsets() -> None:
    source = log((10, "a"), (11, "b"), (12, "c"), (13, "d"))
    replica = log((50, "a"), (51, "b"), (52, "X"), (53, "c"))

    with pytest.raises(DivergenceError) as err:
        match_replica(replica, source, where=WHERE)

    message = str(err.value)
    assert "replica record at offset 52" in message
    assert "next source record (offset 12)" in message
    assert "last matched: source 11" in message


def test_a_replica_longer_than_its_source_fails_instead_of_guessing() -> None:
    # The old primary lost records it had replicated (an unclean election): the replica holds
    # records its source no longer has.
    with pytest.raises(DivergenceError, match=r"offset 3 .*the source ends after offset 2"):
        match_replica(contiguous("abcd"), contiguous("abc"), where=WHERE)


def test_a_duplicate_older_than_the_window_is_not_recognised() -> None:
    source = contiguous("abcdef")
    replica = contiguous("abcda")

    assert match_replica(replica, source, where=WHERE, window=10).duplicates == 1
    with pytest.raises(DivergenceError, match="replica record at offset 4"):
        match_replica(replica, source, where=WHERE, window=3)


def test_records_of_aborted_transactions_may_or_may_not_have_been_copied() -> None:
    # a, b committed; x, y aborted (MirrorMaker reading uncommitted copies them, reading
    # committed does not); c committed; z of a transaction still open at the end.
    source = [(0, "a"), (1, "b"), (2, "x", True), (3, "y", True), (5, "c"), (7, "z", True)]

    uncommitted = match_replica(contiguous("abxyc"), source, where=WHERE)
    committed = match_replica(contiguous("abc"), source, where=WHERE)
    with_open = match_replica(contiguous("abxycz"), source, where=WHERE)

    assert uncommitted.source_offset == committed.source_offset == 5
    assert (uncommitted.matched, committed.matched) == (5, 3)
    assert with_open.source_offset == 7


def test_a_committed_record_is_never_skipped_like_an_aborted_one() -> None:
    source = [(0, "a"), (1, "x", True), (2, "b"), (3, "c")]

    with pytest.raises(
        DivergenceError, match=r"offset 2 is neither the next source record \(offset 2\)"
    ):
        match_replica(contiguous("axc"), source, where=WHERE)


def test_a_walk_from_the_log_starts_passes_aborted_records_the_replica_lacks() -> None:
    source = [(0, "x", True), (2, "a"), (3, "b")]

    assert match_replica(contiguous("a", start=7), source, where=WHERE).source_offset == 2
