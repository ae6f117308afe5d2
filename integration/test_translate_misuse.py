"""`offsets translate` misused: a one-line error and a non-zero exit, never a silent answer."""

from __future__ import annotations

import uuid

from integration.conftest import RunningLab


def test_a_group_unknown_on_both_sides_is_a_one_line_error_exit_1(lab: RunningLab) -> None:
    group = f"no-such-group-{uuid.uuid4().hex[:8]}"

    proc = lab.cli("offsets", "translate", "--group", group, "--from", "primary", "--to", "dr")

    assert proc.returncode == 1, proc.stdout + proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("error: ") and group in line
    assert proc.stdout == ""


def test_the_same_cluster_on_both_sides_is_a_usage_error(lab: RunningLab) -> None:
    proc = lab.cli("offsets", "translate", "--group", "g", "--from", "primary", "--to", "primary")

    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("error: ") and "'primary'" in line


def test_a_direction_no_flow_replicates_is_a_usage_error_naming_the_flows(lab: RunningLab) -> None:
    proc = lab.cli("offsets", "translate", "--group", "g", "--from", "dr", "--to", "primary")

    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert "dr->primary" in line and "primary->dr" in line, line
