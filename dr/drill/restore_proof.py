"""The proofs of a drill's restore: the scratch copy against the backup, the backup against
the source cluster, and the restored group offsets against the groups' commits.

Each partition is read once from the store and once from the scratch topic, as a stream
(memory holds only the sampled records' digests, whatever the partition's size). Digests are
of key, value, headers and timestamp (dr.kafka.reader.record_digest): offsets differ between
a topic and its scratch copy, the records must not.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from dr.backup.catalog import Manifest, PartitionEntry
from dr.backup.metadata import group_offsets_of
from dr.backup.restore import Written
from dr.backup.restore_plan import RestorePlan
from dr.backup.restore_read import load_checked
from dr.drill.context import DrillContext, now
from dr.errors import DrError
from dr.kafka import admin as kadmin
from dr.kafka import groups as kgroups
from dr.kafka.client import admin_client
from dr.kafka.reader import first_records, record_digest, scan_range
from dr.storage import ObjectStore

SCENARIO = "backup-restore"
TP = tuple[str, int]


@dataclass
class Side:
    """One side of a partition's comparison: its count, the chained digest of its records in
    order, and the digests (and original offsets) at the positions asked for."""

    count: int = 0
    chain: Any = field(default_factory=hashlib.sha256)
    at: dict[int, tuple[int, str]] = field(default_factory=dict)  # index -> (offset, digest)
    payload_bytes: int = 0

    def add(self, index: int, offset: int, digest: str, wanted: set[int]) -> None:
        self.chain.update(bytes.fromhex(digest))
        if index in wanted:
            self.at[index] = (offset, digest)
        self.count += 1


def spread(count: int, samples: int) -> list[int]:
    """Up to ``samples`` indexes spread evenly over range(count), first and last included."""
    if count <= 0 or samples <= 0:
        return []
    if samples >= count:
        return list(range(count))
    if samples == 1:
        return [0]
    return sorted({round(i * (count - 1) / (samples - 1)) for i in range(samples)})


def backup_side(store: ObjectStore, entry: PartitionEntry, wanted: set[int]) -> Side:
    """The partition as the backup holds it, each segment checked whole as a restore does.
    Raises DamagedSegment naming the segment."""
    side = Side()
    for seg in entry.segments:
        for offset, timestamp, _type, key, value, headers in load_checked(
            store, entry, seg
        ).records:
            side.add(
                side.count, offset, record_digest(timestamp, key, value, headers or ()), wanted
            )
            side.payload_bytes += len(key or b"") + len(value or b"")
    return side


def scratch_side(
    ctx: DrillContext, cluster: str, tp: TP, base: int, end: int, wanted: set[int]
) -> Side:
    """The scratch partition from the restore's base to its end."""
    side = Side()
    for rec in scan_range(ctx.settings.clusters[cluster], tp, base, end):
        side.add(side.count, rec.offset, rec.digest(), wanted)
    return side


def prove_restore(
    ctx: DrillContext,
    *,
    job: str,
    store: ObjectStore,
    manifest: Manifest,
    metadata: dict[str, Any],
    plan: RestorePlan,
    written: Written,
    scratch_groups: dict[str, str],
    sample_records: int,
) -> int:
    """Record the three proofs for one job's restore; returns the payload bytes restored."""
    target = plan.cluster
    renames = {t.source: t.target for t in plan.topics}
    admin = admin_client(ctx.settings.clusters[target])
    scratch_tps = [
        (renames[e.topic], e.partition) for e in manifest.partitions if e.topic in renames
    ]
    ends = kadmin.offsets(admin, scratch_tps, "latest", admin.timeout_s)
    commits = group_offsets_of(metadata)
    by_topic: dict[str, list[dict[str, Any]]] = {}
    samples: dict[TP, list[tuple[int, str, str]]] = {}  # source tp -> (offset, backup, scratch)
    group_points: list[dict[str, Any]] = []
    payload = 0
    for entry in manifest.partitions:
        if entry.topic not in renames:
            continue
        ctx.check_cancelled()
        scratch = (renames[entry.topic], entry.partition)
        base = int(written.bases[scratch[0]][str(entry.partition)])
        points = _group_points(written, commits, entry, scratch, base)
        wanted = set(spread(entry.records, sample_records)) | {p["index"] for p in points}
        try:
            backup = backup_side(store, entry, wanted)
            restored = scratch_side(ctx, target, scratch, base, ends[scratch], wanted)
        except DrError as exc:
            by_topic.setdefault(entry.topic, []).append(
                {"partition": entry.partition, "ok": False, "problem": str(exc)}
            )
            continue
        payload += backup.payload_bytes
        by_topic.setdefault(entry.topic, []).append(
            _compare(entry, backup, restored, base, ends[scratch])
        )
        for index in sorted(set(spread(entry.records, sample_records)) & set(backup.at)):
            offset, digest = backup.at[index]
            samples.setdefault((entry.topic, entry.partition), []).append(
                (offset, digest, restored.at.get(index, (0, ""))[1])
            )
        for point in points:
            point.update(_point_digests(point, backup, restored))
            group_points.append(point)
    _record_counts(ctx, job, by_topic)
    _record_source_samples(ctx, job, manifest.cluster, samples)
    _record_groups(ctx, job, admin, group_points, scratch_groups, manifest.cluster)
    return payload


