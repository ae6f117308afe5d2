"""What the old primary holds that never reached the DR cluster: found per partition, by reading.

After a failover, the old primary may come back holding records MirrorMaker 2 never copied to
its replicas before replication stopped. For each source partition, find_divergence finds the
last source record the replica holds a copy of (offset S), so that the divergence is the source's
records in [S+1, source end), and counts them by reading them.

To avoid reading whole partitions it starts near the end: at MirrorMaker's newest offset-sync
(U upstream, D downstream) at or below the replica's last record, reading the replica from D and
the source from U and matching records by digest (divergence_match). Without a usable sync both
sides are walked from their log starts, provided their first records are the same record.

archive_divergence (divergence_archive) then copies exactly those records into a backup store.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from dr.config.schema import ClusterSettings, MirrorFlow, Settings
from dr.errors import KafkaError, UsageError
from dr.kafka import admin as kadmin
from dr.kafka.client import admin_client
from dr.kafka.reader import scan_range
from dr.log import get_logger
from dr.mirror.offsets import read_offset_syncs
from dr.mirror.records import OffsetSync
from dr.mirror.translate import usable_syncs
from dr.playbooks.divergence_match import DivergenceError, Entry, SourceEntry, match_replica

__all__ = [
    "DivergedPartition",
    "Divergence",
    "DivergenceError",
    "find_divergence",
    "replica_key",
]

log = get_logger(__name__)

TP = tuple[str, int]
WORKERS = 4  # partitions walked at once
Isolation = Literal["read_committed", "read_uncommitted"]


@dataclass(frozen=True)
class DivergedPartition:
    """One source partition's records that its replica never got.

    The divergence is the source's records in [start_offset, end_offset): ``records`` of them,
    counted by reading (offsets are not contiguous), with the earliest and latest of their
    timestamps (None when there is none). ``last_replicated`` is the source offset of the last
    record the replica holds a copy of (None when it holds none). ``found_by`` says how that
    point was found: ``offset-sync U->D``, ``log start`` (no usable sync: both log starts),
    ``empty replica`` (the replica had no record before its end), or ``no replica`` (no
    replica end was given for the partition: the whole partition is taken as diverged).
    ``topic_id`` is Kafka's id of the source topic when it was read.
    """

    topic: str
    partition: int
    replica_topic: str
    start_offset: int
    end_offset: int
    records: int
    first_timestamp: datetime | None
    last_timestamp: datetime | None
    found_by: str
    last_replicated: int | None = None
    topic_id: str | None = None


@dataclass(frozen=True)
class Divergence:
    """Every source partition of a flow's topics, diverged or not, sorted by topic and
    partition."""

    source: str
    target: str
    partitions: tuple[DivergedPartition, ...]

    @property
    def records(self) -> int:
        return sum(p.records for p in self.partitions)

    @property
    def diverged(self) -> tuple[DivergedPartition, ...]:
        """The partitions with at least one diverged record."""
        return tuple(p for p in self.partitions if p.records)


def replica_key(topic: str, partition: int) -> str:
    """The key of a replica partition in ``replica_ends``: ``REPLICA_TOPIC:PARTITION``."""
    return f"{topic}:{partition}"


def find_divergence(
    settings: Settings,
    flow: MirrorFlow,
    topics: Mapping[str, str],
    replica_ends: Mapping[str, int],
    *,
    timeout_s: float | None = None,
) -> Divergence:
    """The records of ``flow.source`` that never reached their replicas on ``flow.target``.

    ``topics`` maps each source topic to its replica topic; ``replica_ends`` maps
    ``REPLICA_TOPIC:PARTITION`` to the replica's end offset when replication stopped (what
    follows it was written on the target). A source topic that no longer exists is left out
    (it holds nothing); a source partition without a replica end is diverged whole.
    Each request waits the cluster's timeout_s, and so does each read for its next record
    unless ``timeout_s`` is given. Raises DivergenceError (one line,
    naming the partition and offsets) when a replica is not a copy of its source from the
    starting point, KafkaError when a cluster cannot be read, UsageError for a malformed
    ``replica_ends`` key.
    """
    ends = _parse_ends(replica_ends)
    source = settings.clusters[flow.source]
    target = settings.clusters[flow.target]
    src_admin = admin_client(source)
    listing = kadmin.list_topic_partitions(src_admin, source.timeout_s)
    present = {t: r for t, r in topics.items() if t in listing}
    for gone in sorted(set(topics) - set(present)):
        log.warning("divergence_source_topic_missing", cluster=flow.source, topic=gone)
    ids = {
        name: state.topic_id
        for name, state in kadmin.topic_states(src_admin, present, source.timeout_s).items()
    }
    tps = [(t, p) for t in sorted(present) for p in range(listing[t].partitions)]
    low = kadmin.offsets(src_admin, tps, "earliest", source.timeout_s)
    stable = kadmin.offsets(src_admin, tps, "latest", source.timeout_s, committed=True)
    high = kadmin.offsets(src_admin, tps, "latest", source.timeout_s, committed=False)
    replicas = [(present[t], p) for t, p in tps if (present[t], p) in ends]
    tgt_admin = admin_client(target)
    replica_low = kadmin.offsets(tgt_admin, replicas, "earliest", target.timeout_s)
    syncs = _syncs(settings, flow)
    walk = _Walk(source, target, timeout_s)

    def one(tp: TP) -> DivergedPartition:
        rtp = (present[tp[0]], tp[1])
        side = _Sides(
            source=(low[tp], stable[tp], high[tp]),
            replica=(replica_low[rtp], ends[rtp]) if rtp in ends else None,
        )
        return walk.partition(tp, rtp, side, syncs.get(tp, []), ids.get(tp[0]))

    with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="divergence") as pool:
        found = tuple(pool.map(one, tps))
    result = Divergence(flow.source, flow.target, found)
    log.info(
        "divergence_found",
        source=flow.source,
        target=flow.target,
        partitions=len(found),
        diverged_partitions=len(result.diverged),
        records=result.records,
    )
    return result


@dataclass(frozen=True)
class _Sides:
    source: tuple[int, int, int]  # log start, last stable offset, high watermark
    replica: tuple[int, int] | None  # log start, end when replication stopped


class _Walk:
    """Reads both sides of one partition and finds where they part."""

    def __init__(
        self, source: ClusterSettings, target: ClusterSettings, timeout_s: float | None
    ) -> None:
        self.source, self.target, self.timeout_s = source, target, timeout_s

    def partition(
        self,
        tp: TP,
        rtp: TP,
        sides: _Sides,
        syncs: Sequence[OffsetSync],
        topic_id: str | None,
    ) -> DivergedPartition:
        low, stable, _ = sides.source
        start, found_by, last = low, "no replica", None
        if sides.replica is not None:
            start, found_by, last = self._last_replicated(tp, rtp, sides, syncs)
        # Records of a transaction still open past the stable offset that the replica holds
        # copies of leave nothing diverged before them.
        end = max(stable, start)
        records, first_ts, last_ts = self._count(tp, start, end)
        log.info(
            "divergence_partition",
            topic=tp[0],
            partition=tp[1],
            replica=f"{rtp[0]}-{rtp[1]}",
            found_by=found_by,
            start_offset=start,
            end_offset=end,
            records=records,
        )
        return DivergedPartition(
            topic=tp[0],
            partition=tp[1],
            replica_topic=rtp[0],
            start_offset=start,
            end_offset=end,
            records=records,
            first_timestamp=_time(first_ts),
            last_timestamp=_time(last_ts),
            found_by=found_by,
            last_replicated=last,
            topic_id=topic_id,
        )

    def _last_replicated(
        self, tp: TP, rtp: TP, sides: _Sides, syncs: Sequence[OffsetSync]
    ) -> tuple[int, str, int | None]:
        """(first diverged source offset, how it was found, last replicated source offset)."""
        assert sides.replica is not None
        low, stable, high = sides.source
        replica_low, replica_end = sides.replica
        names = f"{tp[0]}-{tp[1]} (replica {rtp[0]}-{rtp[1]})"
        usable = [
            s
            for s in syncs
            if replica_low <= s.downstream_offset < replica_end and low <= s.upstream_offset < high
        ]
        begin = (usable[-1].upstream_offset, usable[-1].downstream_offset) if usable else None
        from_ = begin[1] if begin else replica_low
        with closing(self._entries(self.target, rtp, from_, replica_end)) as replica:
            first = next(replica, None)
            if first is None and begin is None:
                return low, "empty replica", None
            basis = f"offset-sync {begin[0]}->{begin[1]}" if begin else "log start"
            entries = _chain(first, replica) if first is not None else replica
            with closing(self._source_entries(tp, begin[0] if begin else low, stable, high)) as src:
                match = match_replica(entries, src, where=f"{names}, walked from {basis}")
        if match.source_offset is None:
            raise DivergenceError(
                f"{names}: the replica holds no record from {basis} to its end {replica_end}, "
                "though the offset-sync says it does: refusing to guess where it diverged"
            )
        if match.duplicates:
            log.info(
                "divergence_duplicates", topic=tp[0], partition=tp[1], duplicates=match.duplicates
            )
        return match.source_offset + 1, basis, match.source_offset

    def _entries(self, cluster: ClusterSettings, tp: TP, start: int, end: int) -> Generator[Entry]:
        """The replica's records, read committed (an exactly-once flow aborts its retries)."""
        for rec in scan_range(
            cluster, tp, start, end, isolation="read_committed", timeout_s=self.timeout_s
        ):
            yield rec.offset, rec.digest()

    def _source_entries(self, tp: TP, start: int, stable: int, high: int) -> Generator[SourceEntry]:
        """The source's records to its high watermark, as MirrorMaker may have read them: those
        a committed read does not see (aborted, or past the stable offset) marked optional."""
        timeout = self.timeout_s
        with (
            closing(
                scan_range(
                    self.source, tp, start, stable, isolation="read_committed", timeout_s=timeout
                )
            ) as ok,
            closing(
                scan_range(
                    self.source, tp, start, high, isolation="read_uncommitted", timeout_s=timeout
                )
            ) as every,
        ):
            committed = next(ok, None)
            for rec in every:
                while committed is not None and committed.offset < rec.offset:
                    committed = next(ok, None)
                if committed is not None and committed.offset == rec.offset:
                    yield rec.offset, rec.digest()
                else:
                    yield rec.offset, rec.digest(), True

    def _count(self, tp: TP, start: int, end: int) -> tuple[int, int | None, int | None]:
        """The committed records of [start, end) on the source, their earliest and latest
        timestamps."""
        count, first, last = 0, None, None
        for rec in scan_range(
            self.source, tp, start, end, isolation="read_committed", timeout_s=self.timeout_s
        ):
            count += 1
            first = rec.timestamp_ms if first is None else min(first, rec.timestamp_ms)
            last = rec.timestamp_ms if last is None else max(last, rec.timestamp_ms)
        return count, first, last


def _chain(first: Entry, rest: Iterator[Entry]) -> Iterator[Entry]:
    yield first
    yield from rest


def _time(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


def _parse_ends(replica_ends: Mapping[str, int]) -> dict[TP, int]:
    out: dict[TP, int] = {}
    for key, end in replica_ends.items():
        topic, sep, partition = key.rpartition(":")
        if not sep or not topic or not partition.isdigit():
            raise UsageError(f"replica end key '{key}' is not REPLICA_TOPIC:PARTITION")
        out[(topic, int(partition))] = int(end)
    return out


def _syncs(settings: Settings, flow: MirrorFlow) -> dict[TP, list[OffsetSync]]:
    """The flow's usable offset-syncs by source partition; none when they cannot be read (every
    partition is then walked from the log starts)."""
    try:
        return usable_syncs(read_offset_syncs(settings, flow))
    except KafkaError as exc:
        log.warning("divergence_syncs_unreadable", flow=flow.name, error=str(exc))
        return {}
