"""`backup prune` as a playbook: its steps, what it deletes (never more than was confirmed),
why each backup is kept, and a run journaled like any playbook."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "backup"))  # the handmade backups

from handmade import JOB, T0, HandmadeBackups, entry

from dr.backup.catalog import scan_catalog
from dr.backup.retention import plan_prune
from dr.config.load import parse_config
from dr.config.schema import Retention, Settings
from dr.playbooks import BUILDERS, recorded_run, run_playbook
from dr.playbooks.prune import PruneBook, kept_because, prune_params
from dr.steps import plan
from dr.storage import LocalStore

DAY = timedelta(days=1)


def settings(tmp_path: Path) -> Settings:
    doc = {
        "clusters": {"primary": {"bootstrap_servers": "kafka-1.prod:9092"}},
        "storage": {"local": {"url": (tmp_path / "store").as_uri()}},
        "backups": {
            JOB: {
                "cluster": "primary",
                "topics": ["orders"],
                "storage": "local",
                "retention": {"keep_last": 1},
            }
        },
    }
    return parse_config(json.dumps(doc), source="kafka-dr.yaml", base_dir=tmp_path)


def three_backups(tmp_path: Path) -> list[str]:
    made = HandmadeBackups(LocalStore(tmp_path / "store"))
    s1 = made.segment("orders", 0, 0, 10, written_at=T0)
    b1 = made.backup([entry("orders", 0, [s1])], started_at=T0)
    s2 = made.segment("orders", 0, 10, 20, written_at=T0 + DAY)
    b2 = made.backup([entry("orders", 0, [s1, s2])], started_at=T0 + DAY, parent=b1)
    s3 = made.segment("orders", 0, 20, 30, written_at=T0 + 2 * DAY)
    b3 = made.backup([entry("orders", 0, [s1, s2, s3])], started_at=T0 + 2 * DAY, parent=b2)
    return [b1.backup_id, b2.backup_id, b3.backup_id]


def backups_left(tmp_path: Path) -> list[str]:
    return [m.backup_id for m in scan_catalog(LocalStore(tmp_path / "store"), JOB)[0]]


def test_a_prune_plans_then_deletes_and_is_journaled_on_the_jobs_own_pair(
    tmp_path: Path,
) -> None:
    config = settings(tmp_path)
    b1, b2, b3 = three_backups(tmp_path)
    book = PruneBook(config, prune_params(JOB, [b1, b2]))
    assert book.playbook.pair == f"backup:{JOB}->store:local"
    planned = plan(book.playbook)
    assert [(p.name, p.destructive, p.done) for p in planned] == [
        ("plan", False, None),
        ("delete", True, False),
    ]

    result = run_playbook(config, book.playbook)

    assert result.status == "completed"
    assert backups_left(tmp_path) == [b3]
    kept = result.outputs("plan")["keep"]
    assert kept == [{"backup_id": b3, "reason": "one of the newest 1 (min_keep)"}]
    assert result.outputs("delete")["deleted"] == [b1, b2]
    shown = recorded_run(config, result.run_id)
    assert [s.name for s in shown.steps] == ["plan", "delete"]
    # Built again from its JSON parameters (what `playbook resume` does), nothing is left.
    again = BUILDERS["prune"](config, json.loads(json.dumps(dict(book.playbook.params))))
    assert [p.done for p in plan(again)] == [None, True]


def test_a_prune_deletes_no_backup_the_operator_did_not_confirm(tmp_path: Path) -> None:
    config = settings(tmp_path)
    b1, b2, b3 = three_backups(tmp_path)

    result = run_playbook(config, PruneBook(config, prune_params(JOB, [b1])).playbook)

    assert result.status == "completed"
    assert backups_left(tmp_path) == [b2, b3]
    store = LocalStore(tmp_path / "store")
    assert plan_prune(store, JOB, Retention(keep_last=1)).prune == (b2,)  # b2 still verifies


def test_each_kept_backup_says_which_rule_keeps_it(tmp_path: Path) -> None:
    three_backups(tmp_path)
    manifests = scan_catalog(LocalStore(tmp_path / "store"), JOB)[0]
    now = T0 + 10 * DAY
    b1, b2, b3 = (m.backup_id for m in manifests)

    reasons = kept_because(manifests, Retention(keep_last=2, min_keep=1), now, [b1])
    assert reasons == {b3: "one of the newest 1 (min_keep)", b2: "one of the newest 2 (keep_last)"}
    by_days = kept_because(manifests, Retention(keep_days=9), now, [])
    assert by_days[b2] == "younger than 9 days (keep_days)"
    assert by_days[b1] == "expired after the plan was confirmed"
    assert kept_because(manifests, Retention(), now, [])[b1] == "no retention rule set"
