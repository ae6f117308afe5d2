"""The backup consumer's and the restore producer's librdkafka settings: what kafka-dr needs for
exactness, its measured defaults, and a job's client_overrides merged over them.

Each default is measured by bench/backup_throughput.py; docs/backup.md (Tuning) says why each
value was chosen. The settings a user may not override are judged when the config is loaded
(dr/config/client_overrides.py); this module adds the one check that needs the memory budget.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dr.config.client_overrides import ClientValue
from dr.errors import DrError

MIB = 1024 * 1024

# The consumer's queue is capped by the job's memory budget (its fetch share): an override of
# these may lower them, never raise them past that share.
_BUDGETED_KBYTES = "queued.max.messages.kbytes"
_BUDGETED_BYTES = ("fetch.max.bytes", "max.partition.fetch.bytes")

CONSUMER_DEFAULTS: dict[str, ClientValue] = {
    # librdkafka >= 2.1 stops fetching a partition for this long whenever the local queue is
    # full; at its default (1000 ms) a backup that drains the queue slower than the broker
    # fills it idles a second at a time (13.7 s -> 4.8 s for 1 GiB of 1 KiB records at 10 ms).
    "fetch.queue.backoff.ms": 10,
    # librdkafka's default, stated: 1 MiB measured no faster on a backlog (within the noise),
    # and 1 answers a small incremental run's fetches at once.
    "fetch.min.bytes": 1,
    "fetch.wait.max.ms": 100,
    # librdkafka stops fetching when the consumer's queue holds this many messages (or the
    # budget's bytes). Its bytes count only payloads, not the few hundred bytes each queued
    # message costs besides: for small records this count is what bounds that overhead, so it
    # stays at librdkafka's default, stated here so that an upgrade cannot move it.
    "queued.min.messages": 100_000,
}

PRODUCER_DEFAULTS: dict[str, ClientValue] = {
    # Batches fill within a few ms while a restore streams a backlog; linger only bounds the
    # wait of the last partial batch of each partition.
    "linger.ms": 20,
    "batch.size": 1_000_000,
    "compression.type": "lz4",
    "queue.buffering.max.kbytes": 256 * 1024,
    "message.max.bytes": 16 * MIB,
}


class TuningError(DrError):
    """A client override does not fit the job's memory budget."""

    exit_code = 2


def consumer_settings(
    job: str, overrides: Mapping[str, ClientValue], *, fetch_queue_bytes: int
) -> dict[str, Any]:
    """The backup consumer's librdkafka settings (without the cluster's own): the tuned
    defaults, the job's overrides, then the settings exactness needs. fetch_queue_bytes is
    the memory budget's share for the fetch queue; raises TuningError for an override past it."""
    for key, value in overrides.items():
        limit = fetch_queue_bytes // 1024 if key == _BUDGETED_KBYTES else fetch_queue_bytes
        if key in (_BUDGETED_KBYTES, *_BUDGETED_BYTES) and _number(value) > limit:
            raise TuningError(
                f"backups.{job}.client_overrides.consumer.{key}={value} is past the fetch "
                f"queue's share of memory_budget_mb ({limit}); raise memory_budget_mb"
            )
    return {
        **CONSUMER_DEFAULTS,
        # librdkafka turns a whole fetch response into queued messages at once, each costing
        # a few hundred bytes beyond its payload: 64 MiB responses of 100 B records peaked a
        # backup at 622 MiB, 8 MiB ones at 332 MiB, at the same throughput.
        "fetch.max.bytes": min(8 * MIB, fetch_queue_bytes),
        "max.partition.fetch.bytes": min(2 * MIB, fetch_queue_bytes),
        _BUDGETED_KBYTES: fetch_queue_bytes // 1024,
        **overrides,
        "group.id": f"kafka-dr-backup-{job}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "isolation.level": "read_committed",
        "enable.partition.eof": True,
        "auto.offset.reset": "error",
    }


def producer_settings(overrides: Mapping[str, ClientValue] | None = None) -> dict[str, Any]:
    """The restore producer's librdkafka settings (without the cluster's own): the tuned
    defaults, a job's overrides, then idempotence, the gapless guarantee and acks=all."""
    return {
        **PRODUCER_DEFAULTS,
        **(overrides or {}),
        "enable.idempotence": True,
        "enable.gapless.guarantee": True,
        "acks": "all",
    }


def _number(value: ClientValue) -> float:
    try:
        return float(value)
    except ValueError:
        return 0.0  # not a number: librdkafka refuses it when the consumer is made
