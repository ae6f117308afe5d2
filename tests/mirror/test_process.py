"""Is the dedicated MirrorMaker running? The status command's answer and the PID file's."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from dr.config.schema import MirrorFlow, MirrorSettings
from dr.log import register_secrets
from dr.mirror.process import check_process, pid_alive

SECRET = "pr0cess-s3cret-pw"


def mirror(**fields: Any) -> MirrorSettings:
    return MirrorSettings(flows=[MirrorFlow(source="primary", target="dr")], **fields)


def script(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_without_a_status_command_or_pid_file_the_process_is_unmeasured() -> None:
    check = check_process(mirror())

    assert check.running is None
    assert check.error is None
    assert "unmeasured" in check.detail


def test_a_status_command_that_exits_0_says_running_with_its_last_line() -> None:
    check = check_process(mirror(status_command=script("print('loaded'); print('active')")))

    assert (check.running, check.detail) == (True, "active")


def test_a_status_command_that_exits_3_says_not_running_with_its_code_and_last_line() -> None:
    code = "import sys; print('inactive'); sys.exit(3)"

    check = check_process(mirror(status_command=script(code)))

    assert check.running is False
    assert check.detail == "mirror.status_command exited 3: inactive"


def test_the_status_commands_last_line_is_redacted() -> None:
    register_secrets([SECRET])
    code = f"import sys; print('auth failed for {SECRET}'); sys.exit(1)"

    check = check_process(mirror(status_command=script(code)))

    assert SECRET not in check.detail
    assert "auth failed for ***" in check.detail


def test_a_status_command_that_cannot_run_is_an_error_not_a_verdict(tmp_path: Path) -> None:
    check = check_process(mirror(status_command=[str(tmp_path / "no-such-program")]))

    assert check.running is None
    assert check.error is not None and "mirror.status_command could not run" in check.error


def test_a_pid_file_naming_a_live_process_says_running(tmp_path: Path) -> None:
    pid_file = tmp_path / "mm2.pid"
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as proc:
        try:
            pid_file.write_text(f"{proc.pid}\n")
            check = check_process(mirror(pid_file=pid_file))
        finally:
            proc.kill()

    assert check.running is True
    assert str(proc.pid) in check.detail


def test_a_pid_file_naming_a_dead_process_says_not_running(tmp_path: Path) -> None:
    pid_file = tmp_path / "mm2.pid"
    pid = dead_pid()
    pid_file.write_text(str(pid))

    check = check_process(mirror(pid_file=pid_file))

    assert check.running is False
    assert check.detail == f"process {pid} from mirror.pid_file {pid_file} is not running"


def test_a_missing_pid_file_says_not_running(tmp_path: Path) -> None:
    check = check_process(mirror(pid_file=tmp_path / "mm2.pid"))

    assert check.running is False
    assert "does not exist" in check.detail


def test_a_pid_file_without_a_number_is_an_error(tmp_path: Path) -> None:
    pid_file = tmp_path / "mm2.pid"
    pid_file.write_text("mirror-maker\n")

    check = check_process(mirror(pid_file=pid_file))

    assert check.running is None
    assert check.error == f"mirror.pid_file {pid_file} does not hold a process id"


def test_a_process_is_down_when_either_check_says_so(tmp_path: Path) -> None:
    pid_file = tmp_path / "mm2.pid"
    pid_file.write_text(str(dead_pid()))

    check = check_process(mirror(status_command=script("print('active')"), pid_file=pid_file))

    assert check.running is False
    assert "mirror.pid_file" in check.detail


def test_a_zombie_is_not_alive() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        # Not waited for yet: the exited child stays a zombie.
        for _ in range(100):
            if not pid_alive(proc.pid):
                break
            time.sleep(0.05)
        assert not pid_alive(proc.pid)
    finally:
        proc.wait()
