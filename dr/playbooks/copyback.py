"""Copying what clients wrote on one cluster back onto another, partition by partition, exactly.

Used when clients return to a cluster (a cutover's rollback, a failback): the records written
on the cluster they leave since they arrived there are appended, in order, to the original
topics of the cluster they return to, each in the same partition number, with its key, value,
headers and timestamp.

Exactly once, across kills: a copy is planned first (``plan_copy``: where each partition's
copy starts on the source side, and where the destination ended then — its *base*), and the
plan is journaled before anything is written. Records go through the restore's gapless
idempotent writer, so each destination partition holds a prefix of what is to be copied; a
resumed copy counts what the destination has beyond its base, checks that the last record
there is the one it should be, and writes the rest. Nothing else may write to the destination
meanwhile (its producers are stopped: the playbooks check the cluster is quiet first).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from dr.backup.restore_write import RecordWriter
from dr.config.schema import ClusterSettings
from dr.errors import DrError
from dr.kafka import admin as kadmin
from dr.kafka.client import admin_client
from dr.kafka.reader import RecordAt, last_records, scan_range
from dr.log import get_logger

log = get_logger(__name__)
TP = tuple[str, int]


class CopyError(DrError):
    """Records could not be copied back exactly."""


@dataclass(frozen=True)
class CopySpan:
    """One partition's copy: records of source_topic[partition] from ``start`` on go after
    offset ``base`` of dest_topic[partition]."""

    source_topic: str
    dest_topic: str
    partition: int
    start: int
    base: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> CopySpan:
        return cls(
            str(doc["source_topic"]),
            str(doc["dest_topic"]),
            int(doc["partition"]),
            int(doc["start"]),
            int(doc["base"]),
        )


def plan_copy(
    dest: ClusterSettings, topics: Mapping[str, str], starts: Mapping[TP, int], dest_name: str
) -> list[CopySpan]:
    """One span per source partition in ``starts`` (source topic, partition -> first offset to
    copy), its base the destination partition's end now. ``topics`` maps source topic ->
    destination topic; a destination topic or partition missing is an error naming it."""
    admin = admin_client(dest)
    found = kadmin.list_topic_partitions(admin, admin.timeout_s)
    tps = []
    for (topic, partition), _start in sorted(starts.items()):
        target = topics[topic]
        if target not in found or partition >= found[target].partitions:
            raise CopyError(
                f"{dest_name} has no partition {target}-{partition} to copy {topic}-{partition} "
                "back into: create it with as many partitions as the source, then resume"
            )
        tps.append((target, partition))
    ends = kadmin.offsets(admin, tps, "latest", admin.timeout_s, committed=False)
    return [
        CopySpan(topic, topics[topic], partition, start, ends[(topics[topic], partition)])
        for (topic, partition), start in sorted(starts.items())
    ]


def copy_spans(
    source: ClusterSettings, dest: ClusterSettings, spans: list[CopySpan]
) -> dict[str, dict[str, Any]]:
    """Copy every span to the source's current end; returns per ``SOURCE_TOPIC:PARTITION``
    the records copied now, those found already copied, and the offsets on both sides."""
    source_admin = admin_client(source)
    ends = kadmin.offsets(
        source_admin,
        [(s.source_topic, s.partition) for s in spans],
        "latest",
        source.timeout_s,
        committed=False,
    )
    dest_admin = admin_client(dest)
    dest_tps = [(s.dest_topic, s.partition) for s in spans]
    dest_now = kadmin.offsets(dest_admin, dest_tps, "latest", dest.timeout_s, committed=False)
    dest_last = last_records(dest, dest_now)
    report: dict[str, dict[str, Any]] = {}
    writer = RecordWriter(dest)
    try:
        for span in spans:
            src_tp, dest_tp = (span.source_topic, span.partition), (span.dest_topic, span.partition)
            done = dest_now[dest_tp] - span.base
            if done < 0:
                raise CopyError(
                    f"{dest_tp[0]}-{dest_tp[1]} ends at {dest_now[dest_tp]}, before the copy's "
                    f"base {span.base}: records were deleted there; the copy cannot go on"
                )
            copied = skipped = 0
            last_skipped: RecordAt | None = None
            for rec in scan_range(source, src_tp, span.start, ends[src_tp]):
                if skipped < done:
                    skipped += 1
                    last_skipped = rec
                    continue
                if last_skipped is not None:
                    _check_same(last_skipped, dest_last.get(dest_tp), span)
                    last_skipped = None
                writer.write(dest_tp, rec.key, rec.value, list(rec.headers), rec.timestamp_ms)
                copied += 1
            if last_skipped is not None:
                _check_same(last_skipped, dest_last.get(dest_tp), span)
            if skipped < done:
                raise CopyError(
                    f"{dest_tp[0]}-{dest_tp[1]} holds {done} records beyond the copy's base "
                    f"{span.base}, but {src_tp[0]}-{src_tp[1]} has only {skipped} to copy: "
                    "something else wrote there"
                )
            writer.check()
            report[f"{src_tp[0]}:{src_tp[1]}"] = {
                "dest_topic": span.dest_topic,
                "copied": copied,
                "already_copied": skipped,
                "source_start": span.start,
                "source_end": ends[src_tp],
                "dest_base": span.base,
            }
        writer.settle()
    finally:
        writer.close()
    for key, entry in report.items():
        log.info("copied_back", partition=key, records=entry["copied"])
    return report


def _check_same(source: RecordAt, dest: RecordAt | None, span: CopySpan) -> None:
    """The destination's last record is the last one a previous attempt copied."""
    if dest is None or dest.digest() != source.digest():
        raise CopyError(
            f"{span.dest_topic}-{span.partition}: its last record is not the one copied from "
            f"{span.source_topic}-{span.partition} offset {source.offset}: something else "
            "wrote there since the copy began"
        )
