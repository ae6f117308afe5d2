"""The ACL bindings to grant, per cluster and principal, for what the config asks: kafka-dr's
own needs (dr.preflight.acls) and MirrorMaker 2's for each mirror flow (dr.preflight.mirror_acls),
each as an exact Kafka binding (resource type, LITERAL or PREFIXED pattern, operation, ALLOW
from any host) with the reasons it is needed.

A config regex that no Kafka pattern expresses ('orders|payments') cannot be granted by one
binding: it is listed apart, with the operations it needs, unless a name lookup is given (then
each topic or group that exists now and matches it gets its own LITERAL bindings).

`kafka-dr acls plan` prints the plan; the lab applies it (PlannedAcl.binding()).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
)

from dr.config.schema import ClusterSettings, Settings
from dr.errors import UsageError
from dr.kafka.admin import list_topic_partitions
from dr.kafka.client import admin_client
from dr.kafka.groups import group_ids
from dr.preflight.acl_resources import OPERATIONS, NeededAcl, ResourceKind
from dr.preflight.acls import needed_acls
from dr.preflight.mirror_acls import ROLE as MIRROR_ROLE
from dr.preflight.mirror_acls import mirror_maker_needs

KAFKA_DR_ROLE = "kafka-dr"
KAFKA_DR_PLACEHOLDER = "User:<kafka-dr principal>"
MIRROR_PLACEHOLDER = "User:<mirrormaker principal>"
SCHEMA = "kafka-dr.acl-plan/1"
# Where a command against a secured cluster reads the client settings of a principal allowed to
# create ACLs (rarely kafka-dr's own): to be replaced, unless `acls plan --command-config` names it.
ADMIN_CONFIG_PLACEHOLDER = "<admin-client.properties>"
ResourceType_ = Literal["CLUSTER", "TOPIC", "GROUP"]
# Given a cluster and "topic" or "group": the names that exist there now.
NameLookup = Callable[[str, ResourceKind], Sequence[str]]

_TYPES: dict[str, ResourceType_] = {"cluster": "CLUSTER", "topic": "TOPIC", "group": "GROUP"}
_TYPE_ORDER = {"CLUSTER": 0, "TOPIC": 1, "GROUP": 2}
_KAFKA_TYPES = {
    "CLUSTER": ResourceType.BROKER,
    "TOPIC": ResourceType.TOPIC,
    "GROUP": ResourceType.GROUP,
}


@dataclass(frozen=True)
class PlannedAcl:
    """One ALLOW binding to create: ``principal`` may do ``operation`` on the resource
    (``resource_name`` read by ``pattern_type``) of ``cluster`` from ``host``, for ``reasons``;
    ``critical`` when what runs unattended needs it."""

    cluster: str
    principal: str
    resource_type: ResourceType_
    pattern_type: Literal["LITERAL", "PREFIXED"]
    resource_name: str
    operation: str
    host: str = "*"
    reasons: tuple[str, ...] = ()
    critical: bool = True

    def binding(self) -> AclBinding:
        """The binding as confluent-kafka's AdminClient.create_acls takes it."""
        return AclBinding(
            _KAFKA_TYPES[self.resource_type],
            self.resource_name,
            ResourcePatternType[self.pattern_type],
            self.principal,
            self.host,
            AclOperation[self.operation],
            AclPermissionType.ALLOW,
        )

    def command(self, bootstrap_servers: str, command_config: str | None = None) -> str:
        """The kafka-acls command line that adds it ('kafka-acls --bootstrap-server B
        [--command-config FILE] --add --allow-principal User:x --operation Read --topic demo.
        --resource-pattern-type prefixed'), every word quoted for a shell."""
        words = ["kafka-acls", "--bootstrap-server", bootstrap_servers]
        if command_config is not None:
            words += ["--command-config", command_config]
        words.append("--add")
        words += ["--allow-principal", self.principal]
        if self.host != "*":
            words += ["--allow-host", self.host]
        words += ["--operation", kafka_acls_operation(self.operation)]
        if self.resource_type == "CLUSTER":
            words.append("--cluster")
        else:
            words += [f"--{self.resource_type.lower()}", self.resource_name]
        if self.pattern_type == "PREFIXED":
            words += ["--resource-pattern-type", "prefixed"]
        return " ".join(shlex.quote(w) for w in words)


