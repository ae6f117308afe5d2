"""A host whose clock is wrong, and a topic that leaves the job and comes back, on the real lab.

Backups are ordered by the store's sequence, never by a host's clock: a run on a host whose
clock is hours behind is still the newest backup, the parent of the next, and `restore latest`
gives back exactly the source's records. A run never replaces an object a committed backup
holds: a topic copied again from its log start leaves the older backup's segments as they were.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from dr.config.schema import ClusterSettings
from dr.kafka.reader import read_range
from dr.lab.traffic import create_topic
from integration.conftest import RunningLab
from integration.test_backup_integrity import backup_ok, cli, config_for, produce, restore_ok

pytestmark = pytest.mark.timeout(900)

P = f"clk{uuid.uuid4().hex[:6]}"

# Loaded by Python at start-up (sitecustomize on PYTHONPATH): every wall-clock reading of the
# process is shifted, as on a host whose clock is wrong; monotonic clocks are left alone.
SHIFTED_CLOCK = """
import datetime as _dt, os, time as _time
_SHIFT = float(os.environ["CLOCK_SHIFT_S"])
_time_real, _time_ns_real = _time.time, _time.time_ns
_time.time = lambda: _time_real() + _SHIFT
_time.time_ns = lambda: _time_ns_real() + int(_SHIFT * 1e9)
class _Shifted(_dt.datetime):
    @classmethod
    def now(cls, tz=None):
        return super().now(tz) + _dt.timedelta(seconds=_SHIFT)
    @classmethod
    def utcnow(cls):
        return super().utcnow() + _dt.timedelta(seconds=_SHIFT)
_dt.datetime = _Shifted
"""


def backup_with_clock(config: Path, tmp: Path, shift_s: float) -> dict[str, Any]:
    """`backup run` in a process whose wall clock is shifted by shift_s seconds."""
    shim = tmp / "shifted-clock"
    shim.mkdir(exist_ok=True)
    (shim / "sitecustomize.py").write_text(SHIFTED_CLOCK)
    env = dict(os.environ, CLOCK_SHIFT_S=str(shift_s))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(shim), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-m", "dr", "--config", str(config), "backup", "run", "job", "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


def records_of(bootstrap: str, topic: str, partitions: int) -> list[list[tuple[object, ...]]]:
    cluster = ClusterSettings(bootstrap_servers=bootstrap)
    return [
        [
            (r.key, r.value, r.headers, r.timestamp_ms)
            for r in read_range(cluster, (topic, p), 0, 10**9, timeout_s=120)
        ]
        for p in range(partitions)
    ]


def test_a_run_on_a_host_whose_clock_is_hours_behind_keeps_the_stores_order(
    lab: RunningLab, tmp_path: Path
) -> None:
    primary, dr = lab.bootstrap("primary"), lab.bootstrap("dr")
    topic = f"{P}.clock"
    create_topic(primary, topic, partitions=2, replication=3)
    produce(primary, topic, 100, prefix="a")
    config = config_for(lab, tmp_path, [re.escape(topic)], retention={"keep_last": 2})
    first = backup_ok(config)
    produce(primary, topic, 50, prefix="b")

    behind = backup_with_clock(config, tmp_path, -3 * 3600)

    assert behind["backup_id"] < first["backup_id"]  # its id says it was taken hours earlier
    assert behind["records"] == 50
    _, latest = cli(config, "backup", "show", "latest", "--json")
    assert (latest["backup_id"], latest["parent"]) == (behind["backup_id"], first["backup_id"])
    produce(primary, topic, 25, prefix="c")
    last = backup_ok(config)
    assert last["records"] == 25

    _, listing = cli(config, "backup", "list", "--json")
    assert [(b["backup_id"], b["sequence"], b["records_added"]) for b in listing["backups"]] == [
        (first["backup_id"], 1, 100),
        (behind["backup_id"], 2, 50),
        (last["backup_id"], 3, 25),
    ]
    _, shown = cli(config, "backup", "show", "latest", "--json")
    assert (shown["backup_id"], shown["parent"]) == (last["backup_id"], behind["backup_id"])
    _, plan = cli(config, "backup", "prune", "job", "--dry-run", "--json")
    assert plan["prune"] == [first["backup_id"]]  # the oldest by the store, not by the ids
    restore_ok(config, "latest", f"{topic}={topic}.restored")
    assert records_of(dr, f"{topic}.restored", 2) == records_of(primary, topic, 2)


def test_a_topic_that_leaves_the_job_and_comes_back_leaves_older_backups_intact(
    lab: RunningLab, tmp_path: Path
) -> None:
    primary, dr = lab.bootstrap("primary"), lab.bootstrap("dr")
    wandering, steady = f"{P}.wandering", f"{P}.steady"
    for topic in (wandering, steady):
        create_topic(primary, topic, partitions=1, replication=3)
        produce(primary, topic, 30)
    both = [re.escape(wandering), re.escape(steady)]
    config = config_for(lab, tmp_path, both)
    holder = backup_ok(config)
    config_for(lab, tmp_path, [re.escape(steady)])
    assert [r["topic"] for r in backup_ok(config)["retired_topics"]] == [wandering]
    produce(primary, wandering, 20, prefix="later")
    config_for(lab, tmp_path, both)

    back = backup_ok(config)  # copies the topic again from its log start

    assert back["records"] == 50
    for backup_id, records in ((holder["backup_id"], 60), (back["backup_id"], 80)):
        code, out = cli(config, "backup", "verify", backup_id, "--deep", "--json")
        assert code == 0 and out["records"] == records, out
    only = re.escape(wandering)
    restore_ok(config, holder["backup_id"], f"{wandering}={wandering}.held", topics=only)
    restore_ok(config, "latest", f"{wandering}={wandering}.back", topics=only)
    source = records_of(primary, wandering, 1)
    assert records_of(dr, f"{wandering}.held", 1) == [source[0][:30]]
    assert records_of(dr, f"{wandering}.back", 1) == source
