"""The failover playbook on the secure lab, as kafka-dr's least-privileged user: the primary
killed, the group's translated offsets committed on dr over SASL_SSL. Last of the secure
lab's tests (its primary stays down)."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient  # type: ignore[attr-defined]

from dr.lab.traffic import create_topic, produce_records
from integration.conftest import RunningLab, wait_until

pytestmark = pytest.mark.lab_teardown


def test_a_failover_moves_a_group_to_dr_with_the_plans_acls_only(secure_lab: RunningLab) -> None:
    topic, group = f"demo.fo-{uuid.uuid4().hex[:6]}", f"fo-{uuid.uuid4().hex[:6]}"
    apps = secure_lab.client("lab-apps")
    primary = secure_lab.bootstrap("primary")
    create_topic(primary, topic, partitions=2, client=apps)
    produce_records(primary, topic, 200, client=apps)
    consumer = Consumer({**apps, "bootstrap.servers": primary, "group.id": group,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})  # fmt: skip
    try:
        consumer.subscribe([topic])
        seen, deadline = 0, time.monotonic() + 60
        while seen < 150 and time.monotonic() < deadline:
            msg = consumer.poll(1)
            if msg is not None and msg.error() is None:
                seen += 1
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()

    def checkpointed() -> bool:
        proc = secure_lab.cli("offsets", "translate", "--group", group, "--from", "primary",
                              "--to", "dr", "--json")  # fmt: skip
        parts = json.loads(proc.stdout)["partitions"] if proc.returncode == 0 else []
        # A checkpoint of the group, not only a translation through an offset-sync.
        return len(parts) == 2 and all(
            p["basis"] == "checkpoint" or p["checkpoint_upstream_offset"] is not None for p in parts
        )

    wait_until(checkpointed, timeout_s=120, what="checkpoints of the group")
    secure_lab.lab_cli("stop-cluster", "primary", "--kill")

    proc = secure_lab.cli("failover", "--from", "primary", "--to", "dr", "--yes", "--json")

    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads(proc.stdout)
    assert report["status"] == "completed", report
    assert group in report["groups"]["offsets"]
    dr = AdminClient(
        {**secure_lab.client("admin"), "bootstrap.servers": secure_lab.bootstrap("dr")}
    )
    (future,) = dr.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)]).values()
    committed = future.result(timeout=30).topic_partitions
    moved = [tp for tp in committed if tp.topic == f"primary.{topic}"]
    assert len(moved) == 2 and all(
        isinstance(tp, TopicPartition) and tp.offset >= 0 for tp in moved
    )
    assert sum(tp.offset for tp in moved) <= 200
