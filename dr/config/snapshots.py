"""The snapshots section of the config: where each cluster's log-dir snapshots go and how many
are kept (``snapshots.<cluster>.storage`` and ``.retention``)."""

from __future__ import annotations

from pydantic import Field

from dr.config.base import Model, Name


class SnapshotRetention(Model):
    """How many snapshots of a cluster are kept; ``kafka-dr snapshot prune`` deletes the rest."""

    keep_last: int | None = Field(
        default=None,
        ge=1,
        description="Keep the newest this many complete snapshots; none: keep every one.",
        examples=[7],
    )
    min_keep: int = Field(
        default=1,
        ge=1,
        description="Never keep fewer than this many complete snapshots, whatever keep_last says.",
        examples=[2],
    )


class SnapshotSettings(Model):
    """Log-dir snapshots of one cluster (the key is the cluster's name)."""

    storage: Name = Field(
        description="Store the snapshots are written to (a key of storage); --storage overrides.",
        examples=["s3-prod"],
    )
    retention: SnapshotRetention = Field(
        default_factory=SnapshotRetention, description="Snapshot retention."
    )
