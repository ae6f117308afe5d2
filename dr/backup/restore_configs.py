"""Which configs a restored topic gets: the source's, less what would lose or refuse its data.

A backup's metadata keeps each topic's configs as the source cluster had them. Copied blindly,
some of them make restored records vanish or the restore fail:

- ``retention.ms`` / ``retention.bytes``: backed-up records are usually older than the source's
  retention window by the time they are restored; the cluster deletes them at its next check.
- ``message.timestamp.type=LogAppendTime``: the cluster stamps every restored record with the
  time it is written, replacing the backed-up timestamp.
- ``message.timestamp.*.max.ms``: limits on how far a timestamp may lie from now; backed-up
  records lie outside them, and the cluster refuses them.
- tiered-storage configs (``remote.storage.enable``, ``local.retention.*``, ``remote.log.*``):
  refused by a cluster without tiered storage, and they shorten local retention.
- configs removed in Kafka 4.0 (``message.format.version``, ``message.downconversion.enable``).

The default policy therefore sets unlimited retention and CreateTime with no timestamp limits,
and drops the rest, each change reported with its reason. ``keep_source`` keeps the source's
configs (the timestamp type still becomes CreateTime unless set explicitly); ``overrides`` and
``drops`` (``--config``, ``--drop-config``) come last and win.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dr.backup.tuning import PRODUCER_DEFAULTS
from dr.config.client_overrides import ClientValue

UNLIMITED = "9223372036854775807"  # Long.MAX_VALUE: Kafka's "no limit" for *.max.ms configs
CONFIG_NAME = re.compile(r"[a-z][a-z0-9]*([._-][a-z0-9]+)*")

_RETENTION = "records older (or more) than the source's retention would be deleted at once"
_TIMESTAMP_TYPE = "LogAppendTime would replace every backed-up timestamp by the restore time"
_LIMITS = "the cluster would refuse backed-up records whose timestamps lie outside this limit"
_TIERED = "tiered-storage configs fail on a cluster without tiered storage"
_REMOVED = "removed in Kafka 4.0; it has no effect on the data"
_MIN_ISR = "capped to the replication factor of the restored topic"

SAFE_VALUES: dict[str, tuple[str, str]] = {
    "retention.ms": ("-1", _RETENTION),
    "retention.bytes": ("-1", _RETENTION),
    "message.timestamp.type": ("CreateTime", _TIMESTAMP_TYPE),
    "message.timestamp.before.max.ms": (UNLIMITED, _LIMITS),
    "message.timestamp.after.max.ms": (UNLIMITED, _LIMITS),
}
DROPPED: dict[str, str] = {
    "message.timestamp.difference.max.ms": _LIMITS,
    "remote.storage.enable": _TIERED,
    "local.retention.ms": _TIERED,
    "local.retention.bytes": _TIERED,
    "message.format.version": _REMOVED,
    "message.downconversion.enable": _REMOVED,
}
DROPPED_PREFIXES: dict[str, str] = {"remote.log.": _TIERED}


@dataclass(frozen=True)
class ConfigPolicy:
    """How the configs of restored topics are chosen (see the module docstring)."""

    keep_source: bool = False
    overrides: Mapping[str, str] = field(default_factory=dict)
    drops: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ConfigChange:
    """One config of a restored topic that differs from the source topic's.

    ``source`` None: the source topic did not set it (its cluster's default applied);
    ``restored`` None: the restored topic does not set it (the target cluster's default)."""

    key: str
    source: str | None
    restored: str | None
    reason: str


def restored_configs(
    source: Mapping[str, str], *, replication_factor: int, policy: ConfigPolicy
) -> tuple[dict[str, str], tuple[ConfigChange, ...]]:
    """The configs to create a restored topic with, and every change from the source's."""
    configs = dict(source)
    reasons: dict[str, str] = {}
    if not policy.keep_source:
        for key in list(configs):
            reason = _dropped_reason(key)
            if reason is not None:
                del configs[key]
                reasons[key] = reason
        for key, (value, reason) in SAFE_VALUES.items():
            configs[key] = value
            reasons[key] = reason
    else:
        configs["message.timestamp.type"] = "CreateTime"
        reasons["message.timestamp.type"] = _TIMESTAMP_TYPE
    min_isr = configs.get("min.insync.replicas", "")
    if min_isr.isdigit() and int(min_isr) > replication_factor:
        configs["min.insync.replicas"] = str(replication_factor)
        reasons["min.insync.replicas"] = _MIN_ISR
    for key, value in policy.overrides.items():
        configs[key] = value
        reasons[key] = "set by --config"
    for key in policy.drops:
        configs.pop(key, None)
        reasons[key] = "left to the cluster's default by --drop-config"
    changes = tuple(
        ConfigChange(key, source.get(key), configs.get(key), reason)
        for key, reason in sorted(reasons.items())
        if source.get(key) != configs.get(key)
    )
    return configs, changes


def losing_configs(
    effective: Mapping[str, str], wanted: Mapping[str, str]
) -> list[tuple[str, str, str]]:
    """(key, value, why) for each config of an existing target topic that would lose or refuse
    restored records, unless the restore itself asks for that value (``wanted``: what it
    would create a new topic with)."""
    found = []
    for key, (safe, why) in SAFE_VALUES.items():
        if key in TIMESTAMP_LIMITS:
            continue  # a limit refuses only records outside it: refused_stamps
        value = effective.get(key)
        if value is None or value == safe or value == wanted.get(key):
            continue
        found.append((key, value, why))
    return found


TIMESTAMP_LIMITS = (
    "message.timestamp.before.max.ms",
    "message.timestamp.after.max.ms",
    "message.timestamp.difference.max.ms",  # both ways; gone in Kafka 4.0
)


@dataclass(frozen=True)
class TimestampWindow:
    """The record timestamps a CreateTime topic accepts at one moment: none before
    ``earliest`` nor after ``latest`` (None: no bound); ``*_by`` names the config setting
    each bound (key=value)."""

    earliest: int | None
    latest: int | None
    earliest_by: str = ""
    latest_by: str = ""

    def refusal(self, timestamp: int) -> str | None:
        """The config that refuses a record stamped so, or None (a record without a
        timestamp, -1, is not checked by Kafka)."""
        if timestamp < 0:
            return None
        if self.earliest is not None and timestamp < self.earliest:
            return self.earliest_by
        if self.latest is not None and timestamp > self.latest:
            return self.latest_by
        return None


def timestamp_window(configs: Mapping[str, str], now_ms: int) -> TimestampWindow | None:
    """The timestamps a topic with these configs accepts at now_ms; None when it accepts all
    (no finite limit, or LogAppendTime: the broker stamps records itself)."""
    if configs.get("message.timestamp.type") == "LogAppendTime":
        return None
    bounds: dict[str, tuple[int, str]] = {}
    for key in TIMESTAMP_LIMITS:
        value = configs.get(key, "")
        if not value.isdigit() or value == UNLIMITED:
            continue
        for side in ("before", "after") if "difference" in key else (key.split(".")[2],):
            if side not in bounds or int(value) < bounds[side][0]:
                bounds[side] = (int(value), f"{key}={value}")
    if not bounds:
        return None
    before, after = bounds.get("before"), bounds.get("after")
    return TimestampWindow(
        now_ms - before[0] if before else None,
        now_ms + after[0] if after else None,
        before[1] if before else "",
        after[1] if after else "",
    )


def refused_stamps(
    configs: Mapping[str, str], stamps: tuple[int, int] | None, now_ms: int
) -> list[str]:
    """The configs (key=value) of a target topic that would refuse the earliest or latest of
    ``stamps`` (the known timestamps of the records to restore; None: none known)."""
    window = timestamp_window(configs, now_ms)
    if window is None or stamps is None:
        return []
    found = [window.refusal(stamps[0]), window.refusal(stamps[1])]
    return sorted({f for f in found if f})


def _dropped_reason(key: str) -> str | None:
    if key in DROPPED:
        return DROPPED[key]
    return next((why for prefix, why in DROPPED_PREFIXES.items() if key.startswith(prefix)), None)


def fitting_batch_size(limits: Iterable[str | None], batch_size: int) -> int:
    """The restore producer's batch.size: no batch larger than the smallest max.message.bytes
    of the target topics (less room for the batch's framing and compression), as a broker
    refuses a larger batch whole, and the restore would stop at it on every run."""
    sizes = [int(v) for v in limits if v is not None and v.isdigit() and int(v) > 0]
    if not sizes:
        return batch_size
    smallest = min(sizes)
    return max(1, min(batch_size, smallest - min(512, smallest // 4)))


def fitted_producer(
    producer: Mapping[str, ClientValue] | None, *, limits: Iterable[str | None]
) -> dict[str, ClientValue]:
    """The restore producer's overrides, with batches no larger than every target topic
    accepts (``limits``: their max.message.bytes, None where unknown)."""
    out = dict(producer or {})
    current = int(out.get("batch.size", PRODUCER_DEFAULTS["batch.size"]))
    fitted = fitting_batch_size(limits, current)
    if fitted < current:
        out["batch.size"] = fitted
    return out
