"""The mirror section at load: a Connect URL that can work, no key of the other deployment mode,
heartbeat settings MirrorMaker accepts; each problem one line naming its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from dr.config import parse_config
from dr.config.schema import Settings
from dr.errors import ConfigError

CLUSTERS = """\
clusters:
  primary: {bootstrap_servers: "kafka-1.prod:9092"}
  dr: {bootstrap_servers: "kafka-1.dr:9092"}
"""


def parse(mirror: str, tmp_path: Path) -> Settings:
    text = CLUSTERS + "mirror:\n" + "".join(f"  {line}\n" for line in mirror.splitlines())
    return parse_config(text, source="kafka-dr.yaml", base_dir=tmp_path)


def refused(mirror: str, tmp_path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as raised:
        parse(mirror, tmp_path)
    return raised.value


FLOW = "flows: [{source: primary, target: dr}]"


@pytest.mark.parametrize(
    "url",
    ["connect.prod:8083", "ftp://connect.prod:8083", "http://", "http://connect:notaport", "x"],
)
def test_a_connect_url_that_is_not_http_with_a_host_is_refused_naming_the_key(
    tmp_path: Path, url: str
) -> None:
    error = refused(f"deploy: connect\nconnect_url: '{url}'\n{FLOW}", tmp_path)

    assert error.problems == [
        f"at 'mirror.connect_url': '{url}' is not an http(s)://HOST[:PORT] URL"
    ]
    assert "\n" not in str(error)


def test_a_refused_connect_url_does_not_show_its_password(tmp_path: Path) -> None:
    error = refused(f"deploy: connect\nconnect_url: 'ftp://admin:s3cr3t-pw@c:1'\n{FLOW}", tmp_path)

    assert "s3cr3t-pw" not in str(error)
    assert "'ftp://c:1'" in str(error)


def test_an_https_connect_url_with_credentials_is_accepted(tmp_path: Path) -> None:
    settings = parse(f"deploy: connect\nconnect_url: 'https://u:p@c.prod:8443/'\n{FLOW}", tmp_path)

    assert settings.mirror is not None
    assert settings.mirror.connect_url == "https://u:p@c.prod:8443/"


@pytest.mark.parametrize(
    "line",
    [
        "restart_command: [systemctl, restart, mm2]",
        "status_command: [systemctl, is-active, mm2]",
        "pid_file: /run/mm2.pid",
        "properties_file: /etc/kafka/mm2.properties",
        "properties: {tasks.max: '4'}",
    ],
)
def test_a_dedicated_key_with_deploy_connect_is_refused_with_a_hint(
    tmp_path: Path, line: str
) -> None:
    key = line.partition(":")[0]

    error = refused(f"deploy: connect\nconnect_url: http://c:8083\n{line}\n{FLOW}", tmp_path)

    assert error.problems == [
        f"at 'mirror.{key}': mirror.{key} is for deploy: dedicated, and this mirror has "
        "deploy: connect (remove the key, or change deploy)"
    ]


def test_a_connect_url_with_deploy_dedicated_is_refused_with_a_hint(tmp_path: Path) -> None:
    error = refused(f"deploy: dedicated\nconnect_url: http://c:8083\n{FLOW}", tmp_path)

    assert error.problems == [
        "at 'mirror.connect_url': mirror.connect_url is for deploy: connect, and this mirror "
        "has deploy: dedicated (remove the key, or change deploy)"
    ]


def test_the_default_deploy_is_dedicated_and_refuses_a_connect_url_too(tmp_path: Path) -> None:
    error = refused(f"connect_url: http://c:8083\n{FLOW}", tmp_path)

    assert "mirror.connect_url is for deploy: connect" in str(error)


def test_dedicated_keys_are_accepted_with_deploy_dedicated(tmp_path: Path) -> None:
    settings = parse(
        "deploy: dedicated\nstatus_command: [systemctl, is-active, mm2]\n"
        f"pid_file: run/mm2.pid\nrestart_command: ['true']\n{FLOW}",
        tmp_path,
    )

    assert settings.mirror is not None
    assert settings.mirror.status_command == ["systemctl", "is-active", "mm2"]
    assert settings.mirror.pid_file == tmp_path / "run" / "mm2.pid"


def test_an_empty_status_command_is_refused(tmp_path: Path) -> None:
    error = refused(f"status_command: []\n{FLOW}", tmp_path)

    assert error.problems[0].startswith("at 'mirror.status_command': ")


@pytest.mark.parametrize(
    ("where", "key", "value"),
    [
        ("mirror", "emit.heartbeats.interval.seconds", "'1.5'"),
        ("mirror", "primary->dr.emit.heartbeats.interval.seconds", "soon"),
        ("flow", "emit.heartbeats.interval.seconds", "'ten'"),
        ("flow", "emit.heartbeats.enabled", "'yes'"),
    ],
)
def test_heartbeat_settings_kafka_dr_reads_must_be_what_mirrormaker_accepts(
    tmp_path: Path, where: str, key: str, value: str
) -> None:
    if where == "mirror":
        mirror = f"properties: {{'{key}': {value}}}\n{FLOW}"
        path = "mirror.properties"
    else:
        mirror = f"flows: [{{source: primary, target: dr, properties: {{'{key}': {value}}}}}]"
        path = "mirror.flows[0].properties"

    error = refused(mirror, tmp_path)

    assert len(error.problems) == 1
    assert error.problems[0].startswith(f"at '{path}': {key} must be")
