"""Loading the configuration: every problem named by its key path, secrets resolved and hidden."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from dr.config import find_config, load_config, parse_config
from dr.config.load import ENV_VAR
from dr.config.schema import Settings
from dr.errors import ConfigError

MINIMAL = """\
clusters:
  primary:
    bootstrap_servers: kafka-1.prod:9092,kafka-2.prod:9092
"""


def parse(text: str, base_dir: Path) -> Settings:
    return parse_config(text, source="kafka-dr.yaml", base_dir=base_dir)


def problems_of(text: str, base_dir: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(text, base_dir)
    return caught.value.problems


def problem_at(problems: list[str], path: str) -> str:
    """The one problem reported at path; fails when there is none or several."""
    found = [p for p in problems if p.startswith(f"at '{path}': ")]
    assert len(found) == 1, f"expected one problem at {path!r}, got {problems}"
    return found[0]


@pytest.fixture(autouse=True)
def _no_config_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)


def test_a_minimal_config_is_valid_and_takes_the_defaults(tmp_path: Path) -> None:
    settings = parse(MINIMAL, tmp_path)

    assert settings.cluster("primary").bootstrap_servers.startswith("kafka-1.prod:9092")
    assert settings.objectives.rpo_seconds == 60
    assert settings.storage == {}
    assert settings.mirror is None


def test_unknown_key_is_reported_with_its_path(tmp_path: Path) -> None:
    text = MINIMAL + "    bootstrap_serverz: kafka-1.prod:9092\n"

    problem = problem_at(problems_of(text, tmp_path), "clusters.primary.bootstrap_serverz")

    assert problem.endswith("unknown key (did you mean 'bootstrap_servers'?)")


def test_missing_required_key_is_reported_with_its_path(tmp_path: Path) -> None:
    text = "clusters:\n  primary:\n    brokers: []\n"

    problem = problem_at(problems_of(text, tmp_path), "clusters.primary.bootstrap_servers")

    assert "required" in problem


def test_wrong_type_is_reported_with_its_path(tmp_path: Path) -> None:
    text = MINIMAL + "objectives:\n  rpo_seconds: soon\n"

    problem = problem_at(problems_of(text, tmp_path), "objectives.rpo_seconds")

    assert "number" in problem


def test_wrong_type_in_a_list_names_the_item(tmp_path: Path) -> None:
    text = MINIMAL + "    brokers:\n      - {id: 1, host: a}\n      - {id: two, host: b}\n"

    problem = problem_at(problems_of(text, tmp_path), "clusters.primary.brokers[1].id")

    assert "integer" in problem


def test_missing_secret_variable_names_the_key_path_and_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KAFKA_DR_TEST_UNSET", raising=False)
    text = MINIMAL + "    client:\n      sasl.password: ${env:KAFKA_DR_TEST_UNSET}\n"

    problem = problem_at(problems_of(text, tmp_path), "clusters.primary.client.sasl.password")

    assert "KAFKA_DR_TEST_UNSET" in problem
    assert "not set" in problem


def test_unreadable_secret_file_names_the_key_path_and_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "secrets" / "s3-secret-key"
    text = (
        MINIMAL
        + f"storage:\n  s3:\n    url: s3://b/p\n    secret_access_key: ${{file:{missing}}}\n"
    )

    problem = problem_at(problems_of(text, tmp_path), "storage.s3.secret_access_key")

    assert str(missing) in problem


def test_secret_references_are_resolved_from_the_environment_and_from_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_DR_TEST_PASSWORD", "from-the-environment")
    (tmp_path / "jaas.txt").write_text("from-a-file\n", encoding="utf-8")
    text = MINIMAL + (
        "    client:\n"
        "      sasl.password: ${env:KAFKA_DR_TEST_PASSWORD}\n"
        "      sasl.jaas.config: ${file:jaas.txt}\n"
    )

    client = parse(text, tmp_path).cluster("primary").client_properties()

    assert client["sasl.password"] == "from-the-environment"
    # Relative to the config's directory, and without the file's trailing newline.
    assert client["sasl.jaas.config"] == "from-a-file"


def test_secret_file_that_is_not_text_is_reported_as_a_problem(tmp_path: Path) -> None:
    (tmp_path / "password.bin").write_bytes(b"\xff\xfe\x00secret")
    text = MINIMAL + "    client:\n      sasl.password: ${file:password.bin}\n"

    problem_at(problems_of(text, tmp_path), "clusters.primary.client.sasl.password")


@pytest.mark.parametrize(
    "url",
    ["http://backups.example.com/kafka", "s3:///no-bucket", "file://relative/path", "backups"],
)
def test_bad_storage_url_is_reported_with_its_path(tmp_path: Path, url: str) -> None:
    text = MINIMAL + f"storage:\n  offsite:\n    url: {url}\n"

    problem = problem_at(problems_of(text, tmp_path), "storage.offsite.url")

    assert url in problem


def test_s3_options_on_a_local_store_are_refused(tmp_path: Path) -> None:
    text = MINIMAL + "storage:\n  local:\n    url: file:///var/backups\n    sse: AES256\n"

    assert "sse" in problem_at(problems_of(text, tmp_path), "storage.local")


@pytest.mark.parametrize(
    "servers", ["kafka-1.prod", "kafka-1.prod:http", "kafka-1.prod:70000", "a:9092,", ":9092"]
)
def test_bad_bootstrap_servers_are_reported_with_their_path(tmp_path: Path, servers: str) -> None:
    text = f"clusters:\n  primary:\n    bootstrap_servers: '{servers}'\n"

    problem = problem_at(problems_of(text, tmp_path), "clusters.primary.bootstrap_servers")

    assert "host:port" in problem


def test_duplicate_broker_ids_are_reported(tmp_path: Path) -> None:
    text = MINIMAL + (
        "    brokers:\n"
        "      - {id: 1, host: kafka-1.prod}\n"
        "      - {id: 2, host: kafka-2.prod}\n"
        "      - {id: 1, host: kafka-3.prod}\n"
    )

    problem = problem_at(problems_of(text, tmp_path), "clusters.primary.brokers")

    assert "brokers" in problem
    assert "node id 1" in problem


def test_mirror_flow_naming_an_unknown_cluster_is_reported(tmp_path: Path) -> None:
    text = MINIMAL + "mirror:\n  flows:\n    - {source: primary, target: dr}\n"

    problem = problem_at(problems_of(text, tmp_path), "mirror.flows[0].target")

    assert "'dr'" in problem


def test_mirror_flow_from_a_cluster_to_itself_is_reported(tmp_path: Path) -> None:
    text = MINIMAL + "mirror:\n  flows:\n    - {source: primary, target: primary}\n"

    assert "same cluster" in problem_at(problems_of(text, tmp_path), "mirror.flows[0]")


def test_invalid_yaml_is_reported_with_its_line(tmp_path: Path) -> None:
    problems = problems_of("clusters:\n  primary: [unclosed\n", tmp_path)

    assert len(problems) == 1
    assert problems[0].startswith("line ")


def test_several_errors_are_reported_at_once(tmp_path: Path) -> None:
    text = """\
