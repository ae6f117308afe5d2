"""A log-dir snapshot as it is stored: its layout, its manifest, retention, and the comparison
of a restored cluster's end offsets with the recorded ones. Pure: no I/O.

Layout under the store's root::

    snapshots/<cluster>/<snapshot_id>/node-<N>.tar.zst   node N's log dirs and config file: a
                                                         tar (members named by their absolute
                                                         path without the leading '/'), zstd
    snapshots/<cluster>/<snapshot_id>/manifest.json      written last: a snapshot without its
                                                         manifest does not exist

The manifest holds the SHA-256 and size of each object, the paths each tar holds, and the end
offsets recorded: cluster-wide before the first node stopped, and, per node, those of the
partitions it hosts right before it stopped (what its snapshot holds at least).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, ValidationError

from dr.errors import DrError

FORMAT = 1
ROOT = "snapshots"
MANIFEST = "manifest.json"

# {topic: {partition: end offset}}, JSON-shaped (partition numbers as strings).
EndOffsets = dict[str, dict[str, int]]


class SnapshotError(DrError):
    """A snapshot is missing, incomplete, damaged or not of this cluster."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeArchive(_Frozen):
    """One node's object: where it is, what it holds, its size and checksum."""

    node_id: int
    key: str
    size: int
    sha256: str
    tar_bytes: int  # the tar before compression
    log_dirs: tuple[str, ...]  # absolute paths on the node's host (and a separate metadata dir)
    config_file: str
    stopped_at: datetime
    down_s: float | None = None  # from the stop until the cluster was whole again
    end_offsets: EndOffsets  # of the partitions it hosts, right before it stopped


class SnapshotManifest(_Frozen):
    """A complete snapshot of a cluster's nodes."""

    format: int = FORMAT
    snapshot_id: str
    cluster: str
    cluster_id: str
    started_at: datetime
    finished_at: datetime
    run_id: str
    end_offsets: EndOffsets  # cluster-wide, before the first node stopped
    nodes: tuple[NodeArchive, ...]

    def node(self, node_id: int) -> NodeArchive:
        """The node's archive; raises SnapshotError naming the nodes the snapshot has."""
        for archive in self.nodes:
            if archive.node_id == node_id:
                return archive
        held = ", ".join(str(n.node_id) for n in self.nodes)
        raise SnapshotError(f"snapshot {self.snapshot_id} has no node {node_id} (it has: {held})")

    @property
    def size(self) -> int:
        return sum(n.size for n in self.nodes)


def cluster_prefix(cluster: str) -> str:
    return f"{ROOT}/{cluster}/"


def snapshot_prefix(cluster: str, snapshot_id: str) -> str:
    return f"{ROOT}/{cluster}/{snapshot_id}/"


def node_key(cluster: str, snapshot_id: str, node_id: int) -> str:
    return f"{snapshot_prefix(cluster, snapshot_id)}node-{node_id}.tar.zst"


def manifest_key(cluster: str, snapshot_id: str) -> str:
    return f"{snapshot_prefix(cluster, snapshot_id)}{MANIFEST}"


def new_snapshot_id(cluster: str, now: datetime | None = None) -> str:
    """``dr-20261201T031500Z``: sorts by time, readable."""
    return f"{cluster}-{(now or datetime.now(UTC)).astimezone(UTC):%Y%m%dT%H%M%SZ}"


def encode_manifest(manifest: SnapshotManifest) -> bytes:
    return (manifest.model_dump_json(indent=2) + "\n").encode()


def decode_manifest(data: bytes, key: str) -> SnapshotManifest:
    """The manifest stored under key; raises SnapshotError naming it when it is unreadable."""
    try:
        raw = json.loads(data)
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            found = raw.get("format") if isinstance(raw, dict) else None
            raise SnapshotError(f"{key}: format {found!r}, this kafka-dr reads format {FORMAT}")
        return SnapshotManifest.model_validate(raw)
    except (ValueError, ValidationError) as exc:
        first = str(exc).splitlines()[0]
        raise SnapshotError(f"{key} is not a readable snapshot manifest: {first}") from None


# -- retention ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotPrunePlan:
    """What a prune deletes: expired snapshots (manifest first), and incomplete ones (no
    manifest) older than the newest complete snapshot, which no run will finish."""

    cluster: str
    keep: tuple[str, ...]
    prune: tuple[str, ...]
    incomplete: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not self.prune and not self.incomplete


def choose_pruned(
    complete: Sequence[str], incomplete: Iterable[str], *, keep_last: int | None, min_keep: int
) -> tuple[list[str], list[str], list[str]]:
    """(kept, pruned, incomplete to delete) among snapshot ids (which sort by time): the newest
    ``max(keep_last, min_keep)`` complete ones are kept; with no keep_last every one is."""
    newest_first = sorted(complete, reverse=True)
    keep_count = len(newest_first) if keep_last is None else max(keep_last, min_keep)
    kept, pruned = newest_first[:keep_count], newest_first[keep_count:]
    newest = newest_first[0] if newest_first else None
    stale = sorted(i for i in incomplete if newest is not None and i < newest)
    return kept, pruned, stale


# -- offsets after a restore ----------------------------------------------------------------


@dataclass(frozen=True)
class OffsetDifference:
    """A partition whose end offset after a restore is not the recorded one."""

    topic: str
    partition: int
    recorded: int
    restored: int | None  # None: the partition is gone

    @property
    def kind(self) -> str:
        if self.restored is None:
            return "missing-partition"
        return "fewer-records" if self.restored < self.recorded else "more-records"

    def describe(self) -> str:
        name = f"{self.topic}-{self.partition}"
        if self.restored is None:
            return f"{name}: in the snapshot (end {self.recorded}) but not in the cluster"
        delta = self.restored - self.recorded
        more = "more (written after the snapshot's offsets were read)" if delta > 0 else "fewer"
        return f"{name}: end {self.restored}, recorded {self.recorded}: {abs(delta)} {more}"


def expected_end_offsets(manifest: SnapshotManifest, nodes: Iterable[int]) -> EndOffsets:
    """What the restored nodes hold at least: per partition, the highest end offset recorded
    before a node hosting it stopped."""
    out: EndOffsets = {}
    wanted = set(nodes)
    for archive in manifest.nodes:
        if archive.node_id not in wanted:
            continue
        for topic, parts in archive.end_offsets.items():
            mine = out.setdefault(topic, {})
            for partition, end in parts.items():
                mine[partition] = max(end, mine.get(partition, end))
    return out


def compare_end_offsets(
    recorded: Mapping[str, Mapping[str, int]], restored: Mapping[str, Mapping[str, int]]
) -> list[OffsetDifference]:
    """Every recorded partition whose restored end offset differs, in topic/partition order."""
    out = []
    for topic in sorted(recorded):
        for partition in sorted(recorded[topic], key=int):
            end = recorded[topic][partition]
            now = restored.get(topic, {}).get(partition)
            if now != end:
                out.append(OffsetDifference(topic, int(partition), end, now))
    return out
