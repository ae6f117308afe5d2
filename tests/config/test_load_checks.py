"""What loading a config checks beyond types: a misspelt key gets the key it was meant to be,
daemon.listen is a usable address, an S3 key pair is whole; and settings know their names."""

from __future__ import annotations

from pathlib import Path

import pytest

from dr.config import parse_config
from dr.config.keys import did_you_mean
from dr.config.schema import Settings
from dr.errors import ConfigError

MINIMAL = """\
clusters:
  primary:
    bootstrap_servers: kafka-1.prod:9092
"""


def problems_of(text: str, tmp_path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="kafka-dr.yaml", base_dir=tmp_path)
    return caught.value.problems


@pytest.mark.parametrize(
    ("loc", "meant"),
    [
        (("clusters", "prod", "bootstrap_serverz"), "bootstrap_servers"),
        (("clusters", "prod", "timeout"), "timeout_s"),
        (("clusters", "prod", "brokers", 0, "hots"), "host"),
        (("clusters", "prod", "access", "ssh", "usr"), "user"),
        (("storage", "s3", "acess_key_id"), "access_key_id"),
        (("backups", "orders", "retention", "keep_day"), "keep_days"),
        (("mirror", "flows", 0, "sorce"), "source"),
        (("daemon", "lisen"), "listen"),
        (("objectivs",), "objectives"),
    ],
)
def test_a_misspelt_key_is_matched_to_the_key_allowed_at_its_place(
    loc: tuple[str | int, ...], meant: str
) -> None:
    assert did_you_mean(Settings, loc) == meant


def test_a_key_like_none_allowed_there_gets_no_suggestion() -> None:
    assert did_you_mean(Settings, ("clusters", "prod", "zebra")) is None
    assert did_you_mean(Settings, ("clusters", "prod", "client", "x", "y")) is None


def test_the_unknown_key_error_says_which_key_was_meant(tmp_path: Path) -> None:
    problems = problems_of(MINIMAL + "    timeout: 5\n", tmp_path)

    assert problems == ["at 'clusters.primary.timeout': unknown key (did you mean 'timeout_s'?)"]


@pytest.mark.parametrize(
    ("listen", "said"),
    [
        ("9187", "is not host:port"),
        (":9187", "is not host:port"),
        ("0.0.0.0:99999", "port 99999 is out of range (0-65535)"),
        ("0.0.0.0:http", "the port 'http' is not a number"),
        ("::1:9187", "write an IPv6 address in brackets"),
    ],
)
def test_an_unusable_daemon_listen_address_is_a_config_error(
    tmp_path: Path, listen: str, said: str
) -> None:
    [problem] = problems_of(MINIMAL + f'daemon:\n  listen: "{listen}"\n', tmp_path)

    assert problem.startswith("at 'daemon.listen': ") and said in problem, problem


@pytest.mark.parametrize("listen", ["127.0.0.1:9187", "0.0.0.0:0", "[::1]:9187", "kafka-dr:80"])
def test_a_usable_daemon_listen_address_is_accepted(tmp_path: Path, listen: str) -> None:
    settings = parse_config(
        MINIMAL + f'daemon:\n  listen: "{listen}"\n', source="kafka-dr.yaml", base_dir=tmp_path
    )

    assert settings.daemon.listen == listen


@pytest.mark.parametrize(
    ("given", "missing"),
    [("access_key_id", "secret_access_key"), ("secret_access_key", "access_key_id")],
)
def test_half_an_s3_key_pair_is_a_config_error_naming_the_missing_key(
    tmp_path: Path, given: str, missing: str
) -> None:
    text = MINIMAL + f"storage:\n  s3:\n    url: s3://bucket/p\n    {given}: abc\n"

    [problem] = problems_of(text, tmp_path)

    assert problem.startswith(f"at 'storage.s3': {missing} is missing: {given} is set"), problem


def test_a_whole_s3_key_pair_or_none_is_accepted(tmp_path: Path) -> None:
    text = MINIMAL + (
        "storage:\n"
        "  keys:\n    url: s3://bucket/a\n    access_key_id: a\n    secret_access_key: b\n"
        "  chain:\n    url: s3://bucket/b\n"
    )

    settings = parse_config(text, source="kafka-dr.yaml", base_dir=tmp_path)

    assert sorted(settings.storage) == ["chain", "keys"]


def test_clusters_and_stores_know_the_name_messages_give_them(tmp_path: Path) -> None:
    text = MINIMAL + "storage:\n  offsite:\n    url: s3://bucket/p\n"

    settings = parse_config(text, source="kafka-dr.yaml", base_dir=tmp_path)

    assert settings.clusters["primary"].describe() == "cluster 'primary' (kafka-1.prod:9092)"
    assert settings.storage["offsite"].name == "offsite"
