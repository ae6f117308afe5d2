"""`kafka-dr config validate` and `kafka-dr config example`, through the real command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dr.cli import cli, main
from dr.config.example import example_env_vars
from dr.config.load import ENV_VAR

VALID = """\
clusters:
  primary:
    bootstrap_servers: kafka-1.prod:9092
  dr:
    bootstrap_servers: kafka-1.dr:9092
storage:
  local:
    url: file:///var/lib/kafka-dr/backups
mirror:
  flows:
    - {source: primary, target: dr}
"""

INVALID = """\
clusters:
  primary:
    bootstrap_serverz: kafka-1.prod:9092
objectives:
  rpo_seconds: soon
storage:
  offsite:
    url: http://backups.example.com
"""


@pytest.fixture(autouse=True)
def _no_config_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def write(tmp_path: Path, text: str, name: str = "kafka-dr.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_validate_accepts_a_valid_config_and_counts_what_it_holds(tmp_path: Path) -> None:
    config = write(tmp_path, VALID)

    result = run("config", "validate", str(config))

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        f"config {config} is valid: 2 clusters, 1 storage target, 1 mirror flow"
    )


def test_validate_takes_the_global_config_option(tmp_path: Path) -> None:
    config = write(tmp_path, VALID)

    result = run("--config", str(config), "config", "validate")

    assert result.exit_code == 0, result.output
    assert str(config) in result.stdout


def test_validate_takes_the_config_named_by_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(tmp_path, VALID, name="elsewhere.yaml")
    monkeypatch.setenv(ENV_VAR, str(config))

    result = run("config", "validate")

    assert result.exit_code == 0, result.output
    assert str(config) in result.stdout


def test_validate_lists_every_error_with_its_key_path_and_exits_2(tmp_path: Path) -> None:
    config = write(tmp_path, INVALID)

    result = run("config", "validate", str(config))

    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    for path in (
        "clusters.primary.bootstrap_servers",
        "clusters.primary.bootstrap_serverz",
        "objectives.rpo_seconds",
        "storage.offsite.url",
    ):
        assert any(line.startswith(f"error: config {config}: at '{path}': ") for line in lines), (
            f"no error at {path} in {lines}"
        )
    assert len(lines) == 4
    assert result.stdout == ""
    assert "Traceback" not in result.output


def test_validate_without_any_config_says_how_to_give_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    result = run("config", "validate")

    assert result.exit_code == 2
    assert "--config" in result.stderr
    assert "Traceback" not in result.output


def test_validate_masks_a_secret_that_an_error_quotes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_DR_TEST_BOOTSTRAP", "hunter2-not-a-host-port")
    config = write(
        tmp_path, "clusters:\n  primary:\n    bootstrap_servers: ${env:KAFKA_DR_TEST_BOOTSTRAP}\n"
    )

    result = run("config", "validate", str(config))

    assert result.exit_code == 2
    assert "at 'clusters.primary.bootstrap_servers'" in result.stderr
    assert "hunter2-not-a-host-port" not in result.output


def test_example_prints_a_config_that_validate_accepts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in example_env_vars():
        monkeypatch.setenv(name, "example-password")

    example = run("config", "example")
    config = write(tmp_path, example.stdout)
    result = run("config", "validate", str(config))

    assert example.exit_code == 0
    assert result.exit_code == 0, result.output
    assert "2 clusters, 2 storage targets, 1 mirror flow" in result.stdout


def test_the_console_script_exits_2_on_an_invalid_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path, INVALID)

    with pytest.raises(SystemExit) as exited:
        main(["config", "validate", str(config)])

    assert "at 'objectives.rpo_seconds'" in capsys.readouterr().err
    assert exited.value.code == 2
