"""Which backed-up ACL bindings a restore recreates, and under which names (the pure rule of
dr.backup.restore_acls), and where the step sits in the restore playbook."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dr.backup.restore import RestorePlan, RestoreResult
from dr.backup.restore_acls import Acl, AclPlan, RestoredAcl, missing_scram_users, select_acls
from dr.backup.restore_configs import ConfigPolicy
from dr.cli.restore import plan_json, result_json
from dr.config.load import parse_config
from dr.playbooks.restore import RestoreBook, acls_of, restore_params


def binding(
    name: str,
    *,
    kind: str = "TOPIC",
    pattern: str = "LITERAL",
    principal: str = "User:alice",
    operation: str = "READ",
    permission: str = "ALLOW",
    host: str = "*",
) -> dict[str, str]:
    return {
        "resource_type": kind,
        "name": name,
        "pattern_type": pattern,
        "principal": principal,
        "host": host,
        "operation": operation,
        "permission": permission,
    }


BACKED_UP = [
    binding("orders"),
    binding("orders", operation="WRITE", principal="User:bob"),
    binding("ord", pattern="PREFIXED", principal="User:carol"),
    binding("*", principal="User:auditor", operation="DESCRIBE"),
    binding("pay", pattern="PREFIXED"),
    binding("payments"),
    binding("billing", kind="GROUP"),
    binding("bill", kind="GROUP", pattern="PREFIXED"),
    binding("shipping", kind="GROUP"),
    binding("kafka-cluster", kind="BROKER", operation="ALTER", principal="User:ops"),
    binding("tx-1", kind="TRANSACTIONAL_ID", operation="WRITE"),
]


def names(selected: tuple[Any, ...]) -> list[tuple[str, str, str, str, str]]:
    return [
        (r.acl.resource_type, r.acl.name, r.acl.pattern_type, r.acl.principal, r.acl.operation)
        for r in selected
    ]


def test_a_literal_topic_binding_follows_the_topic_to_its_restored_name() -> None:
    selected, _ = select_acls(
        BACKED_UP, topics={"orders": "orders-copy"}, groups={}, mode="restored"
    )

    literal = [r for r in selected if r.acl.pattern_type == "LITERAL" and r.acl.name != "*"]
    assert names(tuple(literal)) == [
        ("TOPIC", "orders-copy", "LITERAL", "User:alice", "READ"),
        ("TOPIC", "orders-copy", "LITERAL", "User:bob", "WRITE"),
    ]
    assert literal[0].reason == "topic 'orders' restored as 'orders-copy'"


def test_prefixed_and_wildcard_bindings_covering_a_restored_topic_are_kept_as_they_are() -> None:
    selected, _ = select_acls(
        BACKED_UP, topics={"orders": "orders-copy"}, groups={}, mode="restored"
    )

    kept = {(r.acl.name, r.acl.pattern_type): r.reason for r in selected}
    assert kept[("ord", "PREFIXED")] == (
        "covers restored topic 'orders-copy' (kept as is, not renamed)"
    )
    assert ("*", "LITERAL") in kept
    assert ("pay", "PREFIXED") not in kept  # covers payments, which is not restored


def test_a_prefix_that_does_not_cover_the_restored_name_is_left_out() -> None:
    selected, left_out = select_acls(
        [binding("ord", pattern="PREFIXED")],
        topics={"orders": "x-orders"},
        groups={},
        mode="restored",
    )

    assert selected == ()
    assert left_out == 1


def test_group_bindings_come_only_for_the_restored_groups() -> None:
    without, _ = select_acls(BACKED_UP, topics={"orders": "orders"}, groups={}, mode="restored")
    with_groups, _ = select_acls(
        BACKED_UP, topics={"orders": "orders"}, groups={"billing": "billing"}, mode="restored"
    )

    assert [r for r in without if r.acl.resource_type == "GROUP"] == []
    assert [
        (r.acl.name, r.acl.pattern_type) for r in with_groups if r.acl.resource_type == "GROUP"
    ] == [("bill", "PREFIXED"), ("billing", "LITERAL")]


def test_cluster_and_other_bindings_need_acls_all() -> None:
    restored, left_out = select_acls(
        BACKED_UP, topics={"orders": "orders-copy"}, groups={}, mode="restored"
    )
    every, none_left = select_acls(
        BACKED_UP, topics={"orders": "orders-copy"}, groups={}, mode="all"
    )

    assert "BROKER" not in {r.acl.resource_type for r in restored}
    assert left_out == len(BACKED_UP) - len(restored)
    assert none_left == 0
    assert {r.acl.resource_type for r in every} == {"TOPIC", "GROUP", "BROKER", "TRANSACTIONAL_ID"}
    # the renamed topic's bindings are created for its new name only, even with --acls-all
    assert not any(r.acl.name == "orders" for r in every)
    assert ("TOPIC", "payments", "LITERAL", "User:alice", "READ") in names(every)


def test_deny_bindings_are_restored_like_allow_ones() -> None:
    deny = binding("orders", principal="User:eve", permission="DENY")
    selected, _ = select_acls([deny], topics={"orders": "orders-copy"}, groups={}, mode="restored")

    assert [r.acl for r in selected] == [Acl.of(deny | {"name": "orders-copy"})]
    assert selected[0].acl.describe() == "DENY User:eve READ on topic 'orders-copy'"


def test_bindings_that_map_to_the_same_one_are_created_once() -> None:
    backed_up = [binding("orders"), binding("orders-copy"), binding("orders")]

    selected, _ = select_acls(
        backed_up,
        topics={"orders": "orders-copy", "orders-copy": "orders-copy"},
        groups={},
        mode="all",
    )

    assert [r.acl for r in selected] == [Acl.of(binding("orders-copy"))]


def test_a_backup_without_acls_selects_nothing() -> None:
    selected, left_out = select_acls(
        "unavailable: the cluster has no authorizer",
        topics={"orders": "orders"},
        groups={},
        mode="all",
    )

    assert (selected, left_out) == ((), 0)


def test_the_plan_describes_each_binding_with_principal_operation_and_resource() -> None:
    assert Acl.of(binding("ord", pattern="PREFIXED", host="10.0.0.1")).describe() == (
        "ALLOW User:alice READ on topics prefixed 'ord' from host 10.0.0.1"
    )
    assert (
        Acl.of(binding("*", kind="GROUP")).describe()
        == "ALLOW User:alice READ on every group ('*')"
    )
    assert Acl.of(binding("kafka-cluster", kind="BROKER", operation="ALTER")).describe() == (
        "ALLOW User:alice ALTER on the cluster"
    )


def test_scram_users_missing_on_the_target_are_listed_for_creating_by_hand() -> None:
    backed_up = [
        {"user": "bob", "mechanisms": ["SCRAM_SHA_512"]},
        {"user": "alice", "mechanisms": ["SCRAM_SHA_256"]},
        {"user": "kafka-dr", "mechanisms": ["SCRAM_SHA_512"]},
    ]

    assert missing_scram_users(backed_up, {"kafka-dr"}) == ("alice", "bob")
    assert missing_scram_users("unavailable: refused", set()) == ()


def _book(tmp_path: Path, acls: str | None) -> RestoreBook:
    doc = {
        "clusters": {"dr": {"bootstrap_servers": "127.0.0.1:1"}},
        "storage": {"local": {"url": (tmp_path / "nowhere").as_uri()}},
        "backups": {"orders": {"cluster": "dr", "topics": ["orders"], "storage": "local"}},
    }
    settings = parse_config(json.dumps(doc), source="kafka-dr.yaml", base_dir=tmp_path)
    params = restore_params(
        backup_id="orders-20261201T031500Z",
        job="orders",
        to="dr",
        topics=None,
        renames={},
        until=None,
        groups=False,
        force=False,
        configs=ConfigPolicy(),
        verify="checksums",
        acls=acls,  # type: ignore[arg-type]
    )
    return RestoreBook(settings, json.loads(json.dumps(params)))


def test_the_acl_step_runs_before_any_topic_or_record_is_written_and_only_when_asked(
    tmp_path: Path,
) -> None:
    with_acls = [s.name for s in _book(tmp_path, "restored").playbook.steps]
    without = [s.name for s in _book(tmp_path, None).playbook.steps]

    assert with_acls == ["verify", "restore_acls", "create_topics", "write_records"]
    assert "restore_acls" not in without


def test_the_journaled_acl_outputs_read_back_as_bindings() -> None:
    outputs = {"created": [binding("orders-copy")], "existed": []}

    assert acls_of(outputs, "created") == (Acl.of(binding("orders-copy")),)
    assert acls_of({}, "existed") == ()


def test_the_json_plan_and_result_carry_the_acls_created_and_existing() -> None:
    created, existed = Acl.of(binding("orders-copy")), Acl.of(binding("ord", pattern="PREFIXED"))
    acls = AclPlan(
        "restored",
        (RestoredAcl(created, "topic 'orders' restored as 'orders-copy'", False),),
        left_out=2,
        scram_users_to_create=("alice",),
    )
    plan = RestorePlan("b-1", "dr", "cid", (), None, (), False, acls=acls)
    result = RestoreResult("b-1", "dr", 0, 0, {}, acls_created=(created,), acls_existed=(existed,))

    out = json.loads(json.dumps(plan_json(plan) | result_json(result)))

    assert out["acls"]["bindings"] == [
        binding("orders-copy")
        | {"reason": "topic 'orders' restored as 'orders-copy'", "exists": False}
    ]
    assert out["acls"]["scram_users_to_create"] == ["alice"]
    assert out["acls"]["left_out"] == 2
    assert out["acls_created"] == [binding("orders-copy")]
    assert out["acls_existed"] == [binding("ord", pattern="PREFIXED")]
    assert plan_json(RestorePlan("b-1", "dr", "cid", (), None, (), False))["acls"] is None
