"""The command table behind `kafka-dr --help` (dr.cli.COMMANDS) and what start-up imports."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from dr.cli import COMMANDS, cli

# What `kafka-dr --help` must not import: the command modules and the heavy rooms under them.
HEAVY = ("boto3", "confluent_kafka", "dr.preflight", "dr.config", "dr.storage", "dr.cli.backup")


def modules_after(*args: str) -> set[str]:
    """The modules loaded once `kafka-dr ARGS` has run, in a fresh interpreter."""
    probe = (
        "import json, sys\n"
        "from dr.cli import main\n"
        "try:\n"
        f"    main({list(args)!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def loaded(modules: set[str], package: str) -> bool:
    return any(m == package or m.startswith(f"{package}.") for m in modules)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_table_entry_names_a_command_of_that_name(name: str) -> None:
    entry = COMMANDS[name]
    command = getattr(importlib.import_module(entry.module), entry.attr)
    assert isinstance(command, click.Command)
    assert command.name == name


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_listing_shows_the_same_help_as_the_command_itself(name: str) -> None:
    real = getattr(importlib.import_module(COMMANDS[name].module), COMMANDS[name].attr)
    listed = click.Command(name, help=COMMANDS[name].short_help)
    for limit in range(20, 200):
        assert listed.get_short_help_str(limit) == real.get_short_help_str(limit), limit


def test_the_lazy_group_resolves_every_command_to_the_real_one() -> None:
    ctx = click.Context(cli)
    assert cli.list_commands(ctx) == sorted(COMMANDS)
    for name, entry in COMMANDS.items():
        real = getattr(importlib.import_module(entry.module), entry.attr)
        assert cli.get_command(ctx, name) is real


def test_an_unknown_command_is_not_found() -> None:
    assert cli.get_command(click.Context(cli), "bakcup") is None


def test_the_top_level_help_imports_no_command_and_no_heavy_library() -> None:
    modules = modules_after("--help")
    assert "dr.cli" in modules
    assert [p for p in HEAVY if loaded(modules, p)] == []


def test_listing_backups_in_a_local_store_imports_neither_boto3_nor_the_playbooks(
    tmp_path: Path,
) -> None:
    config = tmp_path / "kafka-dr.yaml"
    config.write_text(
        "clusters: {primary: {bootstrap_servers: '127.0.0.1:1'}}\n"
        f"storage: {{local: {{url: 'file://{tmp_path}/store'}}}}\n"
        "backups: {nightly: {cluster: primary, topics: [orders], storage: local}}\n"
    )
    modules = modules_after("--config", str(config), "backup", "list", "nightly")
    assert "dr.cli.backup" in modules and "dr.storage.local" in modules
    assert not loaded(modules, "boto3")
    assert not loaded(modules, "dr.playbooks")


def test_a_command_s_help_imports_that_command_only() -> None:
    modules = modules_after("config", "--help")
    assert "dr.cli.config" in modules
    others = {entry.module for name, entry in COMMANDS.items() if name != "config"}
    assert sorted(others & modules) == []
    assert not loaded(modules, "boto3")
