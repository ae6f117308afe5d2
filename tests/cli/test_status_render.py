"""The documented ``kafka-dr status --json`` form, rendered from a health report."""

from __future__ import annotations

import json

from dr.cli.status import report_json
from dr.kafka.health import ClusterHealth, HealthReport, PartitionState
from dr.kafka.quorum import QuorumMember, QuorumStatus

DOCUMENTED_KEYS = {
    "healthy",
    "cluster_id",
    "brokers_expected",
    "brokers_online",
    "under_replicated_partitions",
    "under_min_isr_partitions",
    "offline_partitions",
    "quorum",
}

QUORUM = QuorumStatus(
    leader_id=1,
    high_watermark=4521,
    voters=(
        QuorumMember(
            node_id=1, role="leader", log_end_offset=4521, lag=0, last_caught_up_age_s=0.0
        ),
        QuorumMember(
            node_id=2, role="follower", log_end_offset=4519, lag=2, last_caught_up_age_s=0.4
        ),
    ),
    observers=(),
)
ORDERS_0 = PartitionState(
    topic="orders", partition=0, leader=1, replicas=(1, 2, 3), isr=(1, 2), min_isr=2
)


def test_each_cluster_has_the_documented_keys_and_healthy_counts() -> None:
    report = HealthReport(
        clusters=(
            ClusterHealth(
                name="primary",
                reachable=True,
                cluster_id="MkU3OEVBNTcwNTJENDM2Qk",
                brokers_expected=(1, 2, 3),
                brokers_online=(1, 2, 3),
                quorum=QUORUM,
            ),
        )
    )

    primary = report_json(report)["clusters"]["primary"]

    assert primary.keys() >= DOCUMENTED_KEYS
    assert primary["healthy"] is True
    assert primary["cluster_id"] == "MkU3OEVBNTcwNTJENDM2Qk"
    assert primary["brokers_online"] == [1, 2, 3]
    assert primary["quorum"]["leader_id"] == 1
    assert primary["quorum"]["max_voter_lag"] == 2
    assert [v["id"] for v in primary["quorum"]["voters"]] == [1, 2]


def test_a_cluster_missing_a_broker_of_its_inventory_is_reported_unhealthy() -> None:
    report = HealthReport(
        clusters=(
            ClusterHealth(
                name="primary",
                reachable=True,
                cluster_id="MkU3OEVBNTcwNTJENDM2Qk",
                brokers_expected=(1, 2, 3),
                brokers_online=(1, 2),
                under_replicated=(ORDERS_0,),
                quorum=QUORUM,
                problems=("brokers not online: 3", "1 under-replicated partitions"),
            ),
            ClusterHealth(
                name="dr", reachable=False, error="cluster 'dr' did not answer within 10s"
            ),
        )
    )

    out = report_json(report)
    primary, dr = out["clusters"]["primary"], out["clusters"]["dr"]

    assert primary["healthy"] is False
    assert primary["brokers_expected"] == [1, 2, 3]
    assert primary["brokers_online"] == [1, 2]
    assert primary["brokers_missing"] == [3]
    assert primary["under_replicated_partitions"] == 1
    assert primary["under_min_isr_partitions"] == 0
    assert primary["offline_partitions"] == 0
    assert dr["healthy"] is False
    assert dr["quorum"] is None
    assert json.loads(json.dumps(out)) == out


def test_verbose_lists_the_partitions_that_need_attention() -> None:
    health = ClusterHealth(
        name="primary", reachable=True, under_replicated=(ORDERS_0,), problems=("1 urp",)
    )

    out = report_json(HealthReport(clusters=(health,)), verbose=True)

    assert out["clusters"]["primary"]["partitions"]["under_replicated"] == [
        {
            "topic": "orders",
            "partition": 0,
            "leader": 1,
            "replicas": [1, 2, 3],
            "isr": [1, 2],
            "min_isr": 2,
        }
    ]
