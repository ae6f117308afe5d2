"""`kafka-dr restore --acls` on real brokers: a backup of a topic of a broker with SASL/PLAIN and
the StandardAuthorizer, restored under a new name onto the same broker, brings the topic's
LITERAL bindings (ALLOW and DENY) to the new name and reports the PREFIXED one (kept as is);
--dry-run creates nothing; a principal that may not create ACLs is refused in one line; onto
the session lab's plaintext cluster (no authorizer) it stops before writing anything, in one
line.

The secured broker is test_check_secured's (this module starts its own instance).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import Producer
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from dr.kafka.client import librdkafka_logger
from dr.lab.nodes import free_ports
from integration.conftest import RunningLab, run_cli
from integration.test_check_secured import (  # noqa: F401  (secured: the broker fixture)
    ADMIN,
    ADMIN_PW,
    USER,
    USER_PW,
    SecuredBroker,
    grant,
    secured,
)

TOPIC, RENAMED = "acls.t", "acls.t2"
SASL = {
    "security.protocol": "SASL_PLAINTEXT",
    "sasl.mechanism": "PLAIN",
    "sasl.username": ADMIN,
    "sasl.password": ADMIN_PW,
}


def acl(name: str, principal: str, op: Any, *, prefixed: bool = False, deny: bool = False) -> Any:
    return AclBinding(
        ResourceType.TOPIC,
        name,
        ResourcePatternType.PREFIXED if prefixed else ResourcePatternType.LITERAL,
        principal,
        "*",
        op,
        AclPermissionType.DENY if deny else AclPermissionType.ALLOW,
    )


ALICE_READ = acl(TOPIC, "User:alice", AclOperation.READ)
EVE_DENIED = acl(TOPIC, "User:eve", AclOperation.WRITE, deny=True)
BOB_PREFIXED = acl("acls.", "User:bob", AclOperation.READ, prefixed=True)
CAROL_OTHER = acl("other.x", "User:carol", AclOperation.READ)  # no restored topic: left out


def topic_acls(admin: AdminClient, name: str) -> set[tuple[str, str, str, str]]:
    """(principal, operation, permission, pattern type) of the bindings on topic ``name``."""
    anything: Any = None
    flt = AclBindingFilter(
        ResourceType.TOPIC,
        name,
        ResourcePatternType.LITERAL,
        anything,
        anything,
        AclOperation.ANY,
        AclPermissionType.ANY,
    )
    return {
        (b.principal, b.operation.name, b.permission_type.name, b.resource_pattern_type.name)
        for b in admin.describe_acls(flt).result(30)
    }


def as_dict(binding: Any) -> dict[str, str]:
    return {
        "resource_type": binding.restype.name,
        "name": binding.name,
        "pattern_type": binding.resource_pattern_type.name,
        "principal": binding.principal,
        "host": binding.host,
        "operation": binding.operation.name,
        "permission": binding.permission_type.name,
    }


@pytest.fixture(scope="module")
def backed_up(
    secured: SecuredBroker,  # noqa: F811
    lab: RunningLab,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """The config (the secured broker, and the lab's plaintext 'dr') after a backup of TOPIC
    taken with its ACLs and a SCRAM user 'alice', who is deleted since."""
    admin = secured.admin
    admin.create_topics([NewTopic(TOPIC, 2, 1)])[TOPIC].result(30)
    for future in admin.create_acls([ALICE_READ, EVE_DENIED, BOB_PREFIXED, CAROL_OTHER]).values():
        future.result(30)
    alice = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096)
    upsert = UserScramCredentialUpsertion("alice", alice, b"alice-secret")
    admin.alter_user_scram_credentials([upsert])["alice"].result(30)
    producer = Producer(
        {"bootstrap.servers": secured.bootstrap, **SASL}, logger=librdkafka_logger()
    )
    for i in range(20):
        producer.produce(TOPIC, key=str(i).encode(), value=b"v%d" % i, partition=i % 2)
    assert producer.flush(30) == 0

    tmp = tmp_path_factory.mktemp("restore-acls")
    doc = {
        "clusters": {
            "secured": {"bootstrap_servers": secured.bootstrap, "client": dict(SASL)},
            "dr": {"bootstrap_servers": lab.bootstrap("dr")},
            "limited": {
                "bootstrap_servers": secured.bootstrap,
                "client": SASL | {"sasl.username": USER, "sasl.password": USER_PW},
            },
        },
        "storage": {"local": {"url": (tmp / "store").as_uri()}},
        "backups": {"acls": {"cluster": "secured", "topics": [r"acls\.t"], "storage": "local"}},
        "tools": {"kafka_version": secured.kafka_version},
        "daemon": {"listen": f"127.0.0.1:{free_ports(1)[0]}"},
        "state": str(tmp / "state.db"),
    }
    path = tmp / "kafka-dr.yaml"
    path.write_text(yaml.safe_dump(doc))
    proc = cli(path, "backup", "run", "acls", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    deletion = UserScramCredentialDeletion("alice", ScramMechanism.SCRAM_SHA_256)
    admin.alter_user_scram_credentials([deletion])["alice"].result(30)
    return path


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("--config", str(config), *args, timeout=300)


def restore_json(config: Path, *args: str) -> tuple[int, dict[str, Any]]:
    proc = cli(config, "restore", "latest", "--rename", f"{TOPIC}={RENAMED}", *args, "--json")
    try:
        return proc.returncode, json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"exit {proc.returncode}: {proc.stdout}{proc.stderr}") from None


def test_a_dry_run_lists_the_bindings_and_creates_nothing(
    secured: SecuredBroker,  # noqa: F811
    backed_up: Path,
) -> None:
    code, plan = restore_json(backed_up, "--to", "secured", "--acls", "--dry-run")

    assert code == 0, plan
    bindings = {(b["principal"], b["name"], b["pattern_type"]): b for b in plan["acls"]["bindings"]}
    assert set(bindings) == {
        ("User:alice", RENAMED, "LITERAL"),
        ("User:eve", RENAMED, "LITERAL"),
        ("User:bob", "acls.", "PREFIXED"),
    }
    assert bindings[("User:eve", RENAMED, "LITERAL")]["permission"] == "DENY"
    assert bindings[("User:alice", RENAMED, "LITERAL")]["exists"] is False
    assert bindings[("User:bob", "acls.", "PREFIXED")]["exists"] is True
    assert "not renamed" in bindings[("User:bob", "acls.", "PREFIXED")]["reason"]
    assert plan["acls"]["left_out"] >= 1  # carol's binding on other.x
    assert plan["acls"]["scram_users_to_create"] == ["alice"]
    assert "restore_acls" in [s["name"] for s in plan["steps"]]
    assert topic_acls(secured.admin, RENAMED) == set()
    assert RENAMED not in secured.admin.list_topics(timeout=30).topics

    text = cli(backed_up, "restore", "latest", "--to", "secured", "--rename",
               f"{TOPIC}={RENAMED}", "--acls", "--dry-run")  # fmt: skip
    assert text.returncode == 0, text.stderr
    assert f"ALLOW User:alice READ on topic '{RENAMED}'" in text.stdout
    assert "DENY User:eve WRITE" in text.stdout
    assert "users to create by hand: alice (their passwords are never backed up)" in text.stdout


def test_a_restore_with_acls_gives_the_renamed_topic_its_bindings(
    secured: SecuredBroker,  # noqa: F811
    backed_up: Path,
) -> None:
    code, out = restore_json(backed_up, "--to", "secured", "--acls", "--yes")

    assert code == 0, out
    assert out["records"] == 20
    assert topic_acls(secured.admin, RENAMED) == {
        ("User:alice", "READ", "ALLOW", "LITERAL"),
        ("User:eve", "WRITE", "DENY", "LITERAL"),
    }
    assert sorted(b["principal"] for b in out["acls_created"]) == ["User:alice", "User:eve"]
    assert out["acls_existed"] == [as_dict(BOB_PREFIXED)]
    assert not any(b["name"] == "other.x" for b in out["acls_created"] + out["acls_existed"])


def test_restoring_acls_onto_a_cluster_without_an_authorizer_stops_before_any_record(
    lab: RunningLab, backed_up: Path
) -> None:
    target = "acls.noauth"
    proc = cli(backed_up, "restore", "latest", "--to", "dr", "--rename", f"{TOPIC}={target}",
               "--acls", "--yes")  # fmt: skip

    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "cluster 'dr' has no authorizer: its ACLs cannot be restored (drop --acls)" in lines[0]
    dr = AdminClient({"bootstrap.servers": lab.bootstrap("dr")}, logger=librdkafka_logger())
    assert target not in dr.list_topics(timeout=30).topics


def test_a_principal_that_may_not_create_acls_is_refused_in_one_line_before_any_topic(
    secured: SecuredBroker,  # noqa: F811
    backed_up: Path,
) -> None:
    target = "acls.limited"
    args = ("restore", "latest", "--to", "limited", "--rename", f"{TOPIC}={target}", "--acls")
    refused = (
        f"not authorized to ALTER the cluster (to create ACLs) on cluster 'limited' as User:{USER}"
    )

    # Not even DESCRIBE on the cluster: the plan refuses, nothing is created.
    proc = cli(backed_up, *args, "--yes")
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [f"error: restore refused: {refused}: grant it "
                                                "(see 'kafka-dr acls plan')"]  # fmt: skip

    # DESCRIBE but not ALTER: refused too (the SCRAM users can be read now).
    grant(secured, ResourceType.BROKER, "kafka-cluster", ResourcePatternType.LITERAL,
          AclOperation.DESCRIBE)  # fmt: skip
    proc = cli(backed_up, *args, "--yes")
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and refused in lines[0], proc.stderr
    assert target not in secured.admin.list_topics(timeout=30).topics
    assert topic_acls(secured.admin, target) == set()
