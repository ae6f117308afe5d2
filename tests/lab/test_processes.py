"""Stopping lab processes, found by pid and by a marker in their command line."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from dr.lab import processes


def sleeping(tmp_path: Path, marker: str) -> int:
    """A detached `sleep MARKER`, once it shows that command line (after its exec)."""
    pid = processes.start_detached(["sleep", marker], cwd=tmp_path, log_file=tmp_path / "out.log")
    deadline = time.monotonic() + 10
    while not processes.is_running(pid, marker) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert processes.is_running(pid, marker)
    return pid


def test_stop_all_stops_the_running_ones_and_says_which_ran(tmp_path: Path) -> None:
    marker = f"{uuid.uuid4().int % 10**6}.5"  # an argument of sleep no other process has
    pid = sleeping(tmp_path, marker)

    ran = processes.stop_all([(pid, marker), (None, "nothing"), (pid, "another marker")])

    assert ran == [True, False, False]
    assert not processes.is_running(pid, marker)


def test_a_pid_whose_command_line_lacks_the_marker_is_left_alone(tmp_path: Path) -> None:
    marker = f"{uuid.uuid4().int % 10**6}.25"
    pid = sleeping(tmp_path, marker)

    processes.stop_all([(pid, "not its marker")], kill=True)

    assert processes.is_running(pid, marker)
    processes.stop(pid, marker, kill=True)
