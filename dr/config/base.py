"""What every section of the schema shares: the strict, frozen model base and cluster names."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