def _compare(
    entry: PartitionEntry, backup: Side, restored: Side, base: int, end: int
) -> dict[str, Any]:
    backup_digest, restored_digest = backup.chain.hexdigest(), restored.chain.hexdigest()
    ok = (
        backup.count == entry.records == restored.count == end - base
        and backup_digest == restored_digest
    )
    return {
        "partition": entry.partition,
        "ok": ok,
        "manifest_records": entry.records,
        "backup_records": backup.count,
        "restored_records": restored.count,
        "restored_range": [base, end],
        "backup_sha256": backup_digest,
        "restored_sha256": restored_digest,
    }


def _record_counts(ctx: DrillContext, job: str, by_topic: dict[str, list[dict[str, Any]]]) -> None:
    for topic, parts in sorted(by_topic.items()):
        started = now()
        bad = [p for p in parts if not p["ok"]]
        if bad:
            first = bad[0]
            why = first.get("problem") or (
                f"manifest {first['manifest_records']} records, backup {first['backup_records']}, "
                f"restored {first['restored_records']}; digests "
                + ("equal" if first["backup_sha256"] == first["restored_sha256"] else "differ")
            )
            summary = f"{topic}-{first['partition']}: {why}"
        else:
            total = sum(p["restored_records"] for p in parts)
            summary = (
                f"{len(parts)} partitions, {total} records: counts and digests equal the backup"
            )
        ctx.recorder.check(
            SCENARIO,
            "records_match_backup",
            topic,
            not bad,
            summary,
            started=started,
            inputs={"job": job},
            evidence={"partitions": sorted(parts, key=lambda p: p["partition"])},
        )


def _group_points(
    written: Written,
    commits: dict[str, dict[str, dict[int, int]]],
    entry: PartitionEntry,
    scratch: TP,
    base: int,
) -> list[dict[str, Any]]:
    """Each restored group offset on this partition, with the commit it came from."""
    points = []
    for group, by_topic in sorted(written.groups.items()):
        restored = by_topic.get(scratch[0], {}).get(entry.partition)
        committed = commits.get(group, {}).get(entry.topic, {}).get(entry.partition)
        if restored is None or committed is None:
            continue
        points.append(
            {
                "group": group,
                "topic": entry.topic,
                "partition": entry.partition,
                "committed": committed,
                "restored_offset": restored,
                "index": restored - base,
                "records": entry.records,
            }
        )
    return points


def _point_digests(point: dict[str, Any], backup: Side, restored: Side) -> dict[str, Any]:
    index = point["index"]
    if index >= point["records"]:
        return {"at_end": True, "backup_last_offset": backup.at.get(index - 1, (None, ""))[0]}
    original, digest = backup.at.get(index, (-1, ""))
    return {
        "at_end": False,
        "original_offset": original,
        "backup_digest": digest,
        "restored_digest": restored.at.get(index, (0, ""))[1],
    }


