"""The backed-up ACL bindings a restore recreates on the target, and under which names.

The rule, ``--acls``: the bindings that concern what is restored, ALLOW and DENY alike:

* TOPIC, LITERAL, naming a restored topic: created for the topic's restored name (``--rename
  orders=orders-copy`` gives the binding on ``orders`` to ``orders-copy``);
* TOPIC, PREFIXED or the wildcard ``*``, covering the restored name of a restored topic:
  created as it was (a prefix is never renamed);
* GROUP, only for the groups a ``--groups`` restore commits: LITERAL naming one (under the
  group's restored name: groups keep their names), PREFIXED or ``*`` covering one, as it was.

``--acls-all`` adds every other backed-up binding as it was: other topics and groups, the
cluster, transactional ids. A binding of a renamed topic is still created for its new name
only. SCRAM credentials are never backed up, only user names: those the target lacks are
listed for an operator to create.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from dr.config.schema import ClusterSettings
from dr.errors import DrError
from dr.kafka import acls as kacls
from dr.kafka.client import admin_client
from dr.log import get_logger

log = get_logger(__name__)

AclMode = Literal["restored", "all"]
FIELDS = ("resource_type", "name", "pattern_type", "principal", "host", "operation", "permission")


@dataclass(frozen=True, order=True)
class Acl:
    """One ACL binding, with Kafka's (confluent-kafka's) names for its kinds."""

    resource_type: str  # TOPIC, GROUP, BROKER (the cluster), TRANSACTIONAL_ID
    name: str
    pattern_type: str  # LITERAL, PREFIXED
    principal: str
    host: str
    operation: str
    permission: str  # ALLOW, DENY

    @classmethod
    def of(cls, binding: Mapping[str, Any]) -> Acl:
        return cls(**{f: str(binding[f]) for f in FIELDS})

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    def covers(self, name: str) -> bool:
        """Whether this binding's pattern matches a resource named ``name``."""
        if self.pattern_type == "PREFIXED":
            return name.startswith(self.name)
        return self.pattern_type == "LITERAL" and self.name in ("*", name)

    def describe(self) -> str:
        """'DENY User:eve READ on topic 'orders'', with the host when it is not every host."""
        host = "" if self.host == "*" else f" from host {self.host}"
        return f"{self.permission} {self.principal} {self.operation} on {self.resource()}{host}"

    def resource(self) -> str:
        kind = {"TOPIC": "topic", "GROUP": "group", "TRANSACTIONAL_ID": "transactional id"}.get(
            self.resource_type, self.resource_type.lower()
        )
        if self.resource_type in ("BROKER", "CLUSTER"):
            return "the cluster"
        if self.pattern_type == "PREFIXED":
            return f"{kind}s prefixed '{self.name}'"
        if self.name == "*":
            return f"every {kind} ('*')"
        return f"{kind} '{self.name}'"


class AclRestoreError(DrError):
    """The target cannot take the backup's ACLs (it has no authorizer)."""


@dataclass(frozen=True)
class RestoredAcl:
    """A binding to create on the target, why, and whether the target had it when planned
    (None: not known)."""

    acl: Acl
    reason: str
    exists: bool | None = None


@dataclass(frozen=True)
class AclPlan:
    """The ACL part of a restore plan. ``problem`` blocks the restore (no authorizer, not
    authorized); the notes are warnings."""

    mode: AclMode
    bindings: tuple[RestoredAcl, ...]
    left_out: int = 0  # backed-up bindings that concern nothing restored
    backup_note: str | None = None  # why the backup holds no ACLs
    scram_users_to_create: tuple[str, ...] = ()
    scram_note: str | None = None  # why the target's SCRAM users could not be checked
    problem: str | None = None


@dataclass(frozen=True)
class AclResult:
    created: tuple[Acl, ...]
    existed: tuple[Acl, ...]


def select_acls(
    backed_up: object,
    *,
    topics: Mapping[str, str],
    groups: Mapping[str, str],
    mode: AclMode,
) -> tuple[tuple[RestoredAcl, ...], int]:
    """The bindings to create (sorted, each once) from the backup's ``acls`` (a list of
    binding dicts, or the string saying why there are none), for restored ``topics`` and
    ``groups`` (source name -> restored name); and how many backed-up bindings are left out."""
    if not isinstance(backed_up, list):
        return (), 0
    chosen: dict[Acl, str] = {}
    left_out = 0
    for entry in backed_up:
        acl = Acl.of(entry)
        picked = _pick(acl, topics, groups) or (
            (acl, "as backed up (--acls-all)") if mode == "all" else None
        )
        if picked is None:
            left_out += 1
        elif picked[0] not in chosen:
            chosen[picked[0]] = picked[1]
    return tuple(RestoredAcl(a, chosen[a]) for a in sorted(chosen)), left_out


