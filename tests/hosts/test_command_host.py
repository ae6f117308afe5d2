"""kind: command, driven with small real programs: a node whose 'process' is a marker file."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from dr.config import parse_config
from dr.config.schema import Settings
from dr.hosts import HostAccess, HostError, access_for


def settings_for(tmp_path: Path, extra: str = "", stop: str = "[rm, -f, '{marker}']") -> Settings:
    marker = str(tmp_path / "node-{node_id}.running")
    text = f"""\
clusters:
  prod:
    bootstrap_servers: 127.0.0.1:9092
    brokers: [{{id: 1, host: 127.0.0.1, log_dirs: ['{tmp_path}/data']}}]
    access:
      kind: command
      config_file: {tmp_path}/server.properties
      start_command: [touch, '{marker}']
      stop_command: {stop.replace("{marker}", marker)}
      status_command: [test, -e, '{marker}']
      timeout_s: 5
{extra}"""
    return parse_config(text, source="kafka-dr.yaml", base_dir=tmp_path)


def node(tmp_path: Path, extra: str = "", **kw: str) -> HostAccess:
    return access_for(settings_for(tmp_path, extra, **kw), "prod", 1)


def test_start_stop_and_status_follow_the_commands(tmp_path: Path) -> None:
    host = node(tmp_path)

    assert host.status().running is False
    host.start()
    assert host.status().running is True
    assert host.stop(deadline_s=5).how == "graceful"
    assert host.status().running is False
    assert host.stop(deadline_s=5).how == "not-running"


def test_a_node_that_ignores_stop_is_killed_at_the_deadline(tmp_path: Path) -> None:
    kill = f"      kill_command: [rm, -f, '{tmp_path}/node-{{node_id}}.running']\n"
    host = node(tmp_path, kill, stop="['true']")
    host.start()

    stopped = host.stop(deadline_s=1)

    assert stopped.how == "killed"
    assert stopped.seconds >= 1
    assert host.status().running is False


def test_without_a_kill_command_a_stuck_node_is_an_error_naming_the_key(tmp_path: Path) -> None:
    host = node(tmp_path, stop="['true']")
    host.start()

    with pytest.raises(HostError, match=r"set clusters\.prod\.access\.kill_command"):
        host.stop(deadline_s=1)


def test_a_status_command_that_cannot_run_cannot_tell(tmp_path: Path) -> None:
    extra = "      shell_command: [sh, -c, '{command}']\n"
    settings = settings_for(tmp_path, extra)
    access = settings.clusters["prod"].access
    assert access is not None
    broken = access.model_copy(update={"status_command": ["/nonexistent/status"]})
    cluster = settings.clusters["prod"].model_copy(update={"access": broken})
    host = access_for(settings.model_copy(update={"clusters": {"prod": cluster}}), "prod", 1)

    answer = host.status()

    assert answer.running is None
    assert "status_command could not run" in answer.detail


def test_what_a_kind_was_not_given_is_an_error_naming_the_key_that_enables_it(
    tmp_path: Path,
) -> None:
    host = node(tmp_path)

    with pytest.raises(HostError, match=r"set clusters\.prod\.access\.shell_command"):
        host.read_file(str(tmp_path / "server.properties"))
    with pytest.raises(HostError, match=r"set clusters\.prod\.access\.storage_command"):
        host.storage_tool(["info"])


def test_the_storage_command_gets_the_tools_arguments_as_words(tmp_path: Path) -> None:
    host = node(tmp_path, "      storage_command: [printf, '%s|', '{args}']\n")

    out = host.storage_tool(["format", "-t", "a b", "-c", host.config_file])

    assert out == f"format|-t|a b|-c|{tmp_path}/server.properties|"


def test_files_and_tar_streams_go_through_the_shell_command(tmp_path: Path) -> None:
    host = node(tmp_path, "      shell_command: [sh, -c, '{command}']\n")
    data = tmp_path / "data"
    data.mkdir()
    (data / "meta.properties").write_text("cluster.id=x\n")
    target = str(tmp_path / "server.properties")

    host.write_file(target, b"node.id=1\n")
    archive = b"".join(host.tar_stream([str(data)]))
    host.untar(str(tmp_path / "copy"), [archive[:100], archive[100:]])
    host.remove_tree(str(data))

    assert host.read_file(target) == b"node.id=1\n"
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        names = tar.getnames()
    assert str(data / "meta.properties").lstrip("/") in names
    copied = tmp_path / "copy" / str(data).lstrip("/") / "meta.properties"
    assert copied.read_text() == "cluster.id=x\n"
    assert not data.exists()


def test_a_failed_file_operation_names_the_node_and_the_file(tmp_path: Path) -> None:
    host = node(tmp_path, "      shell_command: [sh, -c, '{command}']\n")

    with pytest.raises(HostError) as caught:
        host.read_file(str(tmp_path / "missing"))

    assert str(caught.value).startswith(
        f"cluster 'prod' node 1 (127.0.0.1): reading {tmp_path}/missing failed (exit 1)"
    )


def test_the_root_and_relative_paths_are_refused(tmp_path: Path) -> None:
    host = node(tmp_path, "      shell_command: [sh, -c, '{command}']\n")

    with pytest.raises(HostError, match="refusing to use '/'"):
        host.remove_tree("/")
    with pytest.raises(HostError, match="is not absolute"):
        host.remove_tree("data")
