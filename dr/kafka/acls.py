"""ACL bindings and SCRAM user names of a cluster, read and created as plain dicts.

A binding is a dict of seven strings, as the backup's metadata keeps it: ``resource_type``
(confluent-kafka's names: TOPIC, GROUP, BROKER for the cluster, TRANSACTIONAL_ID), ``name``,
``pattern_type`` (LITERAL, PREFIXED), ``principal``, ``host``, ``operation`` and
``permission`` (ALLOW, DENY). Reading ACLs needs DESCRIBE on the cluster, creating them ALTER
(which implies DESCRIBE): a refusal of either names ALTER, what restoring ACLs needs.

librdkafka answers DescribeAcls refused (or on a cluster without an authorizer) with no
bindings rather than an error, and a refused DescribeUserScramCredentials can crash the
process: what the principal may do is therefore asked first, from the operations DescribeCluster
says it is authorized for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from confluent_kafka import KafkaError as RdKafkaError
from confluent_kafka import KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from dr.errors import KafkaError, NotAuthorizedError
from dr.kafka import admin as kadmin

Binding = Mapping[str, str]
CREATING_ACLS = "the cluster (to create ACLs)"


class NoAuthorizerError(KafkaError):
    """The cluster runs no authorizer (Kafka answers SECURITY_DISABLED): it has no ACLs."""

    def __init__(self, cluster: str) -> None:
        super().__init__(f"cluster '{cluster}' has no authorizer")
        self.cluster = cluster


def cluster_operations(admin: AdminClient, timeout_s: float) -> set[str] | None:
    """The operations the client's principal may do on the cluster (ALTER, DESCRIBE...; ALL
    stands for every one), or None when the cluster does not say (Kafka does not when DESCRIBE
    on the cluster is refused). Raises KafkaError."""
    try:
        found = admin.describe_cluster(
            include_authorized_operations=True, request_timeout=timeout_s
        ).result(timeout=timeout_s + 5)
    except (KafkaException, TimeoutError) as exc:
        raise kadmin.failed(admin, "cannot describe the cluster", exc) from None
    ops = found.authorized_operations
    return None if ops is None else {op.name for op in ops}


def may(operations: set[str] | None, operation: str) -> bool:
    """Whether ``operations`` (cluster_operations) allow ``operation``; None (not even
    DESCRIBE) allows nothing."""
    return operations is not None and bool({operation, "ALL"} & operations)


def check_may_create_acls(admin: AdminClient, timeout_s: float) -> None:
    """Raises NoAuthorizerError when the cluster runs no authorizer, NotAuthorizedError (ALTER
    on the cluster) when the client's principal may not create ACLs on it."""
    if kadmin.has_authorizer(admin, timeout_s) is False:
        raise NoAuthorizerError(getattr(admin, "cluster_name", None) or "?")
    if not may(cluster_operations(admin, timeout_s), "ALTER"):
        raise NotAuthorizedError(
            operation="ALTER",
            resource=CREATING_ACLS,
            cluster=getattr(admin, "cluster_name", None) or "?",
            principal=getattr(admin, "principal", None) or "its client's principal",
        )


def cluster_acls(admin: AdminClient, timeout_s: float) -> list[dict[str, str]]:
    """Every ACL binding of the cluster. Raises NoAuthorizerError (no authorizer),
    NotAuthorizedError (refused: names ALTER on the cluster), KafkaError (anything else)."""
    # A broker without an authorizer may answer DescribeAcls with no bindings rather than
    # SECURITY_DISABLED: its config says so first (when kafka-dr may read it).
    if kadmin.has_authorizer(admin, timeout_s) is False:
        raise NoAuthorizerError(getattr(admin, "cluster_name", None) or "?")
    try:
        return kadmin.describe_all_acls(admin, timeout_s)
    except (KafkaException, TimeoutError) as exc:
        raise _failed(admin, "cannot read its ACLs", exc) from None


def create_acls(admin: AdminClient, bindings: Sequence[Binding], timeout_s: float) -> None:
    """Create ``bindings`` (one that exists already is left as it is: Kafka's create is
    idempotent). Raises NoAuthorizerError, NotAuthorizedError (naming ALTER on the cluster),
    KafkaError naming the first binding refused."""
    if not bindings:
        return
    wanted = [
        AclBinding(
            ResourceType[b["resource_type"]],
            b["name"],
            ResourcePatternType[b["pattern_type"]],
            b["principal"],
            b["host"],
            AclOperation[b["operation"]],
            AclPermissionType[b["permission"]],
        )
        for b in bindings
    ]
    futures = admin.create_acls(wanted, request_timeout=timeout_s)
    for binding, asked in zip(bindings, wanted, strict=True):
        try:
            futures[asked].result(timeout=timeout_s + 5)
        except (KafkaException, TimeoutError) as exc:
            what = (
                f"cannot create ACL {binding['permission']} {binding['principal']} "
                f"{binding['operation']} on {binding['resource_type']} '{binding['name']}' "
                f"({binding['pattern_type']})"
            )
            raise _failed(admin, what, exc) from None


def scram_user_names(admin: AdminClient, timeout_s: float) -> list[str]:
    """The names of the cluster's SCRAM users (never their credentials). Raises
    NotAuthorizedError (DESCRIBE on the cluster refused), KafkaError."""
    if not may(cluster_operations(admin, timeout_s), "DESCRIBE"):
        raise NotAuthorizedError(
            operation="DESCRIBE",
            resource="the cluster",
            cluster=getattr(admin, "cluster_name", None) or "?",
            principal=getattr(admin, "principal", None) or "its client's principal",
        )
    try:
        future = admin.describe_user_scram_credentials(request_timeout=timeout_s)
        users = future.result(timeout=timeout_s + 5)  # type: ignore[union-attr]
    except (KafkaException, TimeoutError) as exc:
        raise kadmin.failed(
            admin, "cannot list its SCRAM users", exc, operation="DESCRIBE", resource="the cluster"
        ) from None
    return sorted(users)


def _failed(admin: AdminClient, what: str, exc: BaseException) -> KafkaError:
    if _code(exc) == RdKafkaError.SECURITY_DISABLED:
        return NoAuthorizerError(getattr(admin, "cluster_name", None) or "?")
    error = kadmin.failed(admin, what, exc, operation="ALTER", resource=CREATING_ACLS)
    return error if isinstance(error, KafkaError) else KafkaError(error.message)


def _code(exc: BaseException) -> int | None:
    err = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
    try:
        return int(err.code()) if err is not None and hasattr(err, "code") else None
    except Exception:  # an error object confluent-kafka no longer lets us read
        return None
