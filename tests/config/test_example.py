"""The sample config: generated from the schema, it documents every key and validates."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from dr.config import parse_config
from dr.config.example import example_config, example_env_vars
from dr.config.schema import (
    BrokerSpec,
    ClusterSettings,
    HookSettings,
    MirrorFlow,
    MirrorSettings,
    Objectives,
    PlaybookSettings,
    Settings,
    StepHooks,
    StorageSettings,
    ToolSettings,
)
from dr.errors import ConfigError

MODELS: list[type[BaseModel]] = [
    Settings,
    ClusterSettings,
    BrokerSpec,
    Objectives,
    StorageSettings,
    MirrorSettings,
    MirrorFlow,
    ToolSettings,
    PlaybookSettings,
    StepHooks,
    HookSettings,
]


def comment_text(yaml_text: str) -> str:
    """All comment lines joined into one paragraph, as the schema's descriptions were written."""
    return " ".join(
        line.strip().removeprefix("#").strip()
        for line in yaml_text.splitlines()
        if line.strip().startswith("#")
    )


def test_the_example_validates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in example_env_vars():
        monkeypatch.setenv(name, f"password-from-{name}")

    settings = parse_config(example_config(), source="example", base_dir=tmp_path)

    assert sorted(settings.clusters) == ["dr", "primary"]
    assert [b.id for b in settings.cluster("primary").brokers] == [1, 2, 3]
    assert settings.storage["s3-prod"].url.startswith("s3://")
    assert settings.storage["s3-prod"].sse is not None
    assert settings.storage["local"].url == "file:///var/lib/kafka-dr/backups"
    assert settings.mirror is not None
    assert [flow.name for flow in settings.mirror.flows] == ["primary->dr"]
    assert settings.tools.kafka_version is not None
    assert settings.state is not None
    for name in ("primary", "dr"):
        password = settings.cluster(name).client_properties()["sasl.password"]
        assert password.startswith("password-from-")
    switch = settings.playbooks["failover"].hooks_for("switch_clients", "after")
    assert [hook.label for hook in switch] == ["switch-dns", "notify-chat.sh"]
    assert switch[0].env["DNS_API_TOKEN"].get_secret_value() == "password-from-DNS_API_TOKEN"


def test_the_example_reads_its_secrets_from_the_variables_it_lists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = example_env_vars()
    for name in names:
        monkeypatch.delenv(name, raising=False)

    with pytest.raises(ConfigError) as caught:
        parse_config(example_config(), source="example", base_dir=tmp_path)

    assert names, "the example should show a secret reference"
    assert all(any(name in p for p in caught.value.problems) for name in names)
    header = example_config().split("\n\n")[0]
    assert all(name in header for name in names)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_key_of_the_schema_is_in_the_example_with_its_description(
    model: type[BaseModel],
) -> None:
    text = example_config()
    comments = comment_text(text)

    for name, info in model.model_fields.items():
        assert f"{name}:" in text, f"{model.__name__}.{name} is missing from the example"
        assert info.description, f"{model.__name__}.{name} has no description"
        assert info.description in comments, f"{model.__name__}.{name} is not described"


def test_optional_keys_without_a_sensible_value_are_shown_commented_out() -> None:
    lines = [line.strip() for line in example_config().splitlines()]

    assert any(line.startswith("# connect_url: http") for line in lines)
    assert not any(line.startswith("connect_url:") for line in lines)


def test_the_example_is_the_same_on_every_call() -> None:
    assert example_config() == example_config()
