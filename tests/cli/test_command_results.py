"""What commands report, for people and for scripts: `config validate --json`, `mirror render
--json`, `mirror restart` asking first (or --yes, with --json), and `offsets translate` exiting
1 when it has nothing to translate."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import dr.cli.offsets
from dr.cli import cli
from dr.config.load import ENV_VAR
from dr.mirror.translate import MissingOffset, TranslatedOffset, TranslationResult

CLUSTERS = {
    "primary": {"bootstrap_servers": "kafka-1.prod:9092"},
    "dr": {"bootstrap_servers": "kafka-1.dr:9092"},
}


@pytest.fixture(autouse=True)
def _no_config_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)


def write_config(tmp_path: Path, **sections: Any) -> Path:
    path = tmp_path / "kafka-dr.yaml"
    # JSON is YAML: the file goes through the same loading as any other.
    path.write_text(json.dumps({"clusters": CLUSTERS, **sections}), encoding="utf-8")
    return path


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), *args])


def dedicated_mirror(tmp_path: Path) -> dict[str, Any]:
    marker = tmp_path / "restarted"
    return {
        "deploy": "dedicated",
        "flows": [{"source": "primary", "target": "dr"}],
        "properties_file": str(tmp_path / "mm2.properties"),
        "restart_command": [sys.executable, "-c", f"open({str(marker)!r}, 'a').write('x')"],
    }


def test_config_validate_json_lists_what_a_valid_config_holds(tmp_path: Path) -> None:
    config = write_config(tmp_path, storage={"local": {"url": "file:///var/backups"}})

    result = run(config, "config", "validate", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "valid": True,
        "config": str(config),
        "clusters": ["dr", "primary"],
        "storage": ["local"],
        "mirror_flows": [],
        "backups": [],
    }


def test_config_validate_json_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    config = write_config(tmp_path, daemon={"listen": "9187"}, objectivs={})

    result = run(config, "config", "validate", "--json")

    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert doc["valid"] is False and doc["config"] == str(config)
    assert sorted(doc["problems"]) == [
        "at 'daemon.listen': '9187' is not host:port (e.g. 127.0.0.1:9187, or 0.0.0.0:9187)",
        "at 'objectivs': unknown key (did you mean 'objectives'?)",
    ]
    assert result.stderr == ""


def test_mirror_render_json_holds_the_dedicated_properties(tmp_path: Path) -> None:
    config = write_config(tmp_path, mirror=dedicated_mirror(tmp_path))

    result = run(config, "mirror", "render", "--json")

    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["deploy"] == "dedicated"
    assert "primary.bootstrap.servers = kafka-1.prod:9092" in doc["properties"]


def test_mirror_render_json_holds_each_connector_config(tmp_path: Path) -> None:
    mirror = {"deploy": "connect", "connect_url": "http://connect:8083", "flows": [
        {"source": "primary", "target": "dr"}
    ]}  # fmt: skip
    config = write_config(tmp_path, mirror=mirror)

    result = run(config, "mirror", "render", "--json")

    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["deploy"] == "connect"
    assert "primary->dr.MirrorSourceConnector" in doc["connectors"]


def test_mirror_restart_without_a_terminal_asks_for_yes_and_restarts_nothing(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path, mirror=dedicated_mirror(tmp_path))

    result = run(config, "mirror", "restart")

    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: refusing to go on without confirmation: no terminal; add --yes"
    )
    assert not (tmp_path / "restarted").exists()


def test_mirror_restart_with_yes_restarts_and_says_so_in_json(tmp_path: Path) -> None:
    config = write_config(tmp_path, mirror=dedicated_mirror(tmp_path))

    result = run(config, "mirror", "restart", "--yes", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"restarted": ["MirrorMaker (dedicated)"]}
    assert (tmp_path / "restarted").read_text() == "x"


def test_mirror_pause_json_of_a_dedicated_mirror_is_a_one_line_error(tmp_path: Path) -> None:
    config = write_config(tmp_path, mirror=dedicated_mirror(tmp_path))

    result = run(config, "mirror", "pause", "--json")

    assert result.exit_code == 2
    assert result.stderr.startswith("error: dedicated MirrorMaker cannot pause a flow")


def translation(*, translated: bool) -> TranslationResult:
    missing = MissingOffset("orders", 1, "no-sync-yet", "no offset-sync covers the commit yet")
    translated_one = TranslatedOffset("primary.orders", 0, 40, 42, checkpoint_age_seconds=3.0)
    partitions = (translated_one,) if translated else ()
    return TranslationResult("billing", partitions, (missing,))


@pytest.mark.parametrize("as_json", [False, True])
def test_offsets_translate_with_nothing_to_translate_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_json: bool
) -> None:
    monkeypatch.setattr(
        dr.cli.offsets, "translate_offsets", lambda *_: translation(translated=False)
    )
    args = ["offsets", "translate", "--group", "billing", "--from", "primary", "--to", "dr"]

    result = run(write_config(tmp_path), *args, *(["--json"] if as_json else []))

    assert result.exit_code == 1
    assert "orders-1" in result.stdout or json.loads(result.stdout)["missing"]


def test_offsets_translate_with_a_partition_translated_exits_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        dr.cli.offsets, "translate_offsets", lambda *_: translation(translated=True)
    )
    args = ["offsets", "translate", "--group", "billing", "--from", "primary", "--to", "dr"]

    result = run(write_config(tmp_path), *args)

    assert result.exit_code == 0, result.output
    assert "primary.orders-0: offset 40" in result.stdout
