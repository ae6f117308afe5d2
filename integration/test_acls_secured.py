"""`kafka-dr acls plan` against real brokers: the plan of a backup job, applied as is to a broker
with SASL/PLAIN and the StandardAuthorizer, is enough for `backup run`; without one of its
bindings the backup fails naming what to grant, and `kafka-dr check` names the missing ACL.
And the plan of the lab's config, as JSON, with --resolve asking the lab's clusters.

The secured broker is test_check_secured's: a one-node KRaft cluster of its own, started from
the same jars (this module starts its own instance).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka import Producer
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBindingFilter,
    AclPermissionType,
    AdminClient,
    NewTopic,
)

from dr.config import load_config
from dr.kafka.client import librdkafka_logger
from dr.preflight.acl_plan import PlannedAcl, plan_acls
from integration.conftest import RunningLab, run_cli
from integration.test_check_secured import (  # noqa: F401  (secured: the broker fixture)
    ADMIN,
    ADMIN_PW,
    USER,
    SecuredBroker,
    check,
    config,
    secured,
)

PRINCIPAL = f"User:{USER}"


def plan_json(path: Path, *args: str) -> dict[str, Any]:
    proc = run_cli("--config", str(path), "acls", "plan", "--json", *args, timeout=120)
    assert proc.returncode == 0, proc.stderr
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


def produce(broker: SecuredBroker, topic: str, count: int) -> None:
    producer = Producer(
        {
            "bootstrap.servers": broker.bootstrap,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "PLAIN",
            "sasl.username": ADMIN,
            "sasl.password": ADMIN_PW,
        },
        logger=librdkafka_logger(),
    )
    for i in range(count):
        producer.produce(topic, f"record-{i}".encode(), f"key-{i}".encode())
    assert producer.flush(30) == 0


def apply(broker: SecuredBroker, planned: list[PlannedAcl]) -> None:
    for future in broker.admin.create_acls([p.binding() for p in planned]).values():
        future.result(30)


def revoke(broker: SecuredBroker, acl: PlannedAcl) -> None:
    b = acl.binding()
    flt = AclBindingFilter(
        b.restype,
        b.name,
        b.resource_pattern_type,
        b.principal,
        b.host,
        b.operation,
        AclPermissionType.ALLOW,
    )
    for future in broker.admin.delete_acls([flt]).values():
        future.result(30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the authorizer applies the change asynchronously
        if not broker.admin.describe_acls(flt).result(30):
            time.sleep(1)
            return
        time.sleep(0.5)
    raise AssertionError(f"the ACL {b} is still there after 30 s")


def backup(path: Path) -> Any:
    return run_cli("--config", str(path), "backup", "run", "demo", timeout=240)


def test_a_backup_job_runs_with_its_plan_and_fails_naming_the_acl_taken_away(
    secured: SecuredBroker,  # noqa: F811
    tmp_path: Path,
) -> None:
    path = config(secured, tmp_path)
    produce(secured, "demo.orders", 50)
    plan = plan_acls(load_config(path).settings)
    doc = plan_json(path)

    listed = {
        (b["resource_type"], b["pattern_type"], b["resource_name"], b["operation"], b["principal"])
        for b in doc["bindings"]
    }
    assert listed == {
        (p.resource_type, p.pattern_type, p.resource_name, p.operation, p.principal)
        for p in plan.bindings
    }
    assert {p.principal for p in plan.bindings} == {PRINCIPAL}
    assert not doc["unexpressible"]
    read = next(
        p
        for p in plan.bindings
        if (p.resource_type, p.pattern_type, p.resource_name, p.operation)
        == ("TOPIC", "PREFIXED", "demo.", "READ")
    )

    apply(secured, list(plan.bindings))
    first = backup(path)

    assert first.returncode == 0, first.stderr
    code, checks = check(path)
    assert checks["cluster secured ACLs"]["status"] == "ok", checks["cluster secured ACLs"]

    revoke(secured, read)
    produce(secured, "demo.orders", 20)  # new records: the next backup has to read them
    started = time.monotonic()
    second = backup(path)
    took = time.monotonic() - started

    assert second.returncode != 0
    assert "Traceback" not in second.stderr
    last = second.stderr.strip().splitlines()[-1]
    assert "not authorized to READ topic 'demo.orders' on cluster 'secured' as " in last, last
    assert f"as {PRINCIPAL}: grant it (see 'kafka-dr acls plan')" in last
    assert took < 60, f"took {took:.0f}s: a refusal must not be waited out"
    code, checks = check(path)
    acls = checks["cluster secured ACLs"]
    assert code == 1 and acls["status"] == "fail", acls
    assert "READ on topics matching 'demo\\..*' (no READ on topic 'demo.orders'" in acls["detail"]


def test_the_plan_of_the_lab_config_as_json(lab: RunningLab, tmp_path: Path) -> None:
    doc = plan_json(lab.config, "--principal", "User:kafka-dr")

    assert doc["schema"] == "kafka-dr.acl-plan/1"
    assert [c["name"] for c in doc["clusters"]] == ["primary", "dr"]
    keys = ("cluster", "principal", "resource_type", "pattern_type", "resource_name", "operation")
    bindings = {tuple(b[k] for k in keys) for b in doc["bindings"]}
    assert ("primary", "User:kafka-dr", "TOPIC", "PREFIXED", "demo.", "READ") in bindings
    mm2 = next(p for p in doc["clusters"][1]["principals"] if p["role"] == "MirrorMaker 2")
    assert ("dr", mm2["principal"], "TOPIC", "PREFIXED", "primary.", "CREATE") in bindings
    assert ("primary", mm2["principal"], "TOPIC", "LITERAL", "*", "READ") in bindings
    assert not doc["unexpressible"]
    for b in doc["bindings"]:
        assert b["command"].startswith(
            f"kafka-acls --bootstrap-server {lab.bootstrap(b['cluster'])}"
        )
        assert b["reasons"]

    # A regex no Kafka pattern expresses: resolved from the topics the lab has now.
    settings = yaml.safe_load(lab.config.read_text())
    settings["backups"]["demo"]["topics"] = [r"aclplan\.[a-z]+"]
    narrowed = tmp_path / "kafka-dr.yaml"
    narrowed.write_text(yaml.safe_dump(settings))
    admin = AdminClient({"bootstrap.servers": lab.bootstrap("primary")}, logger=librdkafka_logger())
    made = ["aclplan.alpha", "aclplan.beta", "aclplan.x1"]
    for future in admin.create_topics([NewTopic(t, 1, 1) for t in made]).values():
        future.result(60)
    try:
        unresolved = plan_json(narrowed, "--cluster", "primary")
        resolved = plan_json(narrowed, "--cluster", "primary", "--resolve")
    finally:
        for future in admin.delete_topics(made).values():
            future.result(60)

    assert any(u["regex"] == r"aclplan\.[a-z]+" for u in unresolved["unexpressible"])
    reads = {
        b["resource_name"]
        for b in resolved["bindings"]
        if (b["operation"], b["pattern_type"]) == ("READ", "LITERAL")
        and b["resource_name"].startswith("aclplan.")
    }
    assert reads == {"aclplan.alpha", "aclplan.beta"}  # not aclplan.x1
    assert not resolved["unexpressible"]
    assert any("planned for the 2 that exist now" in n for n in resolved["notes"])