@dataclass(frozen=True)
class UnexpressibleAcl:
    """Operations a principal needs on the topics or groups a config regex matches, which no
    Kafka pattern expresses: each such name must be granted one by one."""

    cluster: str
    principal: str
    resource_type: Literal["TOPIC", "GROUP"]
    regex: str
    exclude: tuple[str, ...]
    operations: tuple[str, ...]
    reasons: tuple[str, ...]
    critical: bool

    @property
    def warning(self) -> str:
        kind = self.resource_type.lower()
        but = f" except '{', '.join(self.exclude)}'" if self.exclude else ""
        return (
            f"{kind}s matching '{self.regex}'{but} on cluster '{self.cluster}' cannot be granted "
            f"by one Kafka ACL: grant {', '.join(self.operations)} to {self.principal} on each "
            f"such {kind} one by one (or plan them from the {kind}s that exist now: --resolve)"
        )


@dataclass(frozen=True)
class PlanPrincipal:
    """Who acts on a cluster: kafka-dr or MirrorMaker 2, as which principal, and where that
    was read (``known`` False: a placeholder, the config does not say)."""

    cluster: str
    role: str
    principal: str
    source: str
    known: bool


@dataclass(frozen=True)
class AclPlan:
    """Every binding to create, the regexes no binding expresses, who acts where, and notes."""

    clusters: tuple[str, ...]
    principals: tuple[PlanPrincipal, ...]
    bindings: tuple[PlannedAcl, ...]
    unexpressible: tuple[UnexpressibleAcl, ...]
    notes: tuple[str, ...]

    def on(self, cluster: str) -> tuple[PlannedAcl, ...]:
        """The bindings of one cluster."""
        return tuple(b for b in self.bindings if b.cluster == cluster)


def kafka_acls_operation(operation: str) -> str:
    """kafka-acls' name of an AclOperation name: DESCRIBE_CONFIGS -> DescribeConfigs."""
    return "".join(word.capitalize() for word in operation.split("_"))


def plan_acls(
    settings: Settings,
    *,
    cluster: str | None = None,
    principal: str | None = None,
    names: NameLookup | None = None,
) -> AclPlan:
    """The ACL plan of the config, for every cluster or only ``cluster``. ``principal`` is
    kafka-dr's principal on every cluster (default: User:<sasl.username> of clusters.C.client,
    a placeholder when there is none); ``names`` resolves the regexes no Kafka pattern
    expresses into the names that exist now. Raises UsageError for an unknown cluster or a
    principal that is not TYPE:NAME; a name lookup raises what it raises (a cluster that
    cannot be reached: DrError)."""
    clusters = [cluster] if cluster is not None else list(settings.clusters)
    if cluster is not None and cluster not in settings.clusters:
        known = ", ".join(settings.clusters)
        raise UsageError(f"no cluster '{cluster}' in the config (its clusters: {known})")
    if principal is not None and not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*:\S.*", principal):
        raise UsageError(f"principal '{principal}' is not TYPE:NAME (for example User:kafka-dr)")
    principals = _principals(settings, clusters, principal)
    who = {(p.cluster, p.role): p.principal for p in principals}
    needs = [(KAFKA_DR_ROLE, n) for n in needed_acls(settings)]
    needs += [(MIRROR_ROLE, n) for n in mirror_maker_needs(settings.mirror)]
    builder = _Builder(names)
    for role, need in needs:
        if need.cluster in clusters:
            builder.add(who[(need.cluster, role)], need)
    notes = [
        f"{p.role} on cluster '{p.cluster}' acts as {p.principal}: {p.source}"
        for p in principals
        if not p.known
    ]
    if settings.mirror is not None and settings.mirror.deploy == "connect":
        notes.append(
            "MirrorMaker runs in Kafka Connect: its workers' group and internal topics are the "
            "Connect cluster's own and are not planned here"
        )
    notes += builder.notes
    order = {name: i for i, name in enumerate(clusters)}
    roles = {(p.cluster, p.principal): i for i, p in enumerate(principals)}
    return AclPlan(
        clusters=tuple(clusters),
        principals=tuple(principals),
        bindings=tuple(sorted(builder.bindings.values(), key=lambda b: _rank(b, order, roles))),
        unexpressible=tuple(builder.unexpressible.values()),
        notes=tuple(notes),
    )


