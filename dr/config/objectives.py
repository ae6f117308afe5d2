"""Recovery objectives: the global ones, and a job's or flow's own where they differ."""

from __future__ import annotations

from pydantic import Field

from dr.config.base import Model


class Objectives(Model):
    """Recovery objectives that RPO and RTO are measured against."""

    rpo_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Recovery point objective: the most data loss tolerated, in seconds.",
        examples=[60],
    )
    rto_seconds: float = Field(
        default=900.0,
        gt=0,
        description="Recovery time objective: the longest outage tolerated, in seconds.",
        examples=[900],
    )


class ObjectiveOverrides(Model):
    """A job's or flow's own objectives; each one left out is the global one."""

    rpo_seconds: float | None = Field(
        default=None, gt=0, description="RPO objective, in seconds.", examples=[1200]
    )
    rto_seconds: float | None = Field(
        default=None, gt=0, description="RTO objective, in seconds.", examples=[1800]
    )

    def over(self, base: Objectives) -> Objectives:
        """These objectives, the global ones where none is set."""
        return Objectives(
            rpo_seconds=self.rpo_seconds if self.rpo_seconds is not None else base.rpo_seconds,
            rto_seconds=self.rto_seconds if self.rto_seconds is not None else base.rto_seconds,
        )
