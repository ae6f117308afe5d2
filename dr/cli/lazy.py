"""A click group whose subcommands are imported only when they run or show their own help.

Importing every command module costs most of a second (their domain rooms, boto3, the Kafka
client, pydantic models); ``kafka-dr --help`` and any one command need none of the others.
The group knows each command by name, module and attribute, plus the first sentence of its help
for the listing (click's LazyGroup pattern). tests/cli/test_lazy_commands.py checks that every
entry resolves to a command of that name and lists the same help as the command itself.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, NamedTuple

import click


class LazyCommand(NamedTuple):
    """Where a subcommand lives, and what the listing says about it before it is imported."""

    module: str
    attr: str
    short_help: str  # the first sentence of its help: the listing never shows more


class LazyGroup(click.Group):
    """A group with subcommands added as usual plus ``lazy_commands``, imported on first use;
    list_commands and get_command see both, so the tree is the same as an eager one."""

    def __init__(
        self, *args: Any, lazy_commands: Mapping[str, LazyCommand] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            self.add_command(self._load(cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """click's listing, with a command not yet imported shown by its table entry."""
        listed = [(name, self._listed(name)) for name in self.list_commands(ctx)]
        commands = [(name, cmd) for name, cmd in listed if not cmd.hidden]
        if not commands:
            return
        limit = formatter.width - 6 - max(len(name) for name, _ in commands)
        with formatter.section("Commands"):
            formatter.write_dl([(name, cmd.get_short_help_str(limit)) for name, cmd in commands])

    def _listed(self, name: str) -> click.Command:
        if name in self.commands:
            return self.commands[name]
        return click.Command(name, help=self.lazy_commands[name].short_help)

    def _load(self, name: str) -> click.Command:
        entry = self.lazy_commands[name]
        command = getattr(importlib.import_module(entry.module), entry.attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{entry.module}.{entry.attr} is not a click command")
        return command