def existing_names(settings: Settings) -> NameLookup:
    """A name lookup that asks each cluster (as kafka-dr's own client) for its topics or
    consumer groups, once per cluster and kind. Raises DrError when a cluster cannot answer."""

    def lookup(cluster: str, kind: ResourceKind) -> Sequence[str]:
        spec = settings.clusters[cluster]
        admin = admin_client(spec)
        if kind == "topic":
            return sorted(list_topic_partitions(admin, spec.timeout_s))
        return group_ids(admin, spec.timeout_s)

    return lookup


def admin_config(cluster: ClusterSettings, given: str | None) -> str | None:
    """The --command-config of the kafka-acls commands for ``cluster``: the file ``given``;
    else, when kafka-dr reaches the cluster over TLS or SASL, ADMIN_CONFIG_PLACEHOLDER (a
    command without one cannot connect); else None (a PLAINTEXT cluster)."""
    if given is not None:
        return given
    protocol = str(cluster.client_properties().get("security.protocol", "PLAINTEXT"))
    return None if protocol.upper() == "PLAINTEXT" else ADMIN_CONFIG_PLACEHOLDER


def plan_json(
    plan: AclPlan, settings: Settings, *, command_config: str | None = None
) -> dict[str, Any]:
    """The documented --json document (schema kafka-dr.acl-plan/1)."""
    return {
        "schema": SCHEMA,
        "clusters": [
            {
                "name": name,
                "bootstrap_servers": settings.clusters[name].bootstrap_servers,
                "principals": [
                    {"role": p.role, "principal": p.principal, "known": p.known, "source": p.source}
                    for p in plan.principals
                    if p.cluster == name
                ],
            }
            for name in plan.clusters
        ],
        "bindings": [
            {
                "cluster": b.cluster,
                "principal": b.principal,
                "resource_type": b.resource_type,
                "pattern_type": b.pattern_type,
                "resource_name": b.resource_name,
                "operation": b.operation,
                "host": b.host,
                "permission": "ALLOW",
                "critical": b.critical,
                "reasons": list(b.reasons),
                "command": b.command(
                    settings.clusters[b.cluster].bootstrap_servers,
                    admin_config(settings.clusters[b.cluster], command_config),
                ),
            }
            for b in plan.bindings
        ],
        "unexpressible": [
            {
                "cluster": u.cluster,
                "principal": u.principal,
                "resource_type": u.resource_type,
                "regex": u.regex,
                "exclude": list(u.exclude),
                "operations": list(u.operations),
                "critical": u.critical,
                "reasons": list(u.reasons),
                "warning": u.warning,
            }
            for u in plan.unexpressible
        ],
        "notes": list(plan.notes),
    }


def _principals(
    settings: Settings, clusters: list[str], principal: str | None
) -> list[PlanPrincipal]:
    mirrored = set()
    if settings.mirror is not None:
        for flow in settings.mirror.flows:
            mirrored |= {flow.source, flow.target}
    clients: Mapping[str, Any] = getattr(settings.mirror, "clients", {}) or {}
    out: list[PlanPrincipal] = []
    for name in clusters:
        props = settings.clusters[name].client_properties()
        user = props.get("sasl.username")
        if principal is not None:
            out.append(PlanPrincipal(name, KAFKA_DR_ROLE, principal, "given by --principal", True))
        elif user:
            source = f"sasl.username of clusters.{name}.client"
            out.append(PlanPrincipal(name, KAFKA_DR_ROLE, f"User:{user}", source, True))
        else:
            source = (
                f"the principal cannot be known from the config (no sasl.username in "
                f"clusters.{name}.client; with TLS client certificates it is the certificate's "
                "name): give it with --principal User:NAME"
            )
            out.append(PlanPrincipal(name, KAFKA_DR_ROLE, KAFKA_DR_PLACEHOLDER, source, False))
        if name in mirrored:
            out.append(_mirror_principal(name, props, clients.get(name)))
    return out


def _mirror_principal(name: str, props: dict[str, str], own: Any) -> PlanPrincipal:
    merged = dict(props)
    for key, value in dict(own or {}).items():
        merged[key] = value.get_secret_value() if hasattr(value, "get_secret_value") else value
    user = merged.get("sasl.username")
    if user:
        source = (
            f"sasl.username of mirror.clients.{name}"
            if user != props.get("sasl.username")
            else f"sasl.username of clusters.{name}.client (mirror.clients.{name} sets none)"
        )
        return PlanPrincipal(name, MIRROR_ROLE, f"User:{user}", source, True)
    source = (
        f"MirrorMaker's principal cannot be known from the config (no sasl.username in "
        f"mirror.clients.{name} or clusters.{name}.client): replace the placeholder"
    )
    return PlanPrincipal(name, MIRROR_ROLE, MIRROR_PLACEHOLDER, source, False)


