"""What every command shares: the loaded config, and rendering results."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from dr.config import LoadedConfig


@dataclass
class AppContext:
    """Global options, and the config loaded on first use."""

    config_path: str | None
    debug: bool = False
    _loaded: LoadedConfig | None = field(default=None, repr=False)

    def config(self) -> LoadedConfig:
        if self._loaded is None:
            # Imported here: the config's models cost ~0.3 s that `kafka-dr --help` never needs.
            from dr.config import load_config

            self._loaded = load_config(self.config_path)
        return self._loaded


pass_app = click.make_pass_decorator(AppContext)


def echo_json(payload: Any) -> None:
    """Print a result as JSON on stdout."""
    click.echo(json.dumps(payload, indent=2, sort_keys=False, default=str))


def no_color() -> bool:
    """True when the environment asks for no colour (NO_COLOR set and not empty, no-color.org).
    Output that is not a terminal never gets colour either (click strips it)."""
    return bool(os.environ.get("NO_COLOR"))