def _record_source_samples(
    ctx: DrillContext, job: str, cluster: str, samples: dict[TP, list[tuple[int, str, str]]]
) -> None:
    started = now()
    found = _source_digests(
        ctx, cluster, {tp: [o for o, _, _ in rows] for tp, rows in samples.items()}
    )
    compared, gone, bad = 0, 0, []
    for tp, rows in sorted(samples.items()):
        for offset, backup, restored in rows:
            source = found.get((tp, offset))
            if source is None:
                gone += 1
                continue
            compared += 1
            if not source == backup == restored:
                bad.append(f"{tp[0]}-{tp[1]}@{offset}")
    if bad:
        outcome: Any = False
        summary = f"{len(bad)} of {compared} sampled records differ from the source, first {bad[0]}"
    elif compared == 0:
        outcome, summary = "warning", "no sampled offset is still on the source cluster"
    else:
        outcome = True
        summary = f"{compared} sampled records equal the source's at the same offsets"
    if gone:
        summary += f" ({gone} no longer on the source)"
    ctx.recorder.check(
        SCENARIO,
        "records_match_source",
        job,
        outcome,
        summary,
        started=started,
        inputs={"source_cluster": cluster},
        evidence={"compared": compared, "no_longer_on_source": gone, "different": bad[:50]},
    )


def _source_digests(
    ctx: DrillContext, cluster: str, offsets: dict[TP, list[int]]
) -> dict[tuple[TP, int], str]:
    """The digest of the source's record at each offset still there (one read per round:
    the i-th offset of every partition at once)."""
    out: dict[tuple[TP, int], str] = {}
    settings = ctx.settings.clusters[cluster]
    rounds = max((len(v) for v in offsets.values()), default=0)
    for i in range(rounds):
        ctx.check_cancelled()
        positions = {tp: v[i] for tp, v in offsets.items() if i < len(v)}
        for tp, rec in first_records(settings, positions, isolation="read_committed").items():
            if rec.offset == positions[tp]:
                out[(tp, rec.offset)] = rec.digest()
    return out


def _record_groups(
    ctx: DrillContext,
    job: str,
    admin: Any,
    points: list[dict[str, Any]],
    scratch_groups: dict[str, str],
    source_cluster: str,
) -> None:
    if not points:
        return
    started = now()
    committed = {
        g: kgroups.committed_offsets(admin, s, admin.timeout_s) for g, s in scratch_groups.items()
    }
    at_source = _source_digests(ctx, source_cluster, _source_positions(points))
    bad: list[str] = []
    for p in points:
        scratch_topic = next(
            (t for (t, q) in committed.get(p["group"], {}) if q == p["partition"]), None
        )
        got = (
            committed.get(p["group"], {}).get((scratch_topic, p["partition"]))
            if scratch_topic
            else None
        )
        p["committed_on_scratch"] = got
        name = f"group {p['group']} {p['topic']}-{p['partition']}"
        if got != p["restored_offset"]:
            bad.append(f"{name}: scratch group committed {got}, expected {p['restored_offset']}")
            continue
        if p["at_end"]:
            last = p.get("backup_last_offset")
            if last is not None and p["committed"] <= last:
                bad.append(
                    f"{name}: past the end, but commit {p['committed']} <= last offset {last}"
                )
            continue
        source = at_source.get(((p["topic"], p["partition"]), p["original_offset"]))
        p["source_digest"] = source
        if p["original_offset"] < p["committed"] or p["backup_digest"] != p["restored_digest"]:
            bad.append(
                f"{name}: commit {p['committed']} maps to original offset {p['original_offset']}"
            )
        elif source is not None and source != p["restored_digest"]:
            bad.append(
                f"{name}: the restored record differs from the source's at {p['original_offset']}"
            )
    ctx.recorder.check(
        SCENARIO,
        "group_offsets_match",
        job,
        not bad,
        bad[0]
        if bad
        else f"{len(points)} restored group offsets point at the records the commits point at",
        started=started,
        evidence={"points": points[:200], "problems": bad[:50]},
    )


def _source_positions(points: list[dict[str, Any]]) -> dict[TP, list[int]]:
    out: dict[TP, list[int]] = {}
    for p in points:
        if not p["at_end"]:
            out.setdefault((p["topic"], p["partition"]), []).append(p["original_offset"])
    return out
