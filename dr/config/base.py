"""What every section of the schema shares: the strict, frozen model base and cluster names."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from dr.log import is_secret_key

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def stringify_values(value: object) -> object:
    """A mapping's keys and numbers/booleans as the strings a properties file or an environment
    holds (``true``/``false`` for booleans); anything else is left for validation to judge."""
    if not isinstance(value, dict):
        return value
    return {
        str(k): ("true" if v else "false")
        if isinstance(v, bool)
        else str(v)
        if isinstance(v, int | float)
        else v
        for k, v in value.items()
    }


def hide_secret_values(value: object) -> object:
    """Client properties as strings (see stringify_values), those whose key names a secret
    (``sasl.password``, ``sasl.jaas.config``...) wrapped in SecretStr so that they never print."""
    value = stringify_values(value)
    if not isinstance(value, dict):
        return value
    return {
        k: SecretStr(v) if isinstance(v, str) and is_secret_key(k) else v for k, v in value.items()
    }
