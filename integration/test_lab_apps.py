"""The lab's client applications on real clusters: producing and consuming with a ledger,
moved to dr by the hook command, and the whole primary cluster killed and brought back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient

from dr.lab.appfiles import AppPaths, apps_dir
from dr.lab.ledger import LedgerEntry, read_ledger, reconcile
from integration.conftest import RunningLab, wait_until


@pytest.fixture
def names() -> dict[str, str]:
    """Names no earlier run on a reused lab has taken."""
    suffix = uuid.uuid4().hex[:6]
    return {"app": f"shop-{suffix}", "topic": f"apps.orders-{suffix}", "group": f"billing-{suffix}"}


@pytest.fixture
def cleanup(lab: RunningLab, names: dict[str, str]) -> Iterator[None]:
    """Whatever happens, the lab is left as it was found: apps stopped, primary up."""
    yield
    lab.lab_cli("app", "stop", names["app"])
    lab.lab_cli("start-cluster", "primary")


def ledger(lab: RunningLab, name: str) -> list[LedgerEntry]:
    return read_ledger(AppPaths(apps_dir(lab.lab.dir), name).ledger)


def app_view(lab: RunningLab, name: str) -> dict[str, Any]:
    views = json.loads(lab.lab_cli("app", "list", "--json").stdout)
    return next(v for v in views if v["name"] == name)


def switch_as_hook(lab: RunningLab, name: str, to_cluster: str, topics: dict[str, str]) -> str:
    """`lab app switch NAME` run the way a playbook runs a hook: environment and JSON on stdin
    (NAME, not every app: other tests may have apps on a reused lab)."""
    bootstrap = lab.bootstrap(to_cluster)
    proc = subprocess.run(
        [sys.executable, "-m", "dr", "lab", "app", "switch", name, "--dir", str(lab.lab.dir)],
        input=json.dumps({"to_bootstrap": bootstrap, "topics": topics, "run_id": "test"}),
        env={**os.environ, "KAFKA_DR_TO_BOOTSTRAP": bootstrap, "KAFKA_DR_TO": to_cluster},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def wait_acked_and_consumed(
    lab: RunningLab, name: str, *, cluster: str, topic: str, at_least: int
) -> list[LedgerEntry]:
    bootstrap = lab.bootstrap(cluster)

    def enough() -> list[LedgerEntry] | None:
        here = [e for e in ledger(lab, name) if e.cluster_bootstrap == bootstrap]
        acked = [e for e in here if e.event == "acked" and e.topic == topic]
        consumed = [e for e in here if e.event == "consumed" and e.topic == topic]
        return here if len(acked) >= at_least and len(consumed) >= at_least else None

    return wait_until(
        enough, timeout_s=60, what=f"{at_least} records acked and consumed on {cluster} {topic}"
    )


def wait_all_consumed(lab: RunningLab, name: str, group: str, keys: set[str]) -> None:
    """Every one of keys consumed by the group (a record in flight is not lost yet)."""

    def consumed() -> bool:
        taken = {e.key for e in ledger(lab, name) if e.event == "consumed" and e.group == group}
        return keys <= taken

    wait_until(consumed, timeout_s=60, what=f"{len(keys)} acknowledged records to be consumed")


def test_an_app_moves_to_dr_and_outlives_the_loss_of_primary(
    lab: RunningLab, names: dict[str, str], cleanup: None
) -> None:
    app, topic, group = names["app"], names["topic"], names["group"]
    remote = f"primary.{topic}"

    started = json.loads(
        lab.lab_cli(
            "app", "start", app, "--produce", "50", "--consume", group, "--topic", topic, "--json"
        ).stdout
    )
    assert started["running"] and started["state"] == "connected"
    assert (started["bootstrap"], started["topic"]) == (lab.bootstrap("primary"), topic)
    primary_admin = AdminClient({"bootstrap.servers": lab.bootstrap("primary")})

    def described() -> Any:  # another client may see a topic just created a moment later
        found = primary_admin.list_topics(topic, timeout=10).topics[topic].partitions
        return found if len(found) == 3 else None

    partitions = wait_until(described, timeout_s=30, what=f"the 3 partitions of {topic}")
    assert all(len(p.replicas) == 3 for p in partitions.values())

    # On primary: every acknowledged record is consumed, and none twice.
    on_primary = wait_acked_and_consumed(lab, app, cluster="primary", topic=topic, at_least=150)
    wait_all_consumed(lab, app, group, {e.key for e in on_primary if e.event == "acked"})
    so_far = reconcile(ledger(lab, app), group=group)
    assert so_far.duplicated == {}
    assert so_far.unacknowledged == ()

    # Switched by the hook command to dr, where MirrorMaker has made the remote topic.
    dr_admin = AdminClient({"bootstrap.servers": lab.bootstrap("dr")})
    wait_until(
        lambda: remote in dr_admin.list_topics(timeout=10).topics,
        timeout_s=60,
        what=f"{remote} on dr",
    )
    printed = switch_as_hook(lab, app, "dr", {topic: remote})
    assert printed == (
        f"app {app}: {lab.bootstrap('primary')} {topic} -> {lab.bootstrap('dr')} {remote}\n"
    )
    wait_acked_and_consumed(lab, app, cluster="dr", topic=remote, at_least=100)
    view = app_view(lab, app)
    assert (view["bootstrap"], view["topic"], view["state"]) == (
        lab.bootstrap("dr"),
        remote,
        "connected",
    )

    # Primary lost and brought back: same cluster, and the app on dr carries on.
    acked_before = app_view(lab, app)["acked"]
    lab.lab_cli("stop-cluster", "primary", "--kill")
    came_back = lab.lab_cli("start-cluster", "primary").stdout
    assert f"cluster id {lab.state.clusters['primary'].cluster_id}" in came_back
    assert (
        primary_admin.list_topics(timeout=10).cluster_id == lab.state.clusters["primary"].cluster_id
    )
    wait_until(
        lambda: app_view(lab, app)["acked"] > acked_before + 100,
        timeout_s=60,
        what="the app to keep producing on dr",
    )

    # Back to primary: the group resumes where it committed there, nothing consumed twice.
    before = sum(
        e.event == "acked" and e.cluster_bootstrap == lab.bootstrap("primary")
        for e in ledger(lab, app)
    )
    switch_as_hook(lab, app, "primary", {remote: topic})
    wait_acked_and_consumed(lab, app, cluster="primary", topic=topic, at_least=before + 100)
    back = reconcile(ledger(lab, app), group=group).clusters[lab.bootstrap("primary")]
    assert back.duplicated == {}
    wait_until(
        lambda: lab.cli("status", "--cluster", "primary").returncode == 0,
        timeout_s=120,
        what="primary to be healthy",
    )

    stopped = lab.lab_cli("app", "stop", app).stdout
    assert stopped == f"app {app} stopped\n"
    assert app_view(lab, app)["running"] is False
