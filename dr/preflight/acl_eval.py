"""Whether a cluster grants kafka-dr what it needs (dr.preflight.acls), need by need.

The cluster is asked what this very client may do (Kafka's "authorized operations" of the
cluster, of topics and of groups: super users, wildcard and prefixed bindings all count), on
a sample of the existing topics and groups each need covers. A group need is asked even when
no such group exists yet (Kafka answers for a group it does not know). A topic that does not
exist yet cannot be asked about: CREATE is granted by CREATE on the cluster, and otherwise the
cluster's ACL bindings are read for the client's SASL user; when they cannot be read, the need
is reported unverified rather than guessed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from dr.preflight.acl_resources import AclResource, NeededAcl

# Names of one resource kind asked about per need: enough to catch a missing binding, few
# enough to keep the check quick on a cluster of thousands of topics.
SAMPLE = 20
# A need on a group prefix or regex is asked about under this name when no group matches.
PROBE_GROUP = "kafka-dr-check"
# Operations that a binding for another operation grants too (Kafka's implied operations).
_IMPLIED_BY = {
    "DESCRIBE": {"READ", "WRITE", "DELETE", "ALTER"},
    "DESCRIBE_CONFIGS": {"ALTER_CONFIGS"},
}

State = Literal["granted", "missing", "unverified"]


@dataclass(frozen=True)
class Binding:
    """One ACL binding as the cluster lists it (Kafka's names: TOPIC, PREFIXED, READ, ALLOW)."""

    resource_type: str
    name: str
    pattern_type: str
    principal: str
    host: str
    operation: str
    permission: str


class Grants(Protocol):
    """What a cluster says this client may do. Operations are AclOperation names; None means
    the cluster did not say."""

    def cluster_operations(self) -> frozenset[str] | None: ...

    def topic_names(self) -> Sequence[str]:
        """The topics this client can see."""
        ...

    def topic_operations(self, names: Sequence[str]) -> dict[str, frozenset[str] | None]:
        """Per existing topic, the operations allowed (an empty set: not even DESCRIBE)."""
        ...

    def group_names(self) -> Sequence[str]: ...

    def group_operations(self, names: Sequence[str]) -> dict[str, frozenset[str] | None]:
        """Per group (existing or not), the operations allowed (empty: not even DESCRIBE)."""
        ...

    def bindings(self) -> Sequence[Binding] | None:
        """Every ACL binding, or None when they cannot be read."""
        ...


@dataclass(frozen=True)
class Verdict:
    """A need and whether the cluster grants it; ``why`` says what was seen."""

    need: NeededAcl
    state: State
    why: str


def evaluate(
    needs: Iterable[NeededAcl], grants: Grants, *, principal: str | None
) -> tuple[Verdict, ...]:
    """The verdict on each need. ``principal`` (User:NAME) is whom the bindings are read for
    when a topic does not exist yet; None when the client's principal is not known."""
    return tuple(_Evaluation(grants, principal).verdict(n) for n in needs)


def allows(operations: Iterable[str], operation: str) -> bool:
    """Whether a set of granted operations includes ``operation`` (itself, ALL, or one that
    implies it)."""
    granted = set(operations)
    return bool({operation, "ALL"} & granted or _IMPLIED_BY.get(operation, set()) & granted)


class _Evaluation:
    """One evaluation: the cluster's answers are asked once and kept."""

    def __init__(self, grants: Grants, principal: str | None) -> None:
        self._grants = grants
        self._principal = principal
        self._cluster: frozenset[str] | None = None
        self._cluster_asked = False
        self._names: dict[str, Sequence[str]] = {}
        self._ops: dict[tuple[str, str], frozenset[str] | None] = {}
        self._bindings: Sequence[Binding] | None = None
        self._bindings_asked = False

    def verdict(self, need: NeededAcl) -> Verdict:
        resource, op = need.resource, need.operation
        if resource.kind == "cluster":
            ops = self._cluster_operations()
            if ops is None:
                return Verdict(
                    need, "unverified", "the cluster did not say what this client may do"
                )
            if allows(ops, op):
                return Verdict(need, "granted", f"{op} on the cluster")
            return Verdict(need, "missing", f"no {op} on the cluster")
        names = sorted(n for n in self._names_of(resource.kind) if resource.matches(n))[:SAMPLE]
        probe = _probe_group(resource) if resource.kind == "group" else None
        if not names and probe is not None:
            names = [probe]
        if names:
            return self._on_names(need, names)
        return self._on_nothing_yet(need)

    def _on_names(self, need: NeededAcl, names: list[str]) -> Verdict:
        kind, op = need.resource.kind, need.operation
        ops = self._operations(kind, names)
        lacking = [n for n in names if n in ops and not allows(ops[n] or (), op)]
        unknown = [n for n in names if ops.get(n) is None and n not in lacking]
        if lacking:
            more = f" (and {len(lacking) - 1} more)" if len(lacking) > 1 else ""
            return Verdict(need, "missing", f"no {op} on {kind} '{lacking[0]}'{more}")
        if len(unknown) == len(names):
            return self._on_nothing_yet(need)
        return Verdict(need, "granted", f"{op} on {len(names) - len(unknown)} {kind}(s) asked")

    def _on_nothing_yet(self, need: NeededAcl) -> Verdict:
        resource, op = need.resource, need.operation
        if resource.kind == "topic" and op == "CREATE":
            cluster = self._cluster_operations()
            if cluster is not None and allows(cluster, "CREATE"):
                return Verdict(need, "granted", "CREATE on the cluster")
        bindings = self._all_bindings()
        if bindings is None or self._principal is None:
            return Verdict(
                need, "unverified", f"no {resource.kind} of these exists yet to ask about"
            )
        mine = [b for b in bindings if b.principal in (self._principal, "User:*")]
        if any(b.permission == "DENY" and _covers(b, resource, op) for b in mine):
            return Verdict(need, "missing", f"a DENY binding for {self._principal} covers it")
        if any(b.permission == "ALLOW" and _covers(b, resource, op) for b in mine):
            return Verdict(need, "granted", f"an ACL binding for {self._principal}")
        return Verdict(need, "missing", f"no ACL binding for {self._principal} grants it")

    def _cluster_operations(self) -> frozenset[str] | None:
        if not self._cluster_asked:
            self._cluster = self._grants.cluster_operations()
            self._cluster_asked = True
        return self._cluster

    def _names_of(self, kind: str) -> Sequence[str]:
        if kind not in self._names:
            grants = self._grants
            self._names[kind] = grants.topic_names() if kind == "topic" else grants.group_names()
        return self._names[kind]

    def _operations(self, kind: str, names: list[str]) -> dict[str, frozenset[str] | None]:
        wanted = [n for n in names if (kind, n) not in self._ops]
        if wanted:
            grants = self._grants
            ask = grants.topic_operations if kind == "topic" else grants.group_operations
            answers = ask(wanted)
            for n in wanted:
                self._ops[(kind, n)] = answers.get(n)
        return {n: self._ops[(kind, n)] for n in names if self._ops.get((kind, n)) is not None}

    def _all_bindings(self) -> Sequence[Binding] | None:
        if not self._bindings_asked:
            self._bindings = self._grants.bindings()
            self._bindings_asked = True
        return self._bindings


def _probe_group(resource: AclResource) -> str | None:
    """A group name to ask about for a group need when no group matches it yet."""
    if resource.pattern == "literal":
        return resource.name
    if resource.pattern == "prefixed":
        return resource.name + PROBE_GROUP
    pattern = resource.kafka_pattern()
    if pattern is None:
        return None
    kind, name = pattern
    if kind == "PREFIXED":
        return name + PROBE_GROUP
    return PROBE_GROUP if name == "*" else name


def _covers(binding: Binding, resource: AclResource, operation: str) -> bool:
    """Whether the binding applies to every name of the resource, for the operation (an
    ALLOW through the operations that imply it, as Kafka's authorizer grants them; a DENY
    only for the operation itself or ALL, as it denies them)."""
    if binding.resource_type.lower() != resource.kind:
        return False
    if binding.permission == "DENY":
        if binding.operation not in (operation, "ALL"):
            return False
    elif not allows([binding.operation], operation):
        return False
    pattern = resource.kafka_pattern()
    if pattern is None:  # a regex: only a wildcard binding covers every name it may match
        return binding.pattern_type == "LITERAL" and binding.name == "*"
    kind, name = pattern
    if binding.pattern_type == "LITERAL":
        return binding.name == "*" or (kind == "LITERAL" and binding.name == name)
    if binding.pattern_type == "PREFIXED":
        return name.startswith(binding.name) and not (kind == "LITERAL" and name == "*")
    return False
