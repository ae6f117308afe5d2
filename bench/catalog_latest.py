"""Finding a job's latest backup with 1,000 backups in the store, beside a store with 1.

Writes real sealed manifests (each cumulative, 16 partitions, one more segment per partition
per backup, up to 50) with the catalog's own write_manifest into two local stores — one with
the whole history, one with only its newest backup (the same manifest) — then times
``latest_manifest`` on each (median of many calls) and, for reference, the pre-sequence way of
finding it: reading every manifest. Prints the ratio 1,000-backup / 1-backup (target <= 2).

    python bench/catalog_latest.py [--backups 1000] [--partitions 16]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from dr.backup.catalog import (
    Manifest,
    PartitionEntry,
    SegmentRef,
    latest_manifest,
    list_manifests,
    next_sequence,
    segment_key,
    write_manifest,
)
from dr.storage import LocalStore

JOB = "bench"


def fill(store: LocalStore, backups: int, partitions: int, *, only_last: bool = False) -> None:
    """Write the job's backups; with only_last, just the newest one (same manifest size)."""
    parent: Manifest | None = None
    for n in range(backups - 1 if only_last else 0, backups):
        entries = tuple(
            PartitionEntry(
                "orders",
                p,
                0,
                (n + 1) * 100,
                tuple(
                    SegmentRef(
                        segment_key(JOB, "orders", p, s * 100, "TOPICID"),
                        s * 100,
                        (s + 1) * 100,
                        100,
                        10_000,
                        "0" * 64,
                        1_700_000_000_000,
                        1_700_000_000_000,
                    )
                    for s in range(min(n + 1, 50))
                ),
                topic_id="TOPICID",
            )
            for p in range(partitions)
        )
        backup_id = f"{JOB}-{n:08d}"
        manifest = Manifest(
            backup_id=backup_id,
            job=JOB,
            cluster="primary",
            cluster_id="CID",
            started_at="2026-01-01T00:00:00+00:00",
            finished_at="2026-01-01T00:00:01+00:00",
            parent=parent.backup_id if parent else None,
            parent_sha256=parent.sha256 if parent else None,
            sequence=next_sequence(store, JOB),
            compression="zstd",
            records=100 * partitions,
            bytes=0,
            metadata_key=f"{JOB}/metadata/{backup_id}.json",
            metadata_sha256="0" * 64,
            partitions=entries,
        )
        parent = write_manifest(store, manifest)


def timed(call: object, reps: int) -> float:
    samples = []
    for _ in range(reps):
        started = time.perf_counter()
        call()  # type: ignore[operator]
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backups", type=int, default=1000)
    parser.add_argument("--partitions", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        one, many = LocalStore(Path(tmp) / "one"), LocalStore(Path(tmp) / "many")
        fill(one, args.backups, args.partitions, only_last=True)
        started = time.perf_counter()
        fill(many, args.backups, args.partitions)
        print(f"wrote {args.backups} backups in {time.perf_counter() - started:.1f}s")
        base = timed(lambda: latest_manifest(one, JOB), 50)
        big = timed(lambda: latest_manifest(many, JOB), 50)
        read_all = timed(lambda: list_manifests(many, JOB)[-1], 3)
    print(f"latest, 1 backup:               {base * 1000:8.2f} ms")
    print(f"latest, {args.backups} backups:          {big * 1000:8.2f} ms")
    print(f"reading every manifest instead: {read_all * 1000:8.2f} ms")
    print(f"ratio latest {args.backups}/1: {big / base:.2f} (target <= 2.0)")


if __name__ == "__main__":
    main()
