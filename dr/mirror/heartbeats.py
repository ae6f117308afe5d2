"""Heartbeat freshness: is MirrorMaker still emitting for a flow, whatever the data does?

MirrorMaker writes a heartbeat for each flow to the target's ``heartbeats`` topic every
``emit.heartbeats.interval.seconds`` (1 s by default), whether or not there is data to copy.
A heartbeat much older than that interval means that nothing proves replication would work:
the process is dead, stalled, or cannot reach the target. ``mirror status`` and ``rpo status``
both read it here.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from confluent_kafka.admin import AdminClient

from dr.config.mirror import HEARTBEAT_INTERVAL, HEARTBEATS_ENABLED
from dr.config.schema import ClusterSettings, MirrorFlow, MirrorSettings
from dr.kafka import admin as kadmin
from dr.kafka.reader import read_range
from dr.mirror.properties import flow_property
from dr.mirror.records import HEARTBEATS_TOPIC, RecordFormatError, decode_heartbeat

DEFAULT_INTERVAL_S = 1.0  # MirrorMaker's emit.heartbeats.interval.seconds
# A heartbeat is stale once older than this many intervals, and never sooner than the floor:
# one late heartbeat (a GC pause, a broker election) is no outage.
STALE_INTERVALS = 5
STALE_FLOOR_S = 10.0
# Heartbeats looked at per partition: enough for several flows into one target at 1/s each.
HEARTBEAT_WINDOW = 300


@dataclass(frozen=True)
class HeartbeatCheck:
    """How old a flow's newest heartbeat on its target is, against the flow's interval.

    ``interval_s`` is None when the flow emits no heartbeats; ``age_s`` is None when no
    heartbeat from the flow's source was found.
    """

    source: str
    target: str
    interval_s: float | None
    age_s: float | None

    @property
    def enabled(self) -> bool:
        """True when MirrorMaker is configured to emit heartbeats for the flow."""
        return self.interval_s is not None

    @property
    def stale_after_s(self) -> float | None:
        """The age past which the newest heartbeat is stale; None when heartbeats are off."""
        if self.interval_s is None:
            return None
        return max(STALE_FLOOR_S, STALE_INTERVALS * self.interval_s)

    @property
    def verdict(self) -> str:
        """``fresh``, ``stale``, ``missing`` (none found), or ``unmeasured (heartbeats
        disabled)``."""
        if self.stale_after_s is None:
            return "unmeasured (heartbeats disabled)"
        if self.age_s is None:
            return "missing"
        return "stale" if self.age_s > self.stale_after_s else "fresh"

    @property
    def problem(self) -> str | None:
        """One line saying why the heartbeat shows replication stalled; None when it does not."""
        if self.verdict == "missing":
            return f"no heartbeat from {self.source} on {self.target}"
        if self.verdict == "stale":
            return (
                f"no heartbeat from {self.source} on {self.target} for {self.age_s:.0f}s "
                f"(stale after {self.stale_after_s:.0f}s)"
            )
        return None


def heartbeat_interval_s(mirror: MirrorSettings | None, flow: MirrorFlow) -> float | None:
    """The flow's heartbeat interval in seconds as MirrorMaker will read it, None when the flow
    emits no heartbeats (``heartbeats: false``, ``emit.heartbeats.enabled=false``, or a
    negative interval, which MirrorMaker takes as off).

    Dedicated mode reads ``SOURCE->TARGET.KEY`` before ``KEY`` in mm2.properties, where the
    flow's properties are prefixed and ``mirror.properties`` come last; a Connect connector
    reads the flow's properties only.
    """
    enabled = flow_property(mirror, flow, HEARTBEATS_ENABLED, rendered=str(flow.heartbeats))
    interval = flow_property(mirror, flow, HEARTBEAT_INTERVAL)
    seconds = DEFAULT_INTERVAL_S if interval is None else float(interval)
    if (enabled or "").strip().lower() != "true" or seconds < 0:
        return None
    return seconds


def check_heartbeat(
    mirror: MirrorSettings | None,
    flow: MirrorFlow,
    target: ClusterSettings,
    *,
    admin: AdminClient,
    topics: Mapping[str, kadmin.TopicInfo],
    now: float | None = None,
) -> HeartbeatCheck:
    """The flow's heartbeat freshness, from the newest of its heartbeats on the target.

    ``topics`` are the target's topics as listed by the caller; ``now`` defaults to the clock
    after the read. Raises what the Kafka reads raise.
    """
    newest = newest_heartbeat_ms(target, admin, topics, flow.source)
    moment = time.time() if now is None else now
    age = None if newest is None else max(0.0, moment - newest / 1000)
    return HeartbeatCheck(flow.source, flow.target, heartbeat_interval_s(mirror, flow), age)


def newest_heartbeat_ms(
    target: ClusterSettings,
    admin: AdminClient,
    topics: Mapping[str, kadmin.TopicInfo],
    source_alias: str,
) -> int | None:
    """The timestamp (ms, MirrorMaker's clock) of the newest heartbeat from source_alias in the
    target's ``heartbeats`` topic, among the last records of each partition; None if none."""
    if HEARTBEATS_TOPIC not in topics:
        return None
    tps = [(HEARTBEATS_TOPIC, p) for p in range(topics[HEARTBEATS_TOPIC].partitions)]
    ends = kadmin.offsets(admin, tps, "latest", target.timeout_s, committed=False)
    # The last few records: other flows into the same target write heartbeats there too.
    found = [
        rec
        for tp, e in ends.items()
        if e > 0
        for rec in read_range(target, tp, max(0, e - HEARTBEAT_WINDOW), e)
    ]
    newest: int | None = None
    for rec in found:
        try:
            beat = decode_heartbeat(rec.key or b"", rec.value or b"")
        except RecordFormatError:
            continue
        if beat.source_alias == source_alias:
            newest = max(newest or 0, beat.timestamp_ms)
    return newest
