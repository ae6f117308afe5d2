"""Whether a cluster grants what kafka-dr needs: judged from what the cluster says this client
may do (a small fake of those answers), and from its ACL bindings for what does not exist yet."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from dr.preflight.acl_eval import Binding, Verdict, allows, evaluate
from dr.preflight.acl_resources import CLUSTER, AclResource, NeededAcl
from dr.preflight.clusters import acl_check

ALL_TOPIC_OPS = frozenset({"DESCRIBE", "READ", "WRITE", "DESCRIBE_CONFIGS"})


@dataclass
class FakeGrants:
    """What a cluster would answer: operations per topic and group, bindings if readable."""

    cluster: frozenset[str] | None = frozenset({"DESCRIBE"})
    topics: dict[str, frozenset[str]] = field(default_factory=dict)
    groups: dict[str, frozenset[str]] = field(default_factory=dict)
    acls: list[Binding] | None = None
    asked_topics: list[str] = field(default_factory=list)

    def cluster_operations(self) -> frozenset[str] | None:
        return self.cluster

    def topic_names(self) -> Sequence[str]:
        return sorted(self.topics)

    def topic_operations(self, names: Sequence[str]) -> dict[str, frozenset[str] | None]:
        self.asked_topics += names
        return {n: self.topics.get(n) for n in names}

    def group_names(self) -> Sequence[str]:
        return sorted(g for g in self.groups if not g.startswith("?"))

    def group_operations(self, names: Sequence[str]) -> dict[str, frozenset[str] | None]:
        # Kafka answers for a group it does not know too: "?name" plays one.
        return {n: self.groups.get(n, self.groups.get(f"?{n}")) for n in names}

    def bindings(self) -> Sequence[Binding] | None:
        return self.acls


def need(resource: AclResource, operation: str, *, critical: bool = True) -> NeededAcl:
    return NeededAcl("prod", resource, operation, ("backup job orders: reads",), critical)


def allow(kind: str, name: str, operation: str, *, pattern: str = "LITERAL") -> Binding:
    return Binding(kind, name, pattern, "User:kafka-dr", "*", operation, "ALLOW")


def one(verdicts: tuple[Verdict, ...]) -> Verdict:
    assert len(verdicts) == 1
    return verdicts[0]


ORDERS = AclResource("topic", "orders.*", "regex")
SCRATCH = AclResource("topic", "__kafka-dr-drill-", "prefixed")


def test_a_topic_need_is_granted_when_every_matching_topic_allows_it() -> None:
    grants = FakeGrants(topics={"orders.eu": ALL_TOPIC_OPS, "orders.us": ALL_TOPIC_OPS})

    verdict = one(evaluate([need(ORDERS, "READ")], grants, principal=None))

    assert verdict.state == "granted"
    assert grants.asked_topics == ["orders.eu", "orders.us"]


def test_one_matching_topic_without_the_operation_makes_it_missing_and_names_it() -> None:
    grants = FakeGrants(
        topics={"orders.eu": ALL_TOPIC_OPS, "orders.us": frozenset({"DESCRIBE"}), "x": frozenset()}
    )

    verdict = one(evaluate([need(ORDERS, "READ")], grants, principal=None))

    assert verdict.state == "missing"
    assert verdict.why == "no READ on topic 'orders.us'"


def test_a_topic_the_client_may_not_even_describe_lacks_every_operation() -> None:
    grants = FakeGrants(topics={"orders.eu": frozenset()})

    verdict = one(evaluate([need(ORDERS, "DESCRIBE")], grants, principal=None))

    assert verdict.state == "missing"


def test_operations_that_imply_others_grant_them_as_kafka_does() -> None:
    assert allows({"READ"}, "DESCRIBE")
    assert allows({"ALTER_CONFIGS"}, "DESCRIBE_CONFIGS")
    assert allows({"ALL"}, "DELETE")
    assert not allows({"DESCRIBE"}, "READ")
    assert not allows({"WRITE"}, "DESCRIBE_CONFIGS")


def test_cluster_needs_are_judged_from_the_clusters_own_answer() -> None:
    grants = FakeGrants(cluster=frozenset({"DESCRIBE", "CREATE"}))

    verdicts = evaluate([need(CLUSTER, "DESCRIBE"), need(CLUSTER, "ALTER")], grants, principal=None)

    assert [v.state for v in verdicts] == ["granted", "missing"]


def test_create_on_topics_that_do_not_exist_yet_is_granted_by_create_on_the_cluster() -> None:
    grants = FakeGrants(cluster=frozenset({"DESCRIBE", "CREATE"}))

    assert one(evaluate([need(SCRATCH, "CREATE")], grants, principal=None)).state == "granted"


def test_a_need_on_topics_that_do_not_exist_is_unverified_without_readable_bindings() -> None:
    grants = FakeGrants(acls=None)

    verdict = one(evaluate([need(SCRATCH, "WRITE")], grants, principal="User:kafka-dr"))

    assert verdict.state == "unverified"


def test_a_prefixed_binding_for_the_user_grants_topics_that_do_not_exist_yet() -> None:
    grants = FakeGrants(acls=[allow("TOPIC", "__kafka-dr-", "WRITE", pattern="PREFIXED")])

    verdict = one(evaluate([need(SCRATCH, "WRITE")], grants, principal="User:kafka-dr"))

    assert verdict.state == "granted"


def test_a_binding_for_another_user_or_a_narrower_prefix_does_not_grant_it() -> None:
    other = Binding("TOPIC", "*", "LITERAL", "User:someone", "*", "ALL", "ALLOW")
    narrower = allow("TOPIC", "__kafka-dr-drill-x", "WRITE", pattern="PREFIXED")
    grants = FakeGrants(acls=[other, narrower])

    verdict = one(evaluate([need(SCRATCH, "WRITE")], grants, principal="User:kafka-dr"))

    assert verdict.state == "missing"


def test_a_deny_binding_wins_over_an_allow() -> None:
    deny = Binding("TOPIC", "*", "LITERAL", "User:kafka-dr", "*", "WRITE", "DENY")
    grants = FakeGrants(acls=[allow("TOPIC", "*", "ALL"), deny])

    verdict = one(evaluate([need(SCRATCH, "WRITE")], grants, principal="User:kafka-dr"))

    assert verdict.state == "missing"
    assert "DENY" in verdict.why


def test_a_group_need_is_asked_under_a_probe_name_when_no_group_exists_yet() -> None:
    scratch_groups = AclResource("group", "__kafka-dr-drill-", "prefixed")
    allowed = FakeGrants(groups={"?__kafka-dr-drill-kafka-dr-check": frozenset({"READ"})})
    denied = FakeGrants(groups={"?__kafka-dr-drill-kafka-dr-check": frozenset()})

    assert one(evaluate([need(scratch_groups, "READ")], allowed, principal=None)).state == (
        "granted"
    )
    assert one(evaluate([need(scratch_groups, "READ")], denied, principal=None)).state == (
        "missing"
    )


def test_the_acl_check_fails_only_for_a_missing_critical_need() -> None:
    critical = Verdict(need(ORDERS, "READ"), "missing", "no READ on topic 'orders.eu'")
    on_demand = Verdict(need(ORDERS, "WRITE", critical=False), "missing", "no WRITE")
    granted = Verdict(need(ORDERS, "DESCRIBE"), "granted", "DESCRIBE")

    failed = acl_check("prod", "cluster prod", [critical, on_demand, granted])
    warned = acl_check("prod", "cluster prod", [on_demand, granted])
    passed = acl_check("prod", "cluster prod", [granted])

    assert failed.status == "fail" and failed.hint
    assert failed.detail.startswith("2 of 3 needed ACLs missing: READ on topics matching")
    assert "no READ on topic 'orders.eu'; for backup job orders: reads" in failed.detail
    assert warned.status == "warn"
    assert passed.status == "ok"


def test_unverified_needs_are_a_warning_that_lists_them() -> None:
    unverified = Verdict(need(SCRATCH, "WRITE"), "unverified", "no topic of these exists yet")

    check = acl_check("prod", "cluster prod", [unverified])

    assert check.status == "warn"
    assert "WRITE on topics prefixed '__kafka-dr-drill-'" in check.detail
