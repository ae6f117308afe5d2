"""What an ACL need is made of: a Kafka resource as kafka-dr addresses it (the cluster, a topic
or group by name, by prefix or by the config's regexes), the operation, the reasons."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

ResourceKind = Literal["cluster", "topic", "group"]
PatternKind = Literal["literal", "prefixed", "regex"]
KafkaPattern = tuple[Literal["LITERAL", "PREFIXED"], str]
CLUSTER_RESOURCE = "kafka-cluster"
# Kafka's operations that kafka-dr needs, by their AclOperation names, in the order listed.
OPERATIONS = (
    "DESCRIBE",
    "DESCRIBE_CONFIGS",
    "READ",
    "WRITE",
    "CREATE",
    "DELETE",
    "ALTER",
    "ALTER_CONFIGS",
)
_REGEX_SPECIAL = set(".^$*+?()[]{}|\\")


@dataclass(frozen=True)
class AclResource:
    """A Kafka resource as kafka-dr addresses it: the cluster, one topic or group (literal),
    every name starting with a prefix (prefixed), or every name the config's regex matches in
    full and none of ``exclude`` does (regex)."""

    kind: ResourceKind
    name: str
    pattern: PatternKind = "literal"
    exclude: tuple[str, ...] = ()

    def describe(self) -> str:
        """'the cluster', "topic 'orders'", "topics prefixed '__kafka-dr-drill-'",
        "topics matching 'demo\\..*'"."""
        if self.kind == "cluster":
            return "the cluster"
        if self.pattern == "literal":
            return f"{self.kind} '{self.name}'"
        if self.pattern == "prefixed":
            return f"{self.kind}s prefixed '{self.name}'"
        text = f"{self.kind}s matching '{self.name}'"
        return text + (f" except '{', '.join(self.exclude)}'" if self.exclude else "")

    def matches(self, name: str) -> bool:
        """Whether a topic or group of this name is one of the resource's."""
        if self.pattern == "literal":
            return name == self.name
        if self.pattern == "prefixed":
            return name.startswith(self.name)
        return re.fullmatch(self.name, name) is not None and not any(
            re.fullmatch(x, name) for x in self.exclude
        )

    def kafka_pattern(self) -> KafkaPattern | None:
        """The Kafka resource pattern that grants this resource in one ACL binding: (LITERAL,
        name), (LITERAL, '*') or (PREFIXED, prefix); None for a regex no pattern expresses
        (then each matching name needs its own binding)."""
        if self.kind == "cluster":
            return "LITERAL", CLUSTER_RESOURCE
        if self.pattern == "literal":
            return "LITERAL", self.name
        if self.pattern == "prefixed":
            return "PREFIXED", self.name
        return regex_pattern(self.name)


CLUSTER = AclResource("cluster", CLUSTER_RESOURCE)


@dataclass(frozen=True)
class NeededAcl:
    """One operation kafka-dr needs on one resource of one cluster, and why. ``critical``:
    needed by what runs unattended (a failure there fails the preflight), not only by a
    command run on demand."""

    cluster: str
    resource: AclResource
    operation: str
    reasons: tuple[str, ...]
    critical: bool

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)

    def describe(self) -> str:
        """ "READ on topics matching 'demo\\..*'"."""
        return f"{self.operation} on {self.resource.describe()}"


def regex_pattern(regex: str) -> KafkaPattern | None:
    """The Kafka pattern equivalent to a full-match regex: '.*' is (LITERAL, '*'), 'demo\\..*'
    is (PREFIXED, 'demo.'), 'orders' is (LITERAL, 'orders'); None when there is none."""
    if regex in (".*", ".+"):
        return "LITERAL", "*"
    head, star = (regex[:-2], True) if regex.endswith(".*") else (regex, False)
    text = _literal_text(head)
    if text is None or (not star and not text):
        return None
    return ("PREFIXED", text) if star else ("LITERAL", text)


def _literal_text(regex: str) -> str | None:
    """The text a regex made only of literal characters (and escapes) matches; None when it
    has any other regex syntax."""
    out: list[str] = []
    i = 0
    while i < len(regex):
        ch = regex[i]
        if ch == "\\":
            if i + 1 >= len(regex) or regex[i + 1].isalnum():
                return None  # \d, \w...: a class, not a character
            out.append(regex[i + 1])
            i += 2
            continue
        if ch in _REGEX_SPECIAL:
            return None
        out.append(ch)
        i += 1
    return "".join(out)
