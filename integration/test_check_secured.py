"""`kafka-dr check` against a secured broker: SASL/PLAIN with the StandardAuthorizer. Refused
credentials fail the authentication check at once; the ACLs kafka-dr needs for a backup job
are judged from what the broker really grants its user.

The broker is a one-node KRaft cluster of its own, started with the lab's helpers from the
same jars (the lab's clusters run without authentication).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from dr.kafka.client import librdkafka_logger
from dr.kafka.jars import kafka_jars
from dr.lab import processes
from dr.lab.nodes import (
    NodeSpec,
    format_storage,
    free_ports,
    new_cluster_id,
    start_node,
    write_node_files,
)
from integration.conftest import LAB_VERSION, run_cli

ADMIN, ADMIN_PW = "admin", "admin-secret"
USER, USER_PW = "kafkadr", "kafkadr-secret"
JAAS = (
    "org.apache.kafka.common.security.plain.PlainLoginModule required "
    f'username="{ADMIN}" password="{ADMIN_PW}" '
    f'user_{ADMIN}="{ADMIN_PW}" user_{USER}="{USER_PW}";'
)


@dataclass(frozen=True)
class SecuredBroker:
    bootstrap: str
    admin: AdminClient
    kafka_version: str


def secured_properties(node: NodeSpec) -> dict[str, str]:
    return {
        "listeners": f"SASL_PLAINTEXT://127.0.0.1:{node.port},"
        f"CONTROLLER://127.0.0.1:{node.controller_port}",
        "advertised.listeners": f"SASL_PLAINTEXT://127.0.0.1:{node.port}",
        "inter.broker.listener.name": "SASL_PLAINTEXT",
        "listener.security.protocol.map": "SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
        "sasl.enabled.mechanisms": "PLAIN",
        "sasl.mechanism.inter.broker.protocol": "PLAIN",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": JAAS,
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        # The controller listener is PLAINTEXT: its requests come from ANONYMOUS.
        "super.users": f"User:{ADMIN};User:ANONYMOUS",
    }


def admin_client(bootstrap: str) -> AdminClient:
    conf = {
        "bootstrap.servers": bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "PLAIN",
        "sasl.username": ADMIN,
        "sasl.password": ADMIN_PW,
    }
    return AdminClient(conf, logger=librdkafka_logger())  # quiet while the broker starts


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredBroker]:
    jars = kafka_jars(LAB_VERSION)
    home = tmp_path_factory.mktemp("secured")
    port, controller_port = free_ports(2)
    node = NodeSpec("secured", 1, port, controller_port, home / "node-1")
    write_node_files(node, [node], home)
    props = dict(
        line.split("=", 1) for line in node.config_file.read_text().splitlines() if "=" in line
    )
    props.update(secured_properties(node))
    node.config_file.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    format_storage(node, jars, new_cluster_id())
    pid = start_node(node, jars, home)
    bootstrap = f"127.0.0.1:{port}"
    try:
        admin = admin_client(bootstrap)
        _wait_ready(admin, pid, node)
        yield SecuredBroker(bootstrap, admin, jars.version)
    finally:
        processes.stop(pid, node.marker, grace_s=30)


def _wait_ready(admin: AdminClient, pid: int, node: NodeSpec) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert processes.is_running(pid, node.marker), (node.logs / "stdout.log").read_text()
        try:
            if "demo.orders" not in admin.list_topics(timeout=5).topics:
                admin.create_topics([NewTopic("demo.orders", 1, 1)])["demo.orders"].result(30)
            return
        except KafkaException:
            time.sleep(1)
    raise AssertionError("the secured broker did not start within 120 s")


def grant(broker: SecuredBroker, kind: Any, name: str, pattern: Any, *ops: Any) -> None:
    bindings = [
        AclBinding(kind, name, pattern, f"User:{USER}", "*", op, AclPermissionType.ALLOW)
        for op in ops
    ]
    for future in broker.admin.create_acls(bindings).values():
        future.result(30)


def config(broker: SecuredBroker, tmp_path: Path, *, password: str = USER_PW) -> Path:
    doc = {
        "clusters": {
            "secured": {
                "bootstrap_servers": broker.bootstrap,
                "client": {
                    "security.protocol": "SASL_PLAINTEXT",
                    "sasl.mechanism": "PLAIN",
                    "sasl.username": USER,
                    "sasl.password": password,
                },
            }
        },
        "storage": {"local": {"url": (tmp_path / "store").as_uri()}},
        "backups": {"demo": {"cluster": "secured", "topics": [r"demo\..*"], "storage": "local"}},
        "tools": {"kafka_version": broker.kafka_version},
        "daemon": {"listen": f"127.0.0.1:{free_ports(1)[0]}"},
        "state": str(tmp_path / "state.db"),
    }
    path = tmp_path / "kafka-dr.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def check(path: Path) -> tuple[int, dict[str, dict[str, Any]]]:
    proc = run_cli("--config", str(path), "check", "--json", timeout=120)
    try:
        doc = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(proc.stdout + proc.stderr) from None
    return proc.returncode, {c["name"]: c for c in doc["checks"]}


def test_a_refused_password_fails_the_authentication_check_at_once(
    secured: SecuredBroker, tmp_path: Path
) -> None:
    started = time.monotonic()
    code, checks = check(config(secured, tmp_path, password="wrong-password"))
    took = time.monotonic() - started

    assert code == 1
    assert checks["cluster secured reachable"]["status"] == "ok"
    auth = checks["cluster secured authenticated"]
    assert auth["status"] == "fail"
    assert auth["detail"].startswith(f"SASL_PLAINTEXT PLAIN as user {USER} refused: ")
    assert "wrong-password" not in json.dumps(checks)
    assert "cluster secured ACLs" not in checks
    assert took < 10.0, f"took {took:.1f}s"


def test_acls_missing_for_a_backup_job_fail_the_check_naming_the_operation_and_topic(
    secured: SecuredBroker, tmp_path: Path
) -> None:
    grant(
        secured,
        ResourceType.BROKER,
        "kafka-cluster",
        ResourcePatternType.LITERAL,
        AclOperation.DESCRIBE,
    )
    grant(secured, ResourceType.TOPIC, "demo.", ResourcePatternType.PREFIXED, AclOperation.READ)
    grant(secured, ResourceType.GROUP, "*", ResourcePatternType.LITERAL, AclOperation.DESCRIBE)

    code, checks = check(config(secured, tmp_path))

    assert checks["cluster secured authenticated"]["detail"] == (
        f"SASL_PLAINTEXT PLAIN as user {USER}: accepted"
    )
    acls = checks["cluster secured ACLs"]
    assert code == 1 and acls["status"] == "fail", acls
    assert (
        r"DESCRIBE_CONFIGS on topics matching 'demo\..*' (no DESCRIBE_CONFIGS on topic "
        "'demo.orders'; for backup job demo: saves its topics' configs)"
    ) in acls["detail"]
    assert "no READ on topic 'demo.orders'" not in acls["detail"]  # READ was granted
    assert checks["cluster secured KRaft quorum"]["status"] == "ok"

    grant(
        secured,
        ResourceType.TOPIC,
        "demo.",
        ResourcePatternType.PREFIXED,
        AclOperation.DESCRIBE_CONFIGS,
    )
    code, checks = check(config(secured, tmp_path))

    acls = checks["cluster secured ACLs"]
    assert acls["status"] == "warn", acls  # only what a restore needs is left
    assert "WRITE on topics matching 'demo\\..*'" in acls["detail"]
    assert "restore of backup job demo" in acls["detail"]
    assert code == 0
