"""Secrets never reach the log: masked by field name and by value, wherever they appear."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

import dr.log
from dr.log import MASK, configure, get_logger, is_secret_key, redact_text, register_secrets


@pytest.fixture(autouse=True)
def _isolated_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No secret registered by another test, and logging restored afterwards."""
    monkeypatch.setattr(dr.log, "_known_secrets", set())
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)


def logged(**fields: Any) -> dict[str, Any]:
    """What one info event with these fields looks like in the JSON log."""
    out = io.StringIO()
    configure(fmt="json", stream=out)
    get_logger("dr.test").info("secret_test", **fields)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1, lines
    event: dict[str, Any] = json.loads(lines[0])
    return event


@pytest.mark.parametrize(
    "name",
    [
        "password",
        "sasl.password",
        "sasl.jaas.config",
        "ssl.key.password",
        "secret_access_key",
        "token",
        "oauth_token",
        "aws-credentials",
        "ssl.private.key",
        "api_key",
    ],
)
def test_names_of_secret_settings_are_recognised(name: str) -> None:
    assert is_secret_key(name)


@pytest.mark.parametrize("name", ["ssl.key.pem", "java.ssl.keystore.key"])
def test_names_of_inline_private_keys_are_recognised(name: str) -> None:
    assert is_secret_key(name)


@pytest.mark.parametrize(
    "name", ["sasl.username", "bootstrap.servers", "security.protocol", "ssl.key.location", "topic"]
)
def test_names_of_ordinary_settings_are_not_secret(name: str) -> None:
    assert not is_secret_key(name)


def test_a_registered_secret_is_masked_wherever_it_appears_in_text() -> None:
    register_secrets(["hunter2-prod", "AKIAEXAMPLEKEY"])

    text = redact_text("login as kafka-dr:hunter2-prod failed; key AKIAEXAMPLEKEY; hunter2-prod")

    assert text == f"login as kafka-dr:{MASK} failed; key {MASK}; {MASK}"


def test_text_without_a_registered_secret_is_unchanged() -> None:
    register_secrets(["hunter2-prod"])

    assert redact_text("connected to kafka-1.prod:9092") == "connected to kafka-1.prod:9092"


def test_a_longer_secret_is_masked_whole_even_when_it_contains_a_shorter_one() -> None:
    register_secrets(["abcd", "abcd-efgh-ijkl"])

    assert redact_text("pw=abcd-efgh-ijkl") == f"pw={MASK}"


def test_very_short_values_are_not_registered_so_that_words_survive() -> None:
    register_secrets(["dr", "on"])

    assert redact_text("dr cluster is on") == "dr cluster is on"


def test_fields_named_like_secrets_are_masked_in_the_json_log() -> None:
    event = logged(
        password="plain-pw-1",
        **{"sasl.jaas.config": 'PlainLoginModule required password="jaas-pw-2";'},
        token="tok-3",
        cluster="primary",
    )

    assert event["password"] == MASK
    assert event["sasl.jaas.config"] == MASK
    assert event["token"] == MASK
    assert event["cluster"] == "primary"
    assert event["event"] == "secret_test"


def test_a_registered_secret_inside_another_field_is_masked_in_the_json_log() -> None:
    register_secrets(["hunter2-prod"])

    event = logged(
        reason="SASL authentication failed for user kafka-dr with hunter2-prod",
        config={"client": {"sasl.username": "kafka-dr", "sasl.password": "other-pw-9"}},
        hosts=["kafka-1.prod", "hunter2-prod"],
    )

    assert event["reason"] == f"SASL authentication failed for user kafka-dr with {MASK}"
    assert event["config"] == {"client": {"sasl.username": "kafka-dr", "sasl.password": MASK}}
    assert event["hosts"] == ["kafka-1.prod", MASK]


def test_the_rendered_json_log_contains_no_secret_at_all() -> None:
    register_secrets(["hunter2-prod"])
    out = io.StringIO()
    configure(fmt="json", stream=out)

    log = get_logger("dr.test")
    log.warning("login_failed", password="plain-pw-1", detail="bad password hunter2-prod")
    log.info("retrying", attempt=2, token="tok-3")

    text = out.getvalue()
    assert len(text.splitlines()) == 2
    for secret in ("plain-pw-1", "hunter2-prod", "tok-3"):
        assert secret not in text


def test_an_empty_secret_field_stays_empty_so_that_its_absence_shows() -> None:
    event = logged(password="", token=None)

    assert event["password"] == ""
    assert event["token"] is None
