"""Starting, finding and stopping the lab's JVMs, across separate kafka-dr invocations.

A process is identified by its pid and a marker (a path) in its command line, so that a
recycled pid is never mistaken for a lab process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def start_detached(cmd: Sequence[str], *, cwd: Path, log_file: Path) -> int:
    """Start a process in its own session (Ctrl-C in the terminal does not reach it)."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as out:
        proc = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return proc.pid


def is_running(pid: int | None, marker: str) -> bool:
    """True when pid is alive (not a zombie) and its command line contains marker."""
    if not pid:
        return False
    _reap(pid)
    try:
        cmdline = (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0] if ")" in stat else "?"
    return marker in cmdline and state not in ("Z", "X")


def stop(pid: int | None, marker: str, *, kill: bool = False, grace_s: float = 60.0) -> None:
    """Stop the process: SIGTERM and wait up to grace_s, then SIGKILL (or SIGKILL at once)."""
    if not is_running(pid, marker):
        return
    assert pid is not None
    _signal(pid, signal.SIGKILL if kill else signal.SIGTERM)
    if wait_gone(pid, marker, grace_s if not kill else 10.0):
        return
    _signal(pid, signal.SIGKILL)
    wait_gone(pid, marker, 10.0)


def stop_all(
    targets: Sequence[tuple[int | None, str]], *, kill: bool = False, grace_s: float = 60.0
) -> list[bool]:
    """stop() every (pid, marker) in parallel; returns, for each, whether it was running."""
    running = [is_running(pid, marker) for pid, marker in targets]
    with ThreadPoolExecutor(max_workers=max(1, len(targets))) as pool:
        list(pool.map(lambda t: stop(t[0], t[1], kill=kill, grace_s=grace_s), targets))
    return running


def wait_gone(pid: int, marker: str, timeout_s: float) -> bool:
    """Wait until the process has exited; True when it did within timeout_s."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not is_running(pid, marker):
            return True
        time.sleep(0.1)
    return not is_running(pid, marker)


def find_java_by_marker(marker: str) -> list[int]:
    """Pids of every live JVM whose command line contains marker (orphans included).

    Only java processes count: the shell that ran ``kafka-dr lab down --dir DIR`` names the
    directory too, and must not be touched.
    """
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv0 = (entry / "cmdline").read_bytes().split(b"\0", 1)[0].decode(errors="replace")
        except OSError:
            continue
        if Path(argv0).name == "java" and is_running(int(entry.name), marker):
            found.append(int(entry.name))
    return found


def has_exited(pid: int | None, marker: str) -> bool:
    """True when the process is gone, confirmed by a second look a moment later (a process
    being exec'd can show an empty command line for an instant)."""
    if is_running(pid, marker):
        return False
    time.sleep(0.3)
    return not is_running(pid, marker)


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _reap(pid: int) -> None:
    # A JVM started by this very process stays a zombie until it is waited for.
    with contextlib.suppress(OSError):
        os.waitpid(pid, os.WNOHANG)
