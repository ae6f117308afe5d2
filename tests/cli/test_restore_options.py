"""Restore's command line: contradictions and malformed options are one-line usage errors,
and the documented --json form of a plan and a result."""

from __future__ import annotations

import json

import pytest

from dr.backup.restore import GroupSkip, RestorePlan, RestoreResult, TopicRestore
from dr.backup.restore_configs import ConfigChange
from dr.cli.restore import (
    check_topics_regex,
    parse_config_policy,
    parse_renames,
    plan_json,
    result_json,
)
from dr.errors import UsageError


def test_renames_map_each_source_to_its_target() -> None:
    assert parse_renames(("a=x", "b=y", "a=x")) == {"a": "x", "b": "y"}


@pytest.mark.parametrize(
    ("pairs", "named"),
    [
        (("a=x", "a=y"), ["'a'", "'x'", "'y'"]),
        (("a=x", "b=x"), ["'a'", "'b'", "'x'"]),
        (("a",), ["'a'", "SRC=DST"]),
        (("=x",), ["SRC=DST"]),
    ],
)
def test_a_contradictory_or_malformed_rename_is_refused_naming_it(
    pairs: tuple[str, ...], named: list[str]
) -> None:
    with pytest.raises(UsageError) as caught:
        parse_renames(pairs)

    assert "--rename" in caught.value.message
    assert all(n in caught.value.message for n in named)
    assert "\n" not in caught.value.message


def test_an_invalid_topics_regex_is_a_usage_error_naming_the_option() -> None:
    with pytest.raises(UsageError, match="--topics 'orders\\(' is not a valid regex"):
        check_topics_regex("orders(")
    check_topics_regex(r"orders\..*")
    check_topics_regex(None)


def test_config_options_become_the_policy() -> None:
    policy = parse_config_policy(
        ("retention.ms=3600000", "cleanup.policy=compact,delete"),
        ("retention.bytes",),
        keep_source=True,
    )

    assert policy.keep_source
    assert dict(policy.overrides) == {
        "retention.ms": "3600000",
        "cleanup.policy": "compact,delete",
    }
    assert policy.drops == frozenset({"retention.bytes"})


@pytest.mark.parametrize(
    ("pairs", "drops"),
    [
        (("retention.ms",), ()),
        (("retention.ms=",), ()),
        (("=5",), ()),
        (("Retention.Ms=5",), ()),
        (("retention.ms=1", "retention.ms=2"), ()),
        (("retention.ms=1",), ("retention.ms",)),
        ((), ("not a name",)),
    ],
)
def test_a_malformed_or_contradictory_config_option_is_refused(
    pairs: tuple[str, ...], drops: tuple[str, ...]
) -> None:
    with pytest.raises(UsageError) as caught:
        parse_config_policy(pairs, drops, keep_source=False)

    assert "--config" in caught.value.message or "--drop-config" in caught.value.message


def plan() -> RestorePlan:
    topic = TopicRestore(
        source="orders",
        target="orders-restored",
        partitions=3,
        replication_factor=1,
        configs={"retention.ms": "-1"},
        records=10,
        exists=False,
        target_records=0,
        config_changes=(ConfigChange("retention.ms", "604800000", "-1", "records would vanish"),),
    )
    return RestorePlan(
        backup_id="orders-20240501T000000000000Z",
        cluster="dr",
        cluster_id="abc",
        topics=(topic,),
        until_ms=None,
        groups=("billing",),
        resuming=False,
        group_skips=(GroupSkip("billing", "orders-restored", 3, 7, "no partition 3"),),
    )


def test_the_plan_json_reports_configs_changes_and_skipped_group_offsets() -> None:
    out = json.loads(json.dumps(plan_json(plan())))

    topic = out["topics"][0]
    assert topic["configs"] == {"retention.ms": "-1"}
    assert topic["config_changes"] == [
        {
            "key": "retention.ms",
            "source": "604800000",
            "restored": "-1",
            "reason": "records would vanish",
        }
    ]
    assert out["groups_skipped"] == [
        {
            "group": "billing",
            "topic": "orders-restored",
            "partition": 3,
            "offset": 7,
            "reason": "no partition 3",
        }
    ]
    # The fields the plan had before are all still there.
    assert {"backup_id", "cluster", "resuming", "until_ms", "groups", "gaps", "problems"} <= set(
        out
    )


def test_the_result_json_names_every_partition_complete() -> None:
    result = RestoreResult(
        backup_id="orders-20240501T000000000000Z",
        cluster="dr",
        records=10,
        already_present=0,
        topics={"orders-restored": 10},
        complete=("orders-restored-0", "orders-restored-1", "orders-restored-2"),
    )

    out = result_json(result)

    assert out["complete_partitions"] == [
        "orders-restored-0",
        "orders-restored-1",
        "orders-restored-2",
    ]
    assert out["incomplete_partitions"] == []
    assert {"records", "already_present", "topics_restored", "groups", "seconds"} <= set(out)
