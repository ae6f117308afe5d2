"""The ACL plan: exact Kafka bindings per cluster and principal, with reasons, for kafka-dr
and for MirrorMaker 2, and the regexes no Kafka pattern expresses."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
)

from dr.cli import cli
from dr.config.load import parse_config
from dr.config.schema import Settings
from dr.errors import UsageError
from dr.preflight.acl_plan import AclPlan, PlannedAcl, plan_acls, plan_json

SASL = {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512"}


def config(**sections: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "clusters": {
            "prod": {"bootstrap_servers": "prod:9092", "client": {**SASL, "sasl.username": "dr"}},
            "dr": {"bootstrap_servers": "dr:9092"},
        },
        "storage": {"local": {"url": "file:///tmp/kafka-dr-plan-store"}},
        "backups": {"demo": {"cluster": "prod", "topics": [r"demo\..*"], "storage": "local"}},
    }
    doc.update(sections)
    return doc


def settings(tmp_path: Path, **sections: Any) -> Settings:
    return parse_config(json.dumps(config(**sections)), source="kafka-dr.yaml", base_dir=tmp_path)


def find(plan: AclPlan, **fields: Any) -> list[PlannedAcl]:
    """The bindings with these fields, leaving out those only status needs (on any cluster)."""
    return [
        b
        for b in plan.bindings
        if all(getattr(b, k) == v for k, v in fields.items())
        and not all(r.startswith("status and the daemon") for r in b.reasons)
    ]


def only(plan: AclPlan, **fields: Any) -> PlannedAcl:
    found = find(plan, **fields)
    assert len(found) == 1, (fields, found)
    return found[0]


MIRROR = {
    "mirror": {
        "flows": [
            {
                "source": "prod",
                "target": "dr",
                "topics": ["orders|payments"],
                "groups": ["app-1|app-2"],
            }
        ]
    }
}


def test_a_backup_job_needs_read_on_its_topics_as_a_prefix_for_its_sasl_user(
    tmp_path: Path,
) -> None:
    plan = plan_acls(settings(tmp_path))

    read = only(plan, cluster="prod", operation="READ", resource_type="TOPIC")
    assert (read.principal, read.pattern_type, read.resource_name) == (
        "User:dr",
        "PREFIXED",
        "demo.",
    )
    assert read.reasons[0] == "backup job demo: reads its topics' records"
    assert read.critical
    write = only(plan, cluster="prod", operation="WRITE", resource_type="TOPIC")
    assert not write.critical  # only a restore, run by hand, writes
    assert only(plan, resource_type="CLUSTER", operation="DESCRIBE").resource_name == (
        "kafka-cluster"
    )
    group = only(plan, resource_type="GROUP", operation="DESCRIBE")
    assert (group.pattern_type, group.resource_name) == ("LITERAL", "*")
    assert not find(plan, cluster="dr")  # nothing runs against dr


def test_the_command_line_is_what_kafka_acls_takes(tmp_path: Path) -> None:
    plan = plan_acls(settings(tmp_path))

    read = only(plan, cluster="prod", operation="DESCRIBE_CONFIGS", resource_type="TOPIC")
    assert shlex.split(read.command("prod:9092")) == [
        "kafka-acls",
        "--bootstrap-server",
        "prod:9092",
        "--add",
        "--allow-principal",
        "User:dr",
        "--operation",
        "DescribeConfigs",
        "--topic",
        "demo.",
        "--resource-pattern-type",
        "prefixed",
    ]
    groups = only(plan, resource_type="GROUP", operation="DESCRIBE").command("prod:9092")
    assert groups.endswith("--group '*'")  # quoted: a shell would expand it
    cluster = only(plan, resource_type="CLUSTER", operation="DESCRIBE").command("prod:9092")
    assert cluster.endswith("--operation Describe --cluster")


def test_the_command_line_carries_the_command_config_file_when_given(tmp_path: Path) -> None:
    plan = plan_acls(settings(tmp_path))

    read = only(plan, cluster="prod", operation="READ", resource_type="TOPIC")
    words = shlex.split(read.command("prod:9092", "/etc/kafka/admin client.properties"))

    assert words[:6] == [
        "kafka-acls",
        "--bootstrap-server",
        "prod:9092",
        "--command-config",
        "/etc/kafka/admin client.properties",
        "--add",
    ]


def plan_output(tmp_path: Path, *args: str) -> tuple[list[str], dict[str, Any]]:
    """The command lines `acls plan ARGS` prints for a SASL_SSL cluster 'prod' and a PLAINTEXT
    cluster 'dr' (a mirror flow's target), and its --json."""
    path = tmp_path / "kafka-dr.yaml"
    path.write_text(json.dumps(config(**MIRROR)))
    base = ["--config", str(path), "acls", "plan", *args]
    text = CliRunner().invoke(cli, base)
    as_json = CliRunner().invoke(cli, [*base, "--json"])
    assert text.exit_code == 0 and as_json.exit_code == 0, text.output + as_json.output
    return text.stdout.splitlines(), json.loads(as_json.stdout)


def commands_on(lines: list[str], bootstrap: str) -> list[list[str]]:
    prefix = f"kafka-acls --bootstrap-server {bootstrap} "
    return [shlex.split(line.split("   #")[0]) for line in lines if line.startswith(prefix)]


def test_commands_for_a_secured_cluster_carry_a_command_config_placeholder_to_replace(
    tmp_path: Path,
) -> None:
    lines, as_json = plan_output(tmp_path)

    on_prod, on_dr = commands_on(lines, "prod:9092"), commands_on(lines, "dr:9092")
    assert on_prod and on_dr
    assert all(c[3:5] == ["--command-config", "<admin-client.properties>"] for c in on_prod)
    assert not any("--command-config" in c for c in on_dr)  # PLAINTEXT: nothing to give
    assert any(line.startswith("note: replace <admin-client.properties>") for line in lines)
    prod_json = [b["command"] for b in as_json["bindings"] if b["cluster"] == "prod"]
    assert all("--command-config '<admin-client.properties>'" in c for c in prod_json)


def test_acls_plan_command_config_names_the_file_in_every_command(tmp_path: Path) -> None:
    lines, as_json = plan_output(tmp_path, "--command-config", "/etc/kafka/admin.properties")

    commands = commands_on(lines, "prod:9092") + commands_on(lines, "dr:9092")
    assert commands
    assert all(c[3:5] == ["--command-config", "/etc/kafka/admin.properties"] for c in commands)
    assert not any("<admin-client.properties>" in line for line in lines)
    assert all(
        "--command-config /etc/kafka/admin.properties" in b["command"] for b in as_json["bindings"]
    )


def test_a_planned_acl_becomes_the_binding_create_acls_takes(tmp_path: Path) -> None:
    plan = plan_acls(settings(tmp_path))

    read = only(plan, cluster="prod", operation="READ", resource_type="TOPIC").binding()
    assert read.restype == ResourceType.TOPIC
    assert read.resource_pattern_type == ResourcePatternType.PREFIXED
    assert (read.name, read.principal, read.host) == ("demo.", "User:dr", "*")
    assert read.operation == AclOperation.READ
    assert read.permission_type == AclPermissionType.ALLOW
    cluster = only(plan, resource_type="CLUSTER", operation="DESCRIBE").binding()
    assert (cluster.restype, cluster.name) == (ResourceType.BROKER, "kafka-cluster")


def test_without_a_sasl_user_the_principal_is_a_placeholder_until_given(tmp_path: Path) -> None:
    doc = {"backups": {"demo": {"cluster": "dr", "topics": ["orders"], "storage": "local"}}}

    plan = plan_acls(settings(tmp_path, **doc))

    assert {b.principal for b in plan.on("dr")} == {"User:<kafka-dr principal>"}
    assert any("cannot be known from the config" in n and "--principal" in n for n in plan.notes)

    given = plan_acls(settings(tmp_path, **doc), principal="User:CN=kafka-dr")
    assert {b.principal for b in given.on("dr")} == {"User:CN=kafka-dr"}
    assert not given.notes


def test_a_regex_no_kafka_pattern_expresses_is_listed_apart_with_a_warning(
    tmp_path: Path,
) -> None:
    plan = plan_acls(settings(tmp_path, **MIRROR))

    assert not find(plan, resource_name="orders|payments")
    mine = [u for u in plan.unexpressible if u.principal == "User:dr" and u.cluster == "prod"]
    assert len(mine) == 2  # topics and groups
    topics = next(u for u in mine if u.resource_type == "TOPIC")
    assert topics.regex == "orders|payments"
    assert {"DESCRIBE", "READ", "DESCRIBE_CONFIGS", "WRITE"} <= set(topics.operations)
    assert "one by one" in topics.warning and "--resolve" in topics.warning


def test_resolving_plans_a_literal_binding_for_each_matching_name_that_exists(
    tmp_path: Path,
) -> None:
    existing = {
        ("prod", "topic"): ["orders", "payments", "orders-tmp", "audit"],
        ("prod", "group"): ["app-1", "other"],
        ("dr", "topic"): [],
        ("dr", "group"): ["app-1"],
    }

    plan = plan_acls(settings(tmp_path, **MIRROR), names=lambda c, k: existing[(c, k)])

    reads = find(
        plan, cluster="prod", principal="User:dr", operation="READ", pattern_type="LITERAL"
    )
    assert {b.resource_name for b in reads} >= {"orders", "payments"}
    assert not find(plan, resource_name="orders-tmp") and not find(plan, resource_name="audit")
    groups = find(plan, cluster="prod", principal="User:dr", resource_type="GROUP")
    assert {b.resource_name for b in groups if b.operation == "DESCRIBE"} == {"app-1", "*"}
    assert not plan.unexpressible
    assert any("a topic created later needs its own bindings" in n for n in plan.notes)


def test_mirror_maker_needs_on_source_and_target_for_a_dedicated_flow(tmp_path: Path) -> None:
    doc = {"mirror": {"flows": [{"source": "prod", "target": "dr", "sync_group_offsets": True}]}}

    plan = plan_acls(settings(tmp_path, **doc), principal="User:kafka-dr")

    mm2 = "User:<mirrormaker principal>"  # dr's client has no sasl.username
    src = {(b.resource_name, b.operation) for b in find(plan, cluster="prod", principal="User:dr")}
    assert {
        ("mm2-offset-syncs.dr.internal", op) for op in ("READ", "WRITE", "CREATE", "DESCRIBE")
    } <= src
    assert ("*", "DESCRIBE_CONFIGS") in src  # topics '.*' is every topic
    target = {(b.resource_name, b.operation) for b in find(plan, cluster="dr", principal=mm2)}
    for op in ("CREATE", "WRITE", "DESCRIBE", "ALTER_CONFIGS", "DESCRIBE_CONFIGS"):
        assert ("prod.", op) in target
    for topic in ("mm2-offsets.prod.internal", "mm2-configs.prod.internal", "heartbeats"):
        assert (topic, "CREATE") in target and (topic, "WRITE") in target
    assert ("prod.checkpoints.internal", "WRITE") in target
    assert ("prod-mm2", "READ") in target and ("*", "READ") in target  # sync_group_offsets
    assert {("kafka-cluster", op) for op in ("CREATE", "DESCRIBE", "DESCRIBE_CONFIGS")} <= target
    assert only(plan, cluster="dr", principal=mm2, resource_type="CLUSTER", operation="ALTER")
    assert any("MirrorMaker 2 on cluster 'dr'" in n for n in plan.notes)


def test_mirror_makers_own_client_settings_name_its_principal(tmp_path: Path) -> None:
    plan = plan_acls(settings(tmp_path, **MIRROR))

    prod = [p for p in plan.principals if p.cluster == "prod"]
    assert [(p.role, p.principal) for p in prod] == [
        ("kafka-dr", "User:dr"),
        ("MirrorMaker 2", "User:dr"),  # no mirror.clients: the cluster's own client settings
    ]


def test_one_binding_per_pattern_and_operation_with_every_reason(tmp_path: Path) -> None:
    doc = {
        "backups": {
            "a": {"cluster": "prod", "topics": [r"demo\..*"], "storage": "local"},
            "b": {"cluster": "prod", "topics": [r"demo\..*"], "storage": "local"},
        }
    }

    plan = plan_acls(settings(tmp_path, **doc))

    read = only(plan, cluster="prod", operation="READ", resource_type="TOPIC")
    assert "backup job a: reads its topics' records" in read.reasons
    assert "backup job b: reads its topics' records" in read.reasons
    keys = [
        (b.cluster, b.principal, b.resource_type, b.resource_name, b.pattern_type, b.operation)
        for b in plan.bindings
    ]
    assert len(keys) == len(set(keys))


def test_an_unknown_cluster_or_a_bad_principal_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no cluster 'nope' in the config"):
        plan_acls(settings(tmp_path), cluster="nope")
    with pytest.raises(UsageError, match="principal 'bob' is not TYPE:NAME"):
        plan_acls(settings(tmp_path), principal="bob")


def test_the_json_document_is_stable(tmp_path: Path) -> None:
    s = settings(tmp_path, **MIRROR)

    doc = plan_json(plan_acls(s, cluster="prod"), s)

    assert doc["schema"] == "kafka-dr.acl-plan/1"
    assert [c["name"] for c in doc["clusters"]] == ["prod"]
    first = doc["bindings"][0]
    assert set(first) == {
        "cluster", "principal", "resource_type", "pattern_type", "resource_name", "operation",
        "host", "permission", "critical", "reasons", "command",
    }  # fmt: skip
    assert doc["unexpressible"][0]["warning"]
    json.dumps(doc)  # serialisable as is


def test_the_cli_prints_the_plan_and_exits_2_on_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "kafka-dr.yaml"
    path.write_text(json.dumps(config()))
    runner = CliRunner()

    ok = runner.invoke(cli, ["--config", str(path), "acls", "plan", "--cluster", "prod"])
    bad = runner.invoke(cli, ["--config", str(path), "acls", "plan", "--cluster", "nope"])
    as_json = runner.invoke(cli, ["--config", str(path), "acls", "plan", "--json"])

    assert ok.exit_code == 0, ok.output
    assert (
        "kafka-acls --bootstrap-server prod:9092 --command-config '<admin-client.properties>' "
        "--add --allow-principal User:dr --operation Read --topic demo. "
        "--resource-pattern-type prefixed   # backup job demo: reads its topics' records"
    ) in ok.stdout
    assert bad.exit_code == 2
    assert bad.stderr.strip() == ("error: no cluster 'nope' in the config (its clusters: prod, dr)")
    assert json.loads(as_json.stdout)["schema"] == "kafka-dr.acl-plan/1"