clusters:
  primary:
    bootstrap_servers: kafka-1.prod
    bootstrap_serverz: kafka-1.prod:9092
objectives:
  rpo_seconds: soon
storage:
  offsite:
    url: http://backups.example.com
"""
    problems = problems_of(text, tmp_path)

    for path in (
        "clusters.primary.bootstrap_servers",
        "clusters.primary.bootstrap_serverz",
        "objectives.rpo_seconds",
        "storage.offsite.url",
    ):
        problem_at(problems, path)
    assert len(problems) == 4


def test_the_error_message_counts_the_other_problems(tmp_path: Path) -> None:
    text = MINIMAL + "objectives:\n  rpo_seconds: soon\n  rto_seconds: later\n"

    with pytest.raises(ConfigError) as caught:
        parse(text, tmp_path)

    assert str(caught.value).startswith("config kafka-dr.yaml: at 'objectives.rpo_seconds'")
    assert str(caught.value).endswith("(and 1 more)")


def test_secret_values_never_appear_in_the_settings_repr_or_str(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_DR_TEST_PASSWORD", "hunter2-kafka-password")
    monkeypatch.setenv("KAFKA_DR_TEST_S3_SECRET", "hunter2-s3-secret")
    text = MINIMAL + (
        "    client:\n"
        "      sasl.password: ${env:KAFKA_DR_TEST_PASSWORD}\n"
        "      ssl.key.password: literal-key-password\n"
        "storage:\n"
        "  s3:\n"
        "    url: s3://bucket/prefix\n"
        "    access_key_id: AKIAEXAMPLE\n"
        "    secret_access_key: ${env:KAFKA_DR_TEST_S3_SECRET}\n"
    )

    settings = parse(text, tmp_path)

    for shown in (repr(settings), str(settings), repr(settings.cluster("primary"))):
        assert "hunter2-kafka-password" not in shown
        assert "hunter2-s3-secret" not in shown
        assert "literal-key-password" not in shown
    assert settings.cluster("primary").client_properties()["sasl.password"] == (
        "hunter2-kafka-password"
    )


def test_secret_values_never_appear_in_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_DR_TEST_PASSWORD", "hunter2-kafka-password")
    # The secret is also used where it is invalid, so that the error is about its value.
    text = MINIMAL + (
        "    client:\n"
        "      sasl.password: ${env:KAFKA_DR_TEST_PASSWORD}\n"
        "    brokers:\n"
        "      - {id: '${env:KAFKA_DR_TEST_PASSWORD}', host: kafka-1.prod}\n"
        "objectives:\n"
        "  rpo_seconds: ${env:KAFKA_DR_TEST_PASSWORD}\n"
    )

    with pytest.raises(ConfigError) as caught:
        parse(text, tmp_path)

    problem_at(caught.value.problems, "objectives.rpo_seconds")
    problem_at(caught.value.problems, "clusters.primary.brokers[0].id")
    assert "hunter2-kafka-password" not in str(caught.value)
    assert all("hunter2-kafka-password" not in p for p in caught.value.problems)


def test_loaded_settings_cannot_be_changed(tmp_path: Path) -> None:
    settings = parse(MINIMAL, tmp_path)

    with pytest.raises(ValidationError):
        settings.objectives.rpo_seconds = 1


def test_relative_state_path_is_resolved_beside_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_dir = tmp_path / "etc"
    config_dir.mkdir()
    config = config_dir / "kafka-dr.yaml"
    config.write_text(MINIMAL + "state: data/state.db\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    loaded = load_config(config)

    assert loaded.settings.state == config_dir / "data" / "state.db"
    assert loaded.path == config


def test_state_defaults_to_a_file_beside_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "etc" / "kafka-dr.yaml"
    config.parent.mkdir()
    config.write_text(MINIMAL, encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    assert load_config(config).settings.state == config.parent / "kafka-dr.db"


@pytest.fixture
def three_configs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A config given on the command line, one named by the environment, one in the cwd."""
    paths = {
        "explicit": tmp_path / "explicit.yaml",
        "env": tmp_path / "from-env.yaml",
        "cwd": tmp_path / "cwd" / "kafka-dr.yaml",
    }
    paths["cwd"].parent.mkdir()
    for path in paths.values():
        path.write_text(MINIMAL, encoding="utf-8")
    monkeypatch.chdir(paths["cwd"].parent)
    return paths


def test_find_config_prefers_the_config_option(
    three_configs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, str(three_configs["env"]))

    assert find_config(three_configs["explicit"]) == three_configs["explicit"]


def test_find_config_takes_the_environment_variable_without_the_option(
    three_configs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, str(three_configs["env"]))

    assert find_config(None) == three_configs["env"]


def test_find_config_falls_back_to_the_file_in_the_current_directory(
    three_configs: dict[str, Path],
) -> None:
    assert find_config(None) == three_configs["cwd"]


def test_find_config_without_any_file_says_how_to_give_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    with pytest.raises(ConfigError) as caught:
        find_config(None)

    assert "--config" in str(caught.value)
    assert ENV_VAR in str(caught.value)


def test_find_config_refuses_a_named_file_that_does_not_exist(
    three_configs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "missing.yaml"))

    # The cwd file exists but is not a fallback for a file named explicitly.
    with pytest.raises(ConfigError) as caught:
        find_config(None)

    assert "missing.yaml" in str(caught.value)
    assert ENV_VAR in str(caught.value)
