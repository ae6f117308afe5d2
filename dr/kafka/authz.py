"""Kafka's refusals for authorization, turned into one error that says what to grant.

A refusal comes as a Kafka error code (TOPIC_AUTHORIZATION_FAILED, GROUP_..., CLUSTER_...,
TRANSACTIONAL_ID_...) in a KafkaException of the AdminClient, in a consumed message's error,
in a producer's delivery report, or as librdkafka's local variant of the same name with a
leading underscore. The caller knows what it asked (the operation and the resource); the
cluster's settings say as whom (User:<sasl.username>).
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaException

from dr.config.schema import ClusterSettings
from dr.errors import NotAuthorizedError

# The refusal codes, by the kind of resource they refuse.
REFUSED_KINDS = {
    "TOPIC_AUTHORIZATION_FAILED": "topic",
    "GROUP_AUTHORIZATION_FAILED": "group",
    "CLUSTER_AUTHORIZATION_FAILED": "cluster",
    "TRANSACTIONAL_ID_AUTHORIZATION_FAILED": "transactional id",
    "DELEGATION_TOKEN_AUTHORIZATION_FAILED": "delegation token",
}
_ANY = {
    "topic": "a topic",
    "group": "a group",
    "cluster": "the cluster",
    "transactional id": "a transactional id",
    "delegation token": "a delegation token",
}


def refused_kind(error: object) -> str | None:
    """The kind of resource Kafka refused ('topic', 'group', 'cluster'...) when ``error`` (a
    KafkaException, a librdkafka KafkaError, or an exception caused by one) is a refusal for
    authorization; None for any other error."""
    seen = 0
    while isinstance(error, BaseException) and not isinstance(error, KafkaException) and seen < 5:
        error = error.__cause__ or error.__context__
        seen += 1
    err: Any = error.args[0] if isinstance(error, KafkaException) and error.args else error
    try:
        name = str(err.name()) if hasattr(err, "name") else ""
    except Exception:  # an error object confluent-kafka no longer lets us read
        return None
    return REFUSED_KINDS.get(name.lstrip("_"))


def principal_of(cluster: ClusterSettings) -> str:
    """As whom kafka-dr's clients act on the cluster: User:<sasl.username>, or what the
    config cannot say (a TLS client certificate's name, or ANONYMOUS)."""
    user = cluster.client_properties().get("sasl.username")
    if user:
        return f"User:{user}"
    return "the principal of its client settings (no sasl.username: its TLS certificate's name)"


def cluster_name(cluster: ClusterSettings) -> str:
    """The cluster's name in the config (its bootstrap servers outside a config)."""
    return cluster.name or cluster.bootstrap_servers


def not_authorized(
    error: object,
    *,
    cluster: str,
    principal: str,
    operation: str | None = None,
    resource: str | None = None,
) -> NotAuthorizedError | None:
    """The NotAuthorizedError for ``error`` when Kafka refused it for authorization, None
    otherwise. ``operation`` ('READ') and ``resource`` ("topic 'orders'") are what the caller
    asked; a refusal of another kind of resource (the cluster, when a topic was asked) names
    that kind instead."""
    kind = refused_kind(error)
    if kind is None:
        return None
    if resource is None or not resource.startswith("the cluster" if kind == "cluster" else kind):
        resource, operation = _ANY[kind], operation if resource is None else None
    return NotAuthorizedError(
        operation=operation or "use",
        resource=resource,
        cluster=cluster,
        principal=principal,
    )


def refusal(
    cluster: ClusterSettings,
    error: object,
    *,
    operation: str | None = None,
    resource: str | None = None,
) -> NotAuthorizedError | None:
    """not_authorized() for a client of this cluster's settings."""
    return not_authorized(
        error,
        cluster=cluster_name(cluster),
        principal=principal_of(cluster),
        operation=operation,
        resource=resource,
    )
