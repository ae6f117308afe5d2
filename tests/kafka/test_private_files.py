"""The files that hand a password to the Java tools: private, readable by the tool run_tool
starts, and never left behind — not even by a kafka-dr killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from dr.kafka.private_files import inherited_fds, private_file

PASSWORD = "pw-that-must-not-stay-on-disk-7f3a"

HOLDER = f"""
import sys, time
from dr.config.schema import ClusterSettings
from dr.kafka.client import java_properties_file
cluster = ClusterSettings.model_validate({{"bootstrap_servers": "k:9092", "client": {{
    "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
    "sasl.username": "kafka-dr", "sasl.password": "{PASSWORD}"}}}})
with java_properties_file(cluster) as path:
    print(path, flush=True)
    time.sleep(60)
"""


def test_a_tool_started_with_the_path_reads_the_file() -> None:
    with private_file("a=1\nb=2\n", name="test.properties") as path:
        args = ["--command-config", str(path)]
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        done = subprocess.run(
            ["cat", args[1]], capture_output=True, check=True, pass_fds=inherited_fds(args)
        )

    assert done.stdout == b"a=1\nb=2\n"
    assert not path.exists()


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_kafka_dr_leaves_no_file_holding_the_password(
    tmp_path: Path, how: signal.Signals
) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert holder.stdout is not None
        shown = holder.stdout.readline().strip()
        holder.send_signal(how)
        holder.wait(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()

    assert shown  # the file existed while the holder ran
    left = [p for p in tmp_path.rglob("*") if p.is_file() and PASSWORD in p.read_text()]
    assert left == []


def test_only_dev_fd_arguments_are_inherited() -> None:
    args = ["--bootstrap-server", "k:9092", "--command-config", "/dev/fd/7", "/dev/fd/x"]

    assert inherited_fds(args) == (7,)
    assert inherited_fds(["/tmp/dev/fd/3", "/dev/fd/3/x"]) == ()
