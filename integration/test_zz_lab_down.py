"""lab down stops everything and is idempotent. Marked to run last: it ends the session lab."""

from __future__ import annotations

import pytest

from dr.lab import processes
from integration.conftest import RunningLab


@pytest.mark.lab_teardown
def test_lab_down_leaves_no_process_behind_and_can_be_repeated(lab: RunningLab) -> None:
    pids = [n.pid for rec in lab.lab.state().clusters.values() for n in rec.nodes]
    assert any(pids)

    lab.lab_cli("down")
    lab.lab_cli("down")

    assert processes.find_java_by_marker(str(lab.lab.dir) + "/") == []
    status = lab.lab_cli("status", "--json").stdout
    assert '"pid": null' in status and '"running": false' in status
