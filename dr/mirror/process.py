"""Is the dedicated MirrorMaker process running? Asked of ``mirror.status_command`` (exit 0 means
running, as ``systemctl is-active`` answers) and of ``mirror.pid_file`` (the process it names
is alive on this host). Either may be configured, or both, or neither (unmeasured)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from dr.config.schema import MirrorSettings
from dr.log import get_logger, redact_text

log = get_logger(__name__)

STATUS_TIMEOUT_S = 30.0
_LINE_LIMIT = 200


@dataclass(frozen=True)
class ProcessCheck:
    """What the configured checks say about the dedicated MirrorMaker process.

    ``running`` is True or False as the checks answered, None when nothing is configured to
    answer (``detail`` says so) or a check could not run (``error`` says why).
    """

    running: bool | None
    detail: str
    error: str | None = None


def check_process(mirror: MirrorSettings) -> ProcessCheck:
    """Run the status command and/or read the PID file; not running if either says so."""
    checks = []
    if mirror.status_command:
        checks.append(_ask_status_command(mirror.status_command))
    if mirror.pid_file is not None:
        checks.append(_read_pid_file(mirror.pid_file))
    if not checks:
        return ProcessCheck(None, "unmeasured (no mirror.status_command or mirror.pid_file)")
    down = [c for c in checks if c.running is False]
    failed = [c for c in checks if c.error is not None]
    if down:
        return down[0]
    if failed:
        return failed[0]
    return ProcessCheck(True, "; ".join(c.detail for c in checks))


def _ask_status_command(command: list[str]) -> ProcessCheck:
    try:
        proc = subprocess.run(
            command, capture_output=True, text=True, timeout=STATUS_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        error = f"mirror.status_command did not answer within {STATUS_TIMEOUT_S:.0f}s"
        return ProcessCheck(None, error, error)
    except OSError as exc:
        error = f"mirror.status_command could not run: {exc.strerror or exc}"
        return ProcessCheck(None, error, error)
    lines = (proc.stdout + "\n" + proc.stderr).strip().splitlines()
    last = redact_text(lines[-1].strip())[:_LINE_LIMIT] if lines else ""
    log.debug("mirror_status_command", exit_code=proc.returncode, last_line=last)
    if proc.returncode == 0:
        return ProcessCheck(True, last or "mirror.status_command exited 0")
    return ProcessCheck(
        False, f"mirror.status_command exited {proc.returncode}: {last or 'no output'}"
    )


def _read_pid_file(path: Path) -> ProcessCheck:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return ProcessCheck(False, f"mirror.pid_file {path} does not exist")
    except OSError as exc:
        error = f"mirror.pid_file {path} cannot be read: {exc.strerror or exc}"
        return ProcessCheck(None, error, error)
    if not text.isdigit() or int(text) <= 0:
        error = f"mirror.pid_file {path} does not hold a process id"
        return ProcessCheck(None, error, error)
    pid = int(text)
    if not pid_alive(pid):
        return ProcessCheck(False, f"process {pid} from mirror.pid_file {path} is not running")
    return ProcessCheck(True, f"process {pid} from mirror.pid_file {path} is running")


def pid_alive(pid: int) -> bool:
    """True when a process with this id exists on this host and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    if not Path("/proc/self").exists():
        return True  # no /proc (not Linux): the signal test is all there is
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False  # gone since the signal test
    return stat.rsplit(")", 1)[-1].split()[:1] not in (["Z"], ["X"])
