"""README's "A first look" runs as written: each command of its shell block, in order, with
the exit status its comment promises (0 unless it says `# exit N`). It starts a lab of its
own, so it runs after the session lab is down (marked lab_teardown, named after it)."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def first_look_commands() -> list[tuple[str, int]]:
    """The commands of the shell block under '## A first look', each with its expected exit
    status. Fails when the section or its block is gone."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## A first look", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "README's 'A first look' has no ```sh block"
    out = []
    for line in block.group(1).splitlines():
        command, _, comment = line.partition("#")
        if not command.strip():
            continue
        expected = re.search(r"exit (\d+)", comment)
        out.append((command.strip(), int(expected.group(1)) if expected else 0))
    return out


@pytest.mark.lab_teardown
@pytest.mark.timeout(600)
def test_the_readme_first_look_runs_as_written(tmp_path: Path) -> None:
    commands = first_look_commands()
    assert any("lab up" in c for c, _ in commands) and any("lab down" in c for c, _ in commands)
    lab_dir = str(tmp_path / "lab")
    try:
        for command, expected in commands:
            argv = [a.replace("/tmp/lab", lab_dir) for a in shlex.split(command)]
            done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
            assert done.returncode == expected, (
                f"README: `{command}` exited {done.returncode}, expected {expected}\n"
                f"{done.stdout}{done.stderr}"
            )
    finally:
        subprocess.run(
            [str(ROOT / ".venv/bin/kafka-dr"), "lab", "down", "--dir", lab_dir],
            capture_output=True,
            timeout=120,
        )
