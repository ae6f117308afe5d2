"""A backup job's overrides of its Kafka clients' settings, and the settings never overridden.

The defaults themselves, and how they are merged, live in dr/backup/tuning.py; this module only
judges what a user wrote, so that `kafka-dr config validate` refuses a setting that would break
a backup's or a restore's exactness, naming it, before any run.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from dr.config.base import Model

ClientValue = str | int | float | bool

# Settings kafka-dr owns: the value it needs, or None when no value may be set at all.
CONSUMER_OWNED: dict[str, tuple[str, ...] | None] = {
    "enable.auto.commit": None,  # a backup commits nothing: its manifest records what it read
    "enable.auto.offset.store": None,
    "isolation.level": None,  # read_committed: aborted transactions are never backed up
    "group.id": None,  # one per job, so runs of two jobs never share a group
    "enable.partition.eof": None,  # a partition ending in markers only is closed by its EOF
    "auto.offset.reset": None,  # "error": a range deleted by retention is a gap, never skipped
    "bootstrap.servers": None,  # the cluster's own settings (clusters.<name>)
}
PRODUCER_OWNED: dict[str, tuple[str, ...] | None] = {
    "enable.idempotence": ("true",),  # no duplicate on a retried batch
    "enable.gapless.guarantee": ("true",),  # each partition holds a prefix: restores resume
    "acks": ("all", "-1"),  # a record counted restored is on every in-sync replica
    "transactional.id": None,
    # The restore counts a partition complete from the reports of its records that succeeded.
    "delivery.report.only.error": ("false",),
    "bootstrap.servers": None,
}


def refusal(kind: str, key: str, value: ClientValue) -> str | None:
    """Why ``key: value`` may not be set on the backup consumer (kind "consumer") or the
    restore producer ("producer"); None when it may."""
    owned = CONSUMER_OWNED if kind == "consumer" else PRODUCER_OWNED
    if key not in owned and not key.startswith(("security.", "sasl.", "ssl.")):
        return None
    allowed = owned.get(key)
    if allowed is not None and _text(value) in allowed:
        return None
    if key.startswith(("security.", "sasl.", "ssl.")) or key == "bootstrap.servers":
        return f"'{key}' is a setting of the cluster: set it in clusters.<name>.client"
    if allowed is not None:
        return f"'{key}' must stay {allowed[0]}: other values break the restore's exactness"
    return f"'{key}' cannot be overridden: kafka-dr sets it to keep the backup exact"


def _text(value: ClientValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip().lower()


class ClientOverrides(Model):
    """librdkafka settings that replace kafka-dr's tuned defaults for one backup job."""

    consumer: dict[str, ClientValue] = Field(
        default_factory=dict,
        description=(
            "Settings of the backup's consumer (librdkafka names), over the defaults listed in "
            "docs/backup.md; settings that keep the backup exact (isolation.level, "
            "enable.auto.commit, group.id...) are refused."
        ),
        examples=[{"fetch.wait.max.ms": 50, "fetch.queue.backoff.ms": 5}],
    )
    producer: dict[str, ClientValue] = Field(
        default_factory=dict,
        description=(
            "Settings of the producer that restores this job's backups (librdkafka names); "
            "enable.idempotence stays true and acks stays all."
        ),
        examples=[{"linger.ms": 50, "compression.type": "zstd"}],
    )

    @field_validator("consumer")
    @classmethod
    def _check_consumer(cls, value: dict[str, ClientValue]) -> dict[str, ClientValue]:
        return _checked("consumer", value)

    @field_validator("producer")
    @classmethod
    def _check_producer(cls, value: dict[str, ClientValue]) -> dict[str, ClientValue]:
        return _checked("producer", value)


def _checked(kind: str, value: dict[str, ClientValue]) -> dict[str, ClientValue]:
    for key, setting in value.items():
        reason = refusal(kind, key, setting)
        if reason is not None:
            raise ValueError(reason)
    return value
