"""The DrError tree: every failure the user can meet, with its exit code.

Exit codes: 0 success, 1 a check found a problem (degraded, breached, verify failed),
2 an error (bad input, unreachable cluster, missing tool), 130 interrupted.
"""

from __future__ import annotations


class DrError(Exception):
    """Base of every kafka-dr error; its message is one line naming what is at fault."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(DrError):
    """The configuration is invalid; carries every problem found, each with its key path."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = list(problems)
        first = self.problems[0] if self.problems else "invalid"
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(f"config {source}: {first}{more}")


class UsageError(DrError):
    """A command was given arguments that cannot work together."""


class ToolMissingError(DrError):
    """A program kafka-dr needs (Java, Maven) is not installed."""


class KafkaError(DrError):
    """A Kafka cluster could not be reached or refused a request."""


class NotAuthorizedError(KafkaError):
    """Kafka refused kafka-dr for authorization: names the operation, the resource, the
    cluster and the principal, and what to do (dr.kafka.authz builds it)."""

    def __init__(self, *, operation: str, resource: str, cluster: str, principal: str) -> None:
        self.operation = operation
        self.resource = resource
        self.cluster = cluster
        self.principal = principal
        super().__init__(
            f"not authorized to {operation} {resource} on cluster '{cluster}' as {principal}: "
            "grant it (see 'kafka-dr acls plan')"
        )


class ClusterUnreachableError(KafkaError):
    """A cluster did not answer within the deadline."""


class LabError(DrError):
    """The local lab could not be started, reached or stopped."""


class Interrupted(DrError):
    """The user interrupted the command."""

    exit_code = 130
