"""`mirror apply` as a playbook: its steps per deploy mode, the refusal of a flow a failover
stopped, and a dedicated apply run and journaled by the engine (a second one has nothing to do)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from dr.config.load import parse_config
from dr.config.schema import Settings
from dr.playbooks import BUILDERS, failed_over, run_playbook
from dr.playbooks.apply import ApplyBook
from dr.steps import plan


def settings(tmp_path: Path, **mirror: Any) -> Settings:
    doc: dict[str, Any] = {
        "clusters": {
            "primary": {"bootstrap_servers": "kafka-1.prod:9092"},
            "dr": {"bootstrap_servers": "kafka-1.dr:9092"},
        },
        "mirror": {"flows": [{"source": "primary", "target": "dr"}], **mirror},
    }
    return parse_config(json.dumps(doc), source="kafka-dr.yaml", base_dir=tmp_path)


def dedicated(tmp_path: Path) -> Settings:
    restarts = tmp_path / "restarts"
    return settings(
        tmp_path,
        deploy="dedicated",
        properties_file=str(tmp_path / "etc" / "mm2.properties"),
        restart_command=[sys.executable, "-c", f"open({str(restarts)!r}, 'a').write('x')"],
    )


def none_stopped(_settings: Settings) -> dict[str, str]:
    return {}


def test_a_dedicated_apply_writes_and_restarts_once_and_is_journaled_on_the_flow(
    tmp_path: Path,
) -> None:
    config = dedicated(tmp_path)
    book = ApplyBook(config, {"force": False}, none_stopped)
    assert book.playbook.pair == "primary->dr"
    assert [(p.name, p.destructive, p.done) for p in plan(book.playbook)] == [
        ("assess", False, None),
        ("render", False, None),
        ("write_and_restart", True, False),
    ]

    result = run_playbook(config, book.playbook)

    assert result.status == "completed", result.error
    assert result.outputs("write_and_restart")["restarted"] is True
    assert (tmp_path / "restarts").read_text() == "x"
    again = BUILDERS["mirror-apply"](config, {"force": False})
    assert [p.done for p in plan(again)] == [None, None, True]
    assert run_playbook(config, again).status == "completed"
    assert (tmp_path / "restarts").read_text() == "x"  # nothing to do: not restarted again
    # An apply (even --force) is no failback: it never clears a failover's refusal.
    assert failed_over(config) == {}


def test_a_flow_a_failover_stopped_is_refused_unless_forced(tmp_path: Path) -> None:
    config = dedicated(tmp_path)

    def stopped(_settings: Settings) -> dict[str, str]:
        return {"primary->dr": "failover-20261201T031500Z-3f9a"}

    refused = run_playbook(config, ApplyBook(config, {"force": False}, stopped).playbook)

    assert refused.status == "failed"
    assert refused.error is not None and "failover-20261201T031500Z-3f9a" in refused.error
    assert "--force" in refused.error
    assert not (tmp_path / "etc" / "mm2.properties").exists()
    forced = run_playbook(config, ApplyBook(config, {"force": True}, stopped).playbook)
    assert forced.status == "completed"
    assert forced.outputs("assess")["forced_over"] == ["primary->dr"]


def test_connect_mode_deploys_connectors_as_its_destructive_step(tmp_path: Path) -> None:
    config = settings(tmp_path, deploy="connect", connect_url="http://connect:8083")
    steps = ApplyBook(config, {"force": False}, none_stopped).playbook.steps
    assert [(s.name, s.destructive) for s in steps] == [
        ("assess", False),
        ("render", False),
        ("deploy_connectors", True),
    ]
