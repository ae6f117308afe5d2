"""kafka-dr on the secure lab (`lab up --security sasl_ssl`): SASL_SSL listeners with
SCRAM-SHA-512, TLS to the controllers, the StandardAuthorizer with no access unless granted,
and kafka-dr's user holding only what `kafka-dr acls plan` says it needs.

Runs after the session lab is down (marked lab_teardown, named after it): the secure lab is a
second lab and only one runs at a time.
"""

from __future__ import annotations

import json
import stat
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import Consumer, KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from dr.lab.security import USERS, lab_secrets
from dr.lab.traffic import count_records, create_topic, produce_records
from integration.conftest import RunningLab, delete_connectors, run_cli, wait_until

pytestmark = pytest.mark.lab_teardown

TOPIC = "demo.secure"


def passwords(lab: RunningLab) -> list[str]:
    return [lab_secrets(lab.lab.dir).password(user) for user in USERS]


def admin(lab: RunningLab, cluster: str) -> AdminClient:
    return AdminClient({**lab.client("admin"), "bootstrap.servers": lab.bootstrap(cluster)})


@pytest.fixture(scope="module")
def produced(secure_lab: RunningLab) -> int:
    """TOPIC on primary with 300 records, written as the lab apps' user."""
    apps = secure_lab.client("lab-apps")
    create_topic(secure_lab.bootstrap("primary"), TOPIC, partitions=3, client=apps)
    produce_records(secure_lab.bootstrap("primary"), TOPIC, 300, client=apps)
    return 300


def test_the_secure_lab_keeps_its_secrets_in_owner_only_files_and_refuses_strangers(
    secure_lab: RunningLab,
) -> None:
    secrets = lab_secrets(secure_lab.lab.dir)
    assert stat.S_IMODE(secrets.dir.stat().st_mode) == 0o700
    for path in secrets.dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    config = secure_lab.config.read_text()
    assert not any(p in config for p in passwords(secure_lab))
    assert f"${{file:{secrets.password_file('kafka-dr')}}}" in config
    mm2 = Path(secure_lab.lab.dir / "mirror" / "mm2.properties").read_text()
    assert not any(p in mm2 for p in passwords(secure_lab))
    assert "${file:" in mm2 and 'username="mirrormaker"' not in mm2

    # Without credentials (TLS only, or nothing at all) the brokers answer nobody.
    for conf in ({}, {"security.protocol": "SSL", "ssl.ca.location": str(secrets.ca_file)}):
        stranger = AdminClient(
            {
                **conf,
                "bootstrap.servers": secure_lab.bootstrap("primary"),
                "socket.timeout.ms": 3000,
            }
        )
        with pytest.raises(KafkaException):
            stranger.list_topics(timeout=3)

    # A wrong password is refused at once, in one line, without echoing any password.
    wrong = secure_lab.lab.dir / "wrong.yaml"
    wrong.write_text(config.replace(str(secrets.password_file("kafka-dr")), str(wrong) + ".pw"))
    (secure_lab.lab.dir / "wrong.yaml.pw").write_text("not-the-password\n")
    proc = run_cli("--config", str(wrong), "status", timeout=60)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and "not-the-password" not in proc.stdout + proc.stderr


def test_status_reads_both_clusters_and_their_quorum_through_the_java_tool(
    secure_lab: RunningLab,
) -> None:
    code, report = secure_lab.cli_json("status")

    for name in ("primary", "dr"):
        cluster = report["clusters"][name]
        assert cluster["reachable"] and cluster["error"] is None, cluster
        assert cluster["cluster_id"] == secure_lab.lab.state().cluster(name).cluster_id
        # The quorum comes from Kafka's MetadataQuorumCommand, given the SCRAM login as a
        # JAAS line and the CA as a PEM truststore.
        assert cluster["quorum"]["leader_id"] == 1, cluster["quorum"]
        assert cluster["problems"] == [], cluster["problems"]
    assert code == 0


def test_backup_and_restore_with_the_least_privileged_user_keep_acls_and_user_names(
    secure_lab: RunningLab, produced: int, tmp_path: Path
) -> None:
    source = count_records(secure_lab.bootstrap("primary"), TOPIC, client=secure_lab.client())
    assert source >= produced
    proc = secure_lab.cli("backup", "run", "demo", "--json")
    assert proc.returncode == 0, proc.stderr
    backup_id = json.loads(proc.stdout)["backup_id"]

    metadata = _metadata(secure_lab.lab.dir / "store", backup_id)
    users = {u["user"] for u in metadata["scram_users"]}
    assert {"kafka-dr", "mirrormaker", "lab-apps"} <= users
    assert any(a["principal"] == "User:kafka-dr" for a in metadata["acls"])
    raw = json.dumps(metadata)
    assert not any(p in raw for p in passwords(secure_lab))  # names only, never credentials

    restored = f"demo.secure-{uuid.uuid4().hex[:6]}"
    proc = secure_lab.cli(
        "restore",
        backup_id,
        "--to",
        "primary",
        "--topics",
        TOPIC,
        "--rename",
        f"{TOPIC}={restored}",
        "--yes",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    count = count_records(secure_lab.bootstrap("primary"), restored, client=secure_lab.client())
    assert count == source


def test_mirrormaker_replicates_as_its_own_user_and_rpo_and_translation_are_measured(
    secure_lab: RunningLab, produced: int
) -> None:
    group = f"secure-{uuid.uuid4().hex[:6]}"
    _consume_and_commit(secure_lab, group)

    def translated() -> Any:
        proc = secure_lab.cli(
            "offsets", "translate", "--group", group, "--from", "primary", "--to", "dr", "--json"
        )
        return json.loads(proc.stdout) if proc.returncode == 0 else None

    result = wait_until(translated, timeout_s=120, what="a checkpoint of the group")
    assert {p["topic"] for p in result["partitions"]} == {f"primary.{TOPIC}"}

    code, rpo = secure_lab.cli_json("rpo", "status")
    flow = rpo["flows"]["primary->dr"]
    assert flow["unmeasured"] is None and flow["rpo_seconds"] is not None, flow
    assert flow["heartbeat_age_seconds"] is not None
    assert code in (0, 1)

    # MirrorMaker acts as 'mirrormaker': its ACLs are on the clusters, not kafka-dr's.
    dr_admin = admin(secure_lab, "dr")  # kept: a collected client cancels its requests
    mine = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, "User:mirrormaker",
                            None, AclOperation.ANY, AclPermissionType.ANY)  # fmt: skip
    found = dr_admin.describe_acls(mine).result(timeout=30)
    assert any(b.name.startswith("primary.") for b in found), found


