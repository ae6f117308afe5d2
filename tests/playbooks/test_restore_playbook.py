"""Restore as a playbook: its steps follow the options, its parameters are JSON enough to build
it again (for `playbook resume`), and building it reads nothing (so `playbook show` works with
the cluster and the store away)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dr.backup.restore_configs import ConfigPolicy
from dr.config.load import parse_config
from dr.config.schema import Settings
from dr.playbooks import BUILDERS
from dr.playbooks.restore import RestoreBook, groups_of, restore_params


def settings(tmp_path: Path) -> Settings:
    doc = {
        "clusters": {
            "primary": {"bootstrap_servers": "127.0.0.1:1"},
            "dr": {"bootstrap_servers": "127.0.0.1:1"},
        },
        "storage": {"local": {"url": (tmp_path / "nowhere").as_uri()}},
        "backups": {"orders": {"cluster": "primary", "topics": ["orders"], "storage": "local"}},
    }
    return parse_config(json.dumps(doc), source="kafka-dr.yaml", base_dir=tmp_path)


def params(**changes: object) -> dict[str, object]:
    base = restore_params(
        backup_id="orders-20261201T031500Z",
        job="orders",
        to="dr",
        topics="orders.*",
        renames={"orders": "orders-restored"},
        until=datetime(2026, 12, 1, 3, 0, tzinfo=UTC),
        groups=False,
        force=False,
        configs=ConfigPolicy(overrides={"retention.ms": "-1"}, drops=frozenset({"x.y"})),
        verify="checksums",
    )
    return base | changes


@pytest.mark.parametrize(
    ("changes", "steps"),
    [
        ({}, ["verify", "create_topics", "write_records"]),
        ({"groups": True}, ["verify", "create_topics", "write_records", "restore_groups"]),
        ({"verify": "none"}, ["create_topics", "write_records"]),
    ],
)
def test_the_steps_follow_the_options(
    tmp_path: Path, changes: dict[str, object], steps: list[str]
) -> None:
    book = RestoreBook(settings(tmp_path), params(**changes)).playbook
    assert [s.name for s in book.steps] == steps
    assert [s.name for s in book.steps if s.destructive] == [
        s for s in steps if s not in ("verify",)
    ]


def test_a_restore_locks_its_job_and_target_never_a_cluster_pair(tmp_path: Path) -> None:
    book = RestoreBook(settings(tmp_path), params()).playbook
    assert book.pair == "backup:orders->dr"
    assert book.source not in settings(tmp_path).clusters


def test_the_parameters_survive_json_and_build_the_same_playbook_without_reading_anything(
    tmp_path: Path,
) -> None:
    # Neither the store (a directory that does not exist) nor the clusters are reached.
    original = RestoreBook(settings(tmp_path), params(groups=True)).playbook
    stored = json.loads(json.dumps(dict(original.params)))
    rebuilt = BUILDERS["restore"](settings(tmp_path), stored)
    assert rebuilt.params == original.params
    assert [s.name for s in rebuilt.steps] == [s.name for s in original.steps]
    assert stored["until"] == "2026-12-01T03:00:00+00:00"
    assert stored["configs"] == {
        "keep_source": False,
        "overrides": {"retention.ms": "-1"},
        "drops": ["x.y"],
    }


def test_journaled_group_offsets_come_back_with_numeric_partitions() -> None:
    journaled = json.loads(json.dumps({"groups": {"billing": {"orders": {0: 5, 10: 7}}}}))
    assert groups_of(journaled) == {"billing": {"orders": {0: 5, 10: 7}}}
