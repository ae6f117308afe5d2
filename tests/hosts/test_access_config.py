"""clusters.NAME.access: each kind validated, every problem named by its key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from dr.config import parse_config
from dr.config.access import CommandAccess, LabAccess, SshAccess
from dr.config.schema import Settings
from dr.errors import ConfigError

CLUSTER = """\
clusters:
  prod:
    bootstrap_servers: kafka-1.prod:9092
    brokers:
      - {id: 1, host: kafka-1.prod, log_dirs: [/var/lib/kafka/data], rack: a}
      - {id: 2, host: kafka-2.prod, config_file: /etc/kafka/broker-2.properties}
    access:
"""


def parse(access: str, base_dir: Path) -> Settings:
    return parse_config(CLUSTER + access, source="kafka-dr.yaml", base_dir=base_dir)


def problems(access: str, base_dir: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(access, base_dir)
    return caught.value.problems


def test_an_ssh_access_takes_its_defaults(tmp_path: Path) -> None:
    settings = parse("      kind: ssh\n      user: kafka-dr\n      key_file: /etc/k/id\n", tmp_path)

    access = settings.clusters["prod"].access
    assert isinstance(access, SshAccess)
    assert (access.port, access.known_hosts, access.systemd_unit) == (22, "strict", "kafka")
    assert access.known_hosts_file == Path("~/.ssh/known_hosts").expanduser()
    assert access.start_command is None
    assert settings.clusters["prod"].brokers[0].rack == "a"


def test_a_kind_that_does_not_exist_is_named_with_the_kinds_there_are(tmp_path: Path) -> None:
    found = problems("      kind: telnet\n", tmp_path)

    assert found == ["at 'clusters.prod.access.kind': must be one of 'ssh', 'command', 'lab'"]


def test_an_access_without_a_kind_says_kind_is_missing(tmp_path: Path) -> None:
    found = problems("      user: kafka-dr\n", tmp_path)

    assert found == ["at 'clusters.prod.access.kind': required key is missing"]


def test_an_ssh_access_without_a_key_file_names_the_key(tmp_path: Path) -> None:
    found = problems("      kind: ssh\n      user: kafka-dr\n", tmp_path)

    assert found == ["at 'clusters.prod.access.key_file': required key is missing"]


def test_a_relative_key_file_is_refused(tmp_path: Path) -> None:
    found = problems("      kind: ssh\n      user: u\n      key_file: keys/id\n", tmp_path)

    assert found == [
        "at 'clusters.prod.access.key_file': 'keys/id' must be an absolute path (or start with ~/)"
    ]


def test_unknown_keys_are_refused_in_every_kind(tmp_path: Path) -> None:
    ssh = problems(
        "      kind: ssh\n      user: u\n      key_file: /k\n      password: x\n", tmp_path
    )
    lab = problems("      kind: lab\n      dir: /tmp/lab\n      host: x\n", tmp_path)

    assert ssh == ["at 'clusters.prod.access.password': unknown key"]
    assert lab == ["at 'clusters.prod.access.host': unknown key"]


def test_a_passphrase_is_read_from_a_secret_file_and_kept_secret(tmp_path: Path) -> None:
    (tmp_path / "pass").write_text("s3cret\n")
    text = "      kind: ssh\n      user: u\n      key_file: /k\n      passphrase: ${file:pass}\n"

    access = parse(text, tmp_path).clusters["prod"].access

    assert isinstance(access, SshAccess) and access.passphrase is not None
    assert access.passphrase.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(access)


def test_a_template_with_an_unknown_placeholder_is_refused(tmp_path: Path) -> None:
    text = (
        "      kind: command\n      start_command: [start, '{node}']\n"
        "      stop_command: [stop]\n      status_command: [status, '{host}']\n"
    )

    found = problems(text, tmp_path)

    assert len(found) == 1
    assert found[0].startswith(
        "at 'clusters.prod.access.start_command': unknown placeholder {node}"
    )


def test_args_must_be_an_item_of_its_own_and_present_in_the_storage_command(
    tmp_path: Path,
) -> None:
    base = "      kind: command\n      start_command: [a]\n      stop_command: [b]\n"
    base += "      status_command: [c]\n"

    glued = problems(base + "      storage_command: [kafka-storage.sh, '--x={args}']\n", tmp_path)
    absent = problems(base + "      storage_command: [kafka-storage.sh]\n", tmp_path)

    assert glued == [
        "at 'clusters.prod.access.storage_command': {args} must be a list item of its own"
    ]
    assert absent == [
        "at 'clusters.prod.access.storage_command': has no {args} item for the storage tool's "
        "arguments"
    ]


def test_a_shell_command_needs_the_command_placeholder(tmp_path: Path) -> None:
    text = "      kind: command\n      start_command: [a]\n      stop_command: [b]\n"
    text += "      status_command: [c]\n      shell_command: [ssh, '{host}']\n"

    found = problems(text, tmp_path)

    assert found == [
        "at 'clusters.prod.access.shell_command': has no {command} placeholder for the command "
        "line to run"
    ]


def test_a_command_access_accepts_every_template(tmp_path: Path) -> None:
    text = (
        "      kind: command\n"
        "      start_command: [ansible, '{host}', -a, 'name=kafka-{node_id} state=started']\n"
        "      stop_command: [nomad, job, stop, '{cluster}-{node_id}']\n"
        "      status_command: [check, '{config_file}', '{{literal}}']\n"
        "      storage_command: [ssh, '{host}', kafka-storage.sh, '{args}']\n"
        "      shell_command: [docker, exec, -i, 'kafka-{node_id}', sh, -c, '{command}']\n"
    )

    access = parse(text, tmp_path).clusters["prod"].access

    assert isinstance(access, CommandAccess)
    assert access.timeout_s == 120


def test_ssh_commands_replace_systemd_only_all_together(tmp_path: Path) -> None:
    text = "      kind: ssh\n      user: u\n      key_file: /k\n      stop_command: [stop]\n"

    found = problems(text, tmp_path)

    assert found == [
        "at 'clusters.prod.access': start_command, stop_command and status_command replace "
        "systemd together: give all three or none"
    ]


def test_a_lab_access_needs_an_absolute_dir(tmp_path: Path) -> None:
    good = parse("      kind: lab\n      dir: /tmp/lab\n", tmp_path).clusters["prod"].access
    found = problems("      kind: lab\n      dir: lab\n", tmp_path)

    assert good == LabAccess(kind="lab", dir=Path("/tmp/lab"))
    assert found == ["at 'clusters.prod.access.dir': 'lab' must be an absolute path"]


def test_known_hosts_off_written_bare_in_yaml_is_the_policy_off(tmp_path: Path) -> None:
    text = "      kind: ssh\n      user: u\n      key_file: /k\n      known_hosts: off\n"

    access = parse(text, tmp_path).clusters["prod"].access

    assert isinstance(access, SshAccess) and access.known_hosts == "off"
