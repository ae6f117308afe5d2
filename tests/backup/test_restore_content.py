"""Records a target topic would refuse are found before the first write, and named."""

from __future__ import annotations

from dr.backup.catalog import SegmentRef
from dr.backup.restore_configs import fitted_producer, fitting_batch_size
from dr.backup.restore_content import KeylessRecord, keyless_offset
from dr.backup.restore_plan import TopicRestore
from dr.backup.restore_read import CheckedSegment

REF = SegmentRef("k", 0, 10, 3, 1, "sha", 1_000, 3_000)


def segment(*keys: bytes | None) -> CheckedSegment:
    records = [(i, 1_000 * (i + 1), 1, key, b"v", None) for i, key in enumerate(keys)]
    return CheckedSegment(REF, records)  # type: ignore[arg-type]


def topic(*, exists: bool, configs: dict[str, str], in_force: dict[str, str]) -> TopicRestore:
    return TopicRestore("src", "dst", 3, 1, configs, 10, exists, 0, in_force=in_force)


def test_the_first_record_without_a_key_is_found_by_its_offset() -> None:
    assert keyless_offset(segment(b"a", None, None), None) == 1
    assert keyless_offset(segment(b"a", b"b"), None) is None


def test_a_record_without_a_key_after_until_is_not_written_so_not_refused() -> None:
    assert keyless_offset(segment(b"a", b"b", None), 2_000) is None
    assert keyless_offset(segment(b"a", None), 2_000) == 1


def test_a_new_topic_compacts_as_the_restore_creates_it_an_existing_one_as_it_is() -> None:
    new = topic(exists=False, configs={"cleanup.policy": "compact"}, in_force={})
    existing = topic(
        exists=True, configs={"cleanup.policy": "compact"}, in_force={"cleanup.policy": "delete"}
    )
    both = topic(exists=True, configs={}, in_force={"cleanup.policy": "compact,delete"})
    assert new.compacted and not existing.compacted and both.compacted


def test_the_refusal_names_the_record_the_topic_and_a_fix_that_works() -> None:
    new = topic(exists=False, configs={"cleanup.policy": "compact"}, in_force={})
    existing = topic(exists=True, configs={}, in_force={"cleanup.policy": "compact"})

    for_new = KeylessRecord(new, 2, 41).message()
    for_existing = KeylessRecord(existing, 2, 41).message()

    assert "src-2" in for_new and "offset 41" in for_new and "'dst'" in for_new
    assert "--config cleanup.policy=delete" in for_new
    assert "set cleanup.policy=delete on topic 'dst'" in for_existing


def test_batches_fit_the_smallest_max_message_bytes_of_the_targets() -> None:
    assert fitting_batch_size(["2000", None, "1048588"], 1_000_000) == 1_500
    assert fitting_batch_size(["104857600"], 1_000_000) == 1_000_000
    assert fitting_batch_size([None, "not a number"], 1_000_000) == 1_000_000


def test_the_producer_keeps_its_own_smaller_batches_and_gets_smaller_ones_when_needed() -> None:
    assert fitted_producer({"batch.size": 1_000}, limits=["100000"]) == {"batch.size": 1_000}
    assert fitted_producer(None, limits=["10000"]) == {"batch.size": 9_488}
    assert fitted_producer({"linger.ms": 5}, limits=[None]) == {"linger.ms": 5}