def _pick(acl: Acl, topics: Mapping[str, str], groups: Mapping[str, str]) -> tuple[Acl, str] | None:
    """The binding as created for what is restored, and why; None when it concerns nothing
    restored."""
    kinds = {"TOPIC": ("topic", topics), "GROUP": ("group", groups)}
    if acl.resource_type not in kinds:
        return None
    kind, restored = kinds[acl.resource_type]
    if acl.pattern_type == "LITERAL" and acl.name in restored:
        target = restored[acl.name]
        if target == acl.name:
            return acl, f"restored {kind} '{acl.name}'"
        return _renamed(acl, target), f"{kind} '{acl.name}' restored as '{target}'"
    covered = sorted(t for t in restored.values() if acl.covers(t))
    if not covered:
        return None
    more = f" and {len(covered) - 1} more" if len(covered) > 1 else ""
    return acl, f"covers restored {kind} '{covered[0]}'{more} (kept as is, not renamed)"


def _renamed(acl: Acl, name: str) -> Acl:
    return Acl(**(acl.as_dict() | {"name": name}))


def missing_scram_users(backed_up: object, target_users: set[str]) -> tuple[str, ...]:
    """The backed-up SCRAM user names (metadata ``scram_users``: dicts with ``user``) the
    target does not have, sorted."""
    if not isinstance(backed_up, list):
        return ()
    names = {str(u["user"]) for u in backed_up if isinstance(u, Mapping) and "user" in u}
    return tuple(sorted(names - target_users))


def plan_acls(
    cluster: ClusterSettings,
    metadata: Mapping[str, Any],
    *,
    to: str,
    mode: AclMode,
    topics: Mapping[str, str],
    groups: Mapping[str, str],
) -> AclPlan:
    """The ACL part of a restore onto cluster ``to``: reads the target's ACLs (to mark those
    that exist) and SCRAM users, never writes. A target without an authorizer, or refusing
    to show its ACLs, gives a plan with a ``problem``."""
    backed_up = metadata.get("acls", [])
    selected, left_out = select_acls(backed_up, topics=topics, groups=groups, mode=mode)
    note = None if isinstance(backed_up, list) else f"the backup holds no ACLs ({backed_up})"
    admin = admin_client(cluster)
    problem = None
    existing: set[Acl] | None = None
    try:
        kacls.check_may_create_acls(admin, admin.timeout_s)
        existing = {Acl.of(b) for b in kacls.cluster_acls(admin, admin.timeout_s)}
    except kacls.NoAuthorizerError:
        problem = no_authorizer(to)
    except DrError as exc:
        problem = exc.message
    bindings = tuple(
        RestoredAcl(r.acl, r.reason, None if existing is None else r.acl in existing)
        for r in selected
    )
    to_create, scram_note = _scram(admin, metadata.get("scram_users", []), to)
    return AclPlan(mode, bindings, left_out, note, to_create, scram_note, problem)


def _scram(admin: Any, backed_up: object, to: str) -> tuple[tuple[str, ...], str | None]:
    if not isinstance(backed_up, list) or not backed_up:
        return (), None
    try:
        users = set(kacls.scram_user_names(admin, admin.timeout_s))
    except DrError as exc:
        every = missing_scram_users(backed_up, set())
        return every, f"the SCRAM users of '{to}' could not be checked: {exc.message}"
    return missing_scram_users(backed_up, users), None


def no_authorizer(cluster: str) -> str:
    return f"cluster '{cluster}' has no authorizer: its ACLs cannot be restored (drop --acls)"


def apply_acls(cluster: ClusterSettings, plan: AclPlan, *, to: str) -> AclResult:
    """Create the plan's bindings the target does not have now; safe to run again (those
    there are counted as existed). Raises AclRestoreError (no authorizer),
    NotAuthorizedError (ALTER on the cluster refused), KafkaError."""
    admin = admin_client(cluster)
    wanted = [r.acl for r in plan.bindings]
    try:
        kacls.check_may_create_acls(admin, admin.timeout_s)
        existing = {Acl.of(b) for b in kacls.cluster_acls(admin, admin.timeout_s)}
        missing = [a for a in wanted if a not in existing]
        kacls.create_acls(admin, [a.as_dict() for a in missing], admin.timeout_s)
        there = {Acl.of(b) for b in kacls.cluster_acls(admin, admin.timeout_s)}
    except kacls.NoAuthorizerError:
        raise AclRestoreError(no_authorizer(to)) from None
    absent = [a for a in missing if a not in there]
    if absent:  # librdkafka may report success for what the cluster did not do
        raise AclRestoreError(
            f"cluster '{to}' accepted ACL {absent[0].describe()} but does not show it: check "
            "the ACLs of kafka-dr's principal and run the restore again"
        )
    existed = tuple(a for a in wanted if a in existing)
    log.info("acls_restored", cluster=to, created=len(missing), existed=len(existed))
    return AclResult(tuple(missing), existed)
