"""SIGTERM (systemd stop, kill, a CI timeout) ends a command as Ctrl-C does: cleanup runs, the
run is recorded as cancelled, the workers are stopped, and the process exits 143 in one line.

The command here is a real kafka-dr process (dr.cli.main) running a small command that holds
what a backup holds — a run row, the job's lease in a local store, a temporary file and two
worker processes started the way a backup starts them — until it is stopped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dr.config.schema import StorageSettings
from dr.state import StateStore
from dr.storage import StoreLease, open_store

HOLDER = """
import os, sys, tempfile, time
from dataclasses import dataclass
from pathlib import Path

import click

from dr.backup.worker import begin_worker
from dr.backup.workers import started_processes
from dr.cli import cli, main
from dr.config.schema import StorageSettings
from dr.operation import operation
from dr.state import StateStore
from dr.storage import StoreLease, open_store


@dataclass(frozen=True)
class Task:
    index: int
    root: str
    runner_pid: int
    log_level: str = "warning"
    log_format: str = "json"
    log_context: tuple = ()
    secrets: tuple = ()


def copy_until_stopped(conn, task):
    stopped = begin_worker(conn, task)
    conn.send("started")
    stopped.wait(60)
    Path(task.root, f"worker-{task.index}-stopped").touch()


@click.command("hold")
@click.argument("root")
def hold(root):
    store = open_store(StorageSettings(url=Path(root, "store").as_uri()))
    lease = StoreLease(store, "probe/locks/backup", purpose="backup of job probe", ttl_s=600)
    tasks = [Task(i, root, os.getpid()) for i in range(2)]
    with (
        operation(StateStore(Path(root, "state.db")), kind="backup", name="probe"),
        lease.acquire(),
        tempfile.NamedTemporaryFile(dir=root, prefix="partial-"),
        started_processes(copy_until_stopped, tasks, "probe-{0.index}", event="stopped") as ws,
    ):
        for _, conn in ws:
            conn.recv()
        print("holding", flush=True)
        time.sleep(60)


if __name__ == "__main__":
    cli.add_command(hold)
    main(["hold", sys.argv[1]])
"""


def run_until_signalled(tmp_path: Path, *, whole_group: bool) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    holder = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group: systemd's stop signals the whole group
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        if whole_group:
            os.killpg(holder.pid, signal.SIGTERM)
        else:
            holder.send_signal(signal.SIGTERM)
        out, err = holder.communicate(timeout=60)
    finally:
        if holder.poll() is None:
            os.killpg(holder.pid, signal.SIGKILL)
            holder.wait()
    return subprocess.CompletedProcess(holder.args, holder.returncode, out, err)


@pytest.mark.parametrize("whole_group", [False, True], ids=["kill-pid", "systemd-stop"])
def test_sigterm_cleans_up_records_the_run_cancelled_and_exits_143(
    tmp_path: Path, whole_group: bool
) -> None:
    done = run_until_signalled(tmp_path, whole_group=whole_group)

    assert done.returncode == 143, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "error: interrupted by SIGTERM"
    assert "Traceback" not in done.stderr
    assert list(tmp_path.glob("partial-*")) == []  # the temporary file was removed
    assert sorted(p.name for p in tmp_path.glob("worker-*")) == [
        "worker-0-stopped",
        "worker-1-stopped",
    ]  # each worker was stopped by its runner, not killed
    (run,) = StateStore(tmp_path / "state.db").runs()
    assert run.status == "cancelled"
    store = open_store(StorageSettings(url=(tmp_path / "store").as_uri()))
    with StoreLease(store, "probe/locks/backup", purpose="next run", ttl_s=600).acquire(wait_s=0):
        pass  # the lease was released, not left to expire
