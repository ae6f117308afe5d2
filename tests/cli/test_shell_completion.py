"""Shell completion as docs/deploy.md tells users to set it up, through the installed command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

KAFKA_DR = Path(sys.executable).parent / "kafka-dr"


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def bash_completions(words: str) -> list[str]:
    """What bash offers after `words`, with the script kafka-dr prints sourced as documented."""
    bash = shutil.which("bash")
    assert bash is not None
    script = (
        'eval "$(_KAFKA_DR_COMPLETE=bash_source kafka-dr)"\n'
        f"COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1))\n"
        '_kafka_dr_completion kafka-dr; printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    path = f"{KAFKA_DR.parent}{os.pathsep}{os.environ.get('PATH', '')}"
    done = run({"PATH": path}, bash, "-c", script)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_bash_completes_a_command_name() -> None:
    assert bash_completions("kafka-dr ba") == ["backup"]


def test_bash_completes_the_subcommands_of_a_group() -> None:
    assert {"run", "list", "verify", "prune"} <= set(bash_completions("kafka-dr backup ''"))


@pytest.mark.parametrize(("shell", "marker"), [("zsh", "#compdef kafka-dr"), ("fish", "complete")])
def test_zsh_and_fish_scripts_are_printed(shell: str, marker: str) -> None:
    done = run({"_KAFKA_DR_COMPLETE": f"{shell}_source"}, str(KAFKA_DR))

    assert done.returncode == 0, done.stderr
    assert marker in done.stdout
    assert "_KAFKA_DR_COMPLETE" in done.stdout


def test_minus_capital_v_prints_the_version_as_version_does() -> None:
    short, long = run({}, str(KAFKA_DR), "-V"), run({}, str(KAFKA_DR), "--version")

    assert short.returncode == 0
    assert short.stdout == long.stdout
    assert short.stdout.startswith("kafka-dr, version ")