def test_a_missing_acl_fails_the_backup_naming_it_and_check_names_it_too(
    secure_lab: RunningLab, produced: int
) -> None:
    # kafka-dr reads the job's topics through two grants of the plan (the backup's READ on
    # 'demo.' and the mirror flow's on '*'): both go, nothing else.
    reads = AclBindingFilter(ResourceType.TOPIC, None, ResourcePatternType.ANY, "User:kafka-dr",
                             None, AclOperation.READ, AclPermissionType.ALLOW)  # fmt: skip
    client = admin(secure_lab, "primary")
    (future,) = client.delete_acls([reads]).values()
    removed = future.result(timeout=30)
    assert {b.name for b in removed} >= {"demo.", "*"}, removed
    try:
        # New records: a backup with nothing new to read would not be refused.
        apps = secure_lab.client("lab-apps")
        produce_records(secure_lab.bootstrap("primary"), TOPIC, 10, client=apps)
        time.sleep(2)  # the authorizer applies the change from the metadata log
        proc = secure_lab.cli("backup", "run", "demo")
        assert proc.returncode != 0
        assert "not authorized to READ" in proc.stderr and "Traceback" not in proc.stderr
        assert TOPIC in proc.stderr or "demo." in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr

        proc = secure_lab.cli("check", "--json")
        assert proc.returncode != 0
        assert "READ" in proc.stdout and "demo" in proc.stdout
    finally:
        for created in client.create_acls(removed).values():
            created.result(timeout=30)


def _consume_and_commit(lab: RunningLab, group: str) -> None:
    consumer = Consumer(
        {
            **lab.client("lab-apps"),
            "bootstrap.servers": lab.bootstrap("primary"),
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    try:
        consumer.subscribe([TOPIC])
        seen, deadline = 0, time.monotonic() + 60
        while seen < 200 and time.monotonic() < deadline:
            msg = consumer.poll(1)
            if msg is not None and msg.error() is None:
                seen += 1
        assert seen >= 200
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()


def _metadata(store: Path, backup_id: str) -> dict[str, Any]:
    found = list(store.rglob(f"metadata/{backup_id}.json"))
    assert found, f"no metadata object for {backup_id} under {store}"
    return dict(json.loads(found[0].read_bytes()))


def test_scram_user_names_are_not_asked_of_a_cluster_that_refuses_describe(
    secure_lab: RunningLab,
) -> None:
    # librdkafka's answer to a refused DescribeUserScramCredentials ends the process: kafka-dr
    # asks only when DESCRIBE on the cluster is granted ('lab-apps' has no such grant).
    from dr.config.schema import ClusterSettings
    from dr.kafka.admin import scram_users
    from dr.kafka.client import admin_client

    apps = ClusterSettings.model_validate(
        {
            "bootstrap_servers": secure_lab.bootstrap("primary"),
            "client": secure_lab.client("lab-apps"),
        }
    )
    assert scram_users(admin_client(apps), 10) == (
        "unavailable: not authorized to DESCRIBE the cluster"
    )


def test_mirrormaker_on_kafka_connect_runs_as_its_own_user_with_secrets_in_a_file(
    secure_lab: RunningLab, tmp_path: Path
) -> None:
    """Connect mode: the worker runs as 'mirrormaker'; the connector configs posted to its
    REST API hold FileConfigProvider references, the passwords only the 0600 secrets file."""
    url = secure_lab.lab.connect_start()
    config = yaml.safe_load(secure_lab.config.read_text())
    mirror = config["mirror"]
    for key in ("properties", "properties_file", "restart_command", "status_command",
                "stop_command"):  # fmt: skip
        mirror.pop(key, None)
    secrets_file = secure_lab.lab.dir / "connect" / "mm2.secrets"
    mirror.update(deploy="connect", connect_url=url, secrets_file=str(secrets_file))
    path = tmp_path / "connect.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    secure_lab.lab.mirror_stop()  # one MirrorMaker at a time copies into dr
    try:
        proc = run_cli("--config", str(path), "mirror", "apply", "--yes")
        assert proc.returncode == 0, proc.stderr
        assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
        with urllib.request.urlopen(f"{url}/connectors?expand=info", timeout=30) as response:
            posted = response.read().decode()
        assert not any(p in posted for p in passwords(secure_lab))
        assert f"${{file:{secrets_file}:primary.sasl.jaas.config}}" in posted

        def running() -> bool:
            proc = run_cli("--config", str(path), "mirror", "status", "--json")
            return proc.returncode == 0 and '"RUNNING"' in proc.stdout

        wait_until(running, timeout_s=120, what="the connectors running")
    finally:
        delete_connectors(url, "primary->dr")
        secure_lab.lab.connect_stop()
        secure_lab.lab.mirror_start()