class _Builder:
    """Turns needs into merged bindings (one per cluster, principal, pattern and operation,
    with every reason) and the regexes no binding expresses."""

    def __init__(self, names: NameLookup | None) -> None:
        self._names = names
        self._cache: dict[tuple[str, ResourceKind], Sequence[str]] = {}
        self._resolved: set[tuple[str, str, str]] = set()
        self.bindings: dict[tuple[str, ...], PlannedAcl] = {}
        self.unexpressible: dict[tuple[str, ...], UnexpressibleAcl] = {}
        self.notes: list[str] = []

    def add(self, principal: str, need: NeededAcl) -> None:
        resource = need.resource
        pattern = resource.kafka_pattern()
        if pattern is not None:
            self._bind(principal, need, pattern[0], pattern[1])
        elif self._names is None:
            self._unexpressible(principal, need)
        else:
            for name in self._matching(need):
                self._bind(principal, need, "LITERAL", name)

    def _bind(
        self,
        principal: str,
        need: NeededAcl,
        pattern_type: Literal["LITERAL", "PREFIXED"],
        name: str,
    ) -> None:
        kind = _TYPES[need.resource.kind]
        key = (need.cluster, principal, kind, pattern_type, name, need.operation)
        seen = self.bindings.get(key)
        if seen is None:
            self.bindings[key] = PlannedAcl(
                need.cluster,
                principal,
                kind,
                pattern_type,
                name,
                need.operation,
                reasons=need.reasons,
                critical=need.critical,
            )
            return
        reasons = seen.reasons + tuple(r for r in need.reasons if r not in seen.reasons)
        self.bindings[key] = PlannedAcl(
            seen.cluster,
            seen.principal,
            seen.resource_type,
            seen.pattern_type,
            seen.resource_name,
            seen.operation,
            reasons=reasons,
            critical=seen.critical or need.critical,
        )

    def _unexpressible(self, principal: str, need: NeededAcl) -> None:
        r = need.resource
        kind: Literal["TOPIC", "GROUP"] = "TOPIC" if r.kind == "topic" else "GROUP"
        key = (need.cluster, principal, kind, r.name, *r.exclude)
        seen = self.unexpressible.get(key)
        ops = (seen.operations if seen else ()) + (need.operation,)
        reasons = (seen.reasons if seen else ()) + need.reasons
        self.unexpressible[key] = UnexpressibleAcl(
            need.cluster,
            principal,
            kind,
            r.name,
            r.exclude,
            tuple(sorted(set(ops), key=OPERATIONS.index)),
            tuple(dict.fromkeys(reasons)),
            need.critical or bool(seen and seen.critical),
        )

    def _matching(self, need: NeededAcl) -> list[str]:
        r, cluster = need.resource, need.cluster
        key = (cluster, r.kind)
        if key not in self._cache:
            assert self._names is not None
            self._cache[key] = self._names(cluster, r.kind)
        found = [n for n in self._cache[key] if r.matches(n)]
        note_key = (cluster, r.name, ",".join(r.exclude))
        if note_key not in self._resolved:
            self._resolved.add(note_key)
            listed = ", ".join(found[:10]) + (", ..." if len(found) > 10 else "")
            what = f"{r.kind}s matching '{r.name}' on cluster '{cluster}'"
            self.notes.append(
                f"{what}: planned for the {len(found)} that exist now ({listed or 'none'}); "
                f"a {r.kind} created later needs its own bindings"
            )
        return found


def _rank(
    b: PlannedAcl, order: dict[str, int], roles: dict[tuple[str, str], int]
) -> tuple[int, int, int, str, str, int]:
    op = OPERATIONS.index(b.operation) if b.operation in OPERATIONS else len(OPERATIONS)
    return (
        order.get(b.cluster, len(order)),
        roles.get((b.cluster, b.principal), len(roles)),
        _TYPE_ORDER[b.resource_type],
        b.resource_name,
        b.pattern_type,
        op,
    )
