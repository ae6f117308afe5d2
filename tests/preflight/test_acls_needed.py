"""The ACLs kafka-dr needs, worked out from the config: per feature, with reasons."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from dr.config.load import parse_config
from dr.config.schema import Settings
from dr.preflight.acls import AclResource, NeededAcl, needed_acls, needed_on, regex_pattern

CLUSTERS = {
    "prod": {"bootstrap_servers": "prod:9092"},
    "dr": {"bootstrap_servers": "dr:9092"},
}


def settings(tmp_path: Path, **sections: Any) -> Settings:
    doc = {"clusters": CLUSTERS, **sections}
    return parse_config(json.dumps(doc), source="kafka-dr.yaml", base_dir=tmp_path)


def backups(*, schedule: str | None = None) -> dict[str, Any]:
    job: dict[str, Any] = {
        "cluster": "prod",
        "topics": ["orders", r"payments\..*"],
        "exclude": [".*-tmp"],
        "storage": "s3",
    }
    if schedule:
        job["schedule"] = schedule
    return {
        "storage": {"s3": {"url": "s3://bucket/prod"}},
        "backups": {"orders": job},
    }


def mirror(**flow: Any) -> dict[str, Any]:
    return {
        "mirror": {"deploy": "dedicated", "flows": [{"source": "prod", "target": "dr", **flow}]}
    }


STATUS = "status and the daemon's health checks: "


def needed(config: Settings) -> tuple[NeededAcl, ...]:
    """What the config's jobs, flows and drills need, beyond what status needs on any cluster
    (those needs keep only their other reasons)."""
    out = []
    for need in needed_acls(config):
        reasons = tuple(r for r in need.reasons if not r.startswith(STATUS))
        if reasons:
            out.append(replace(need, reasons=reasons))
    return tuple(out)


def find(
    needs: tuple[NeededAcl, ...], cluster: str, kind: str, name: str, operation: str
) -> NeededAcl | None:
    return next(
        (
            n
            for n in needs
            if (n.cluster, n.resource.kind, n.resource.name, n.operation)
            == (cluster, kind, name, operation)
        ),
        None,
    )


def test_a_backup_job_reads_its_topics_configs_and_group_offsets_on_its_cluster(
    tmp_path: Path,
) -> None:
    needs = needed(settings(tmp_path, **backups()))

    for regex in ("orders", r"payments\..*"):
        for op in ("DESCRIBE", "READ", "DESCRIBE_CONFIGS"):
            need = find(needs, "prod", "topic", regex, op)
            assert need is not None and need.critical, (regex, op)
            assert any(r.startswith("backup job orders: ") for r in need.reasons)
            assert need.resource.exclude == (".*-tmp",)
    groups = find(needs, "prod", "group", ".*", "DESCRIBE")
    assert groups is not None and groups.critical
    cluster = find(needs, "prod", "cluster", "kafka-cluster", "DESCRIBE")
    assert cluster is not None and cluster.critical
    assert {n.cluster for n in needs} == {"prod"}  # dr is not used by this config


def test_restoring_a_job_needs_create_and_write_on_its_topics_but_not_critically(
    tmp_path: Path,
) -> None:
    needs = needed(settings(tmp_path, **backups()))

    for op in ("CREATE", "WRITE"):
        need = find(needs, "prod", "topic", "orders", op)
        assert need is not None
        assert not need.critical  # a restore is run on demand
        assert len(need.reasons) == 1
        assert need.reasons[0].startswith("restore of backup job orders: ")
    commit = find(needs, "prod", "group", ".*", "READ")
    assert commit is not None and "OffsetCommit" in commit.reason


def test_the_same_operation_needed_twice_is_one_entry_with_both_reasons(tmp_path: Path) -> None:
    needs = needed(settings(tmp_path, **backups()))

    describe = [n for n in needs if n.resource.name == "orders" and n.operation == "DESCRIBE"]

    assert len(describe) == 1
    assert [r.split(":")[0] for r in describe[0].reasons] == [
        "backup job orders",
        "restore of backup job orders",
    ]
    assert describe[0].critical  # the backup's need is critical; the restore's is not


def test_a_mirror_flow_reads_the_internal_topics_on_the_side_each_lives(tmp_path: Path) -> None:
    needs = needed(settings(tmp_path, **mirror()))

    assert find(needs, "dr", "topic", "prod.checkpoints.internal", "READ") is not None
    assert find(needs, "dr", "topic", "heartbeats", "READ") is not None
    assert find(needs, "prod", "topic", "mm2-offset-syncs.dr.internal", "READ") is not None
    replicas = find(needs, "dr", "topic", "prod.", "READ")
    assert replicas is not None and replicas.resource.pattern == "prefixed"
    assert replicas.critical and replicas.reason.startswith("mirror flow prod->dr: ")
    source_groups = find(needs, "prod", "group", ".*", "DESCRIBE")
    assert source_groups is not None and source_groups.critical


def test_an_identity_flow_reads_its_replicas_under_the_source_names(tmp_path: Path) -> None:
    needs = needed(settings(tmp_path, **mirror(topics=["orders"], replication_policy="identity")))

    assert find(needs, "dr", "topic", "prod.", "READ") is None
    replicas = find(needs, "dr", "topic", "orders", "READ")
    assert replicas is not None and replicas.resource.pattern == "regex"


def test_failover_and_failback_of_a_flow_need_offset_commits_and_writes_on_demand(
    tmp_path: Path,
) -> None:
    needs = needed(settings(tmp_path, **mirror(groups=["app-.*"])))

    failover = find(needs, "dr", "group", "app-.*", "READ")
    assert failover is not None and not failover.critical
    assert "failover of flow prod->dr" in failover.reason
    canary = find(needs, "dr", "topic", "kafka-dr.canary", "WRITE")
    assert canary is not None and not canary.critical
    copy_back = find(needs, "prod", "topic", ".*", "WRITE")
    assert copy_back is not None and "failback or cutover" in copy_back.reason
    positions = find(needs, "dr", "topic", "mm2-offsets.prod.internal", "WRITE")
    assert positions is not None  # dedicated MirrorMaker's offsets topic


def test_a_scheduled_drill_needs_scratch_topics_on_its_target_critically(tmp_path: Path) -> None:
    drill = {
        "scenarios": {"backup_restore": {"jobs": ["orders"], "target_cluster": "dr"}},
        "schedule": "0 4 * * 1",
    }
    needs = needed(settings(tmp_path, **backups(), drills={"weekly": drill}))

    for op in ("CREATE", "WRITE", "READ", "DELETE"):
        scratch = find(needs, "dr", "topic", "__kafka-dr-drill-", op)
        assert scratch is not None and scratch.critical, op
        assert scratch.resource.pattern == "prefixed"
        assert scratch.reason.startswith("drill weekly: ")
    groups = find(needs, "dr", "group", "__kafka-dr-drill-", "DELETE")
    assert groups is not None and groups.critical
    samples = find(needs, "prod", "topic", "orders", "READ")
    assert samples is not None and any(r.startswith("drill weekly: ") for r in samples.reasons)


def test_an_unscheduled_drill_needs_the_same_but_not_critically(tmp_path: Path) -> None:
    drill = {"scenarios": {"backup_restore": {"jobs": ["orders"], "target_cluster": "dr"}}}
    needs = needed(settings(tmp_path, **backups(), drills={"manual": drill}))

    scratch = find(needs, "dr", "topic", "__kafka-dr-drill-", "CREATE")

    assert scratch is not None and not scratch.critical


def test_needs_are_listed_cluster_by_cluster_in_the_configs_order(tmp_path: Path) -> None:
    needs = needed_acls(settings(tmp_path, **backups(), **mirror()))

    clusters = [n.cluster for n in needs]

    assert clusters == sorted(clusters, key=["prod", "dr"].index)
    assert needed_on(settings(tmp_path, **backups(), **mirror()), "dr") == tuple(
        n for n in needs if n.cluster == "dr"
    )


def test_a_config_without_jobs_flows_or_drills_needs_no_acl(tmp_path: Path) -> None:
    assert needed(settings(tmp_path)) == ()


def test_regexes_become_the_kafka_pattern_that_grants_them_in_one_binding() -> None:
    assert regex_pattern(".*") == ("LITERAL", "*")
    assert regex_pattern(r"payments\..*") == ("PREFIXED", "payments.")
    assert regex_pattern("orders") == ("LITERAL", "orders")
    assert regex_pattern("orders|payments") is None
    assert regex_pattern(r"\d+") is None
    assert AclResource("topic", "__kafka-dr-drill-", "prefixed").kafka_pattern() == (
        "PREFIXED",
        "__kafka-dr-drill-",
    )


def test_a_regex_resource_matches_in_full_and_honours_its_exclusions() -> None:
    resource = AclResource("topic", r"payments\..*", "regex", (".*-tmp",))

    assert resource.matches("payments.eu")
    assert not resource.matches("payments.eu-tmp")
    assert not resource.matches("old-payments.eu")
    assert resource.describe() == r"topics matching 'payments\..*' except '.*-tmp'"


def test_every_cluster_needs_describe_on_itself_and_its_topics_for_status(tmp_path: Path) -> None:
    needs = needed_acls(settings(tmp_path))

    for cluster in ("prod", "dr"):
        for kind, name, op in (
            ("cluster", "kafka-cluster", "DESCRIBE"),
            ("topic", ".*", "DESCRIBE"),
            ("topic", ".*", "DESCRIBE_CONFIGS"),
        ):
            need = find(needs, cluster, kind, name, op)
            assert need is not None and need.critical, (cluster, kind, op)
            assert need.reasons[0].startswith(STATUS)
    assert not [n for n in needs if n.operation not in ("DESCRIBE", "DESCRIBE_CONFIGS")]
