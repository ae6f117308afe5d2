"""promtool for the tests: found, or a failure that says how to install it (never a skip)."""

from __future__ import annotations

import shutil
import subprocess

import pytest


def promtool() -> str:
    """The path of promtool; fails the test naming `make tools` when it is missing."""
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is not installed: run `make tools` (Debian package prometheus)")
    return found


def run_promtool(*args: str, stdin: str | None = None, cwd: str | None = None) -> str:
    """promtool's output; fails the test with it when promtool exits non-zero."""
    proc = subprocess.run(
        [promtool(), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"promtool {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
        )
    return proc.stdout + proc.stderr
