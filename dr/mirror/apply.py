"""Bringing a Kafka Connect cluster's Mirror connectors to the rendered configs, and only that.

``plan_apply`` compares the desired configs with the ones Connect holds; ``apply`` writes the
connectors to create and to update and leaves the others alone, so applying twice changes
nothing the second time. A plan shows which keys change; the values of secret-looking keys are
never in it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from dr.log import MASK, get_logger, is_secret_key, redact_text

log = get_logger(__name__)

# Connect adds the connector's name to the config it stores.
_ADDED_BY_CONNECT = frozenset({"name"})


class ConnectorConfigs(Protocol):
    """Where connector configs are read and written: a ConnectClient, or a fake in tests."""

    def config(self, name: str) -> dict[str, str] | None: ...

    def put_config(self, name: str, config: dict[str, str]) -> None: ...

    def delete(self, name: str) -> bool: ...


@dataclass(frozen=True)
class ConfigChange:
    """One key of a connector config that changes; a secret's values are masked.

    ``old`` is None for a key that is added, ``new`` None for a key that is removed.
    """

    key: str
    old: str | None
    new: str | None

    def describe(self) -> str:
        """One line: ``topics: 'a' -> 'b'``, ``+ key: 'v'``, ``- key``; a secret's value hidden."""
        if self.new is None:
            return f"- {self.key}"
        if MASK in (self.old, self.new):
            return f"{'+ ' if self.old is None else ''}{self.key}: (secret, value hidden)"
        if self.old is None:
            return f"+ {self.key}: '{self.new}'"
        return f"{self.key}: '{self.old}' -> '{self.new}'"


@dataclass(frozen=True)
class ConnectorUpdate:
    """A connector whose config differs from the desired one, and how."""

    name: str
    changes: tuple[ConfigChange, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        """The keys that change."""
        return tuple(c.key for c in self.changes)


@dataclass(frozen=True)
class ApplyPlan:
    """What applying the desired connector configs does: create, update or leave alone.

    ``configs`` holds the desired configs of the connectors to create and update, secrets
    included: it is kept out of the plan's repr and description.
    """

    creates: tuple[str, ...]
    updates: tuple[ConnectorUpdate, ...]
    unchanged: tuple[str, ...]
    configs: Mapping[str, Mapping[str, str]] = field(default_factory=dict, repr=False)
    deletes: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        """True when applying the plan creates, updates or deletes a connector."""
        return bool(self.creates or self.updates or self.deletes)

    def describe(self) -> str:
        """The plan for a person, one connector a line, changed keys indented below."""
        if not self.changed:
            unchanged = ", ".join(self.unchanged) or "none"
            return f"nothing to change: every connector is as desired ({unchanged})"
        lines = [f"create {name}" for name in self.creates]
        for update in self.updates:
            lines.append(f"update {update.name}")
            lines += [f"    {change.describe()}" for change in update.changes]
        lines += [f"delete {name} (no longer wanted)" for name in self.deletes]
        lines += [f"unchanged {name}" for name in self.unchanged]
        return "\n".join(lines)


def plan_apply(
    client: ConnectorConfigs,
    desired: Mapping[str, Mapping[str, str]],
    *,
    unwanted: tuple[str, ...] = (),
) -> ApplyPlan:
    """The plan that brings each desired connector to its config, from what Connect holds now.

    Keys that Connect adds by itself ("name") are not differences. Raises what the client
    raises (ConnectError) when Connect cannot be read.
    """
    creates: list[str] = []
    updates: list[ConnectorUpdate] = []
    unchanged: list[str] = []
    for name, config in desired.items():
        current = client.config(name)
        if current is None:
            creates.append(name)
            continue
        changes = _changes(current, config)
        if changes:
            updates.append(ConnectorUpdate(name=name, changes=changes))
        else:
            unchanged.append(name)
    to_write = {*creates, *(u.name for u in updates)}
    return ApplyPlan(
        creates=tuple(creates),
        updates=tuple(updates),
        unchanged=tuple(unchanged),
        configs={name: dict(desired[name]) for name in desired if name in to_write},
        deletes=tuple(n for n in unwanted if n not in desired),
    )


def apply(client: ConnectorConfigs, plan: ApplyPlan) -> ApplyPlan:
    """Write the plan's creates and updates to Connect; returns the plan applied.

    Connectors the plan leaves unchanged are not written. Raises what the client raises
    (ConnectError); connectors written before the failure stay written, and planning again
    shows what is left.
    """
    for name in plan.creates:
        client.put_config(name, dict(plan.configs[name]))
        log.info("connector_created", connector=name)
    for update in plan.updates:
        client.put_config(update.name, dict(plan.configs[update.name]))
        log.info("connector_updated", connector=update.name, keys=list(update.keys))
    for name in plan.deletes:
        client.delete(name)
        log.info("connector_deleted", connector=name)
    log.info(
        "connectors_applied",
        created=len(plan.creates),
        updated=len(plan.updates),
        unchanged=len(plan.unchanged),
    )
    return plan


def _changes(current: Mapping[str, str], desired: Mapping[str, str]) -> tuple[ConfigChange, ...]:
    keys = sorted((set(current) - _ADDED_BY_CONNECT) | set(desired))
    return tuple(
        ConfigChange(
            key=key,
            old=_shown(key, current.get(key)),
            new=_shown(key, desired.get(key)),
        )
        for key in keys
        if current.get(key) != desired.get(key)
    )


def _shown(key: str, value: str | None) -> str | None:
    if value is None:
        return None
    return MASK if is_secret_key(key) else redact_text(value)
