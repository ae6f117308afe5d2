"""Command templates filled for a node, and command lines for a remote shell: every argument
reaches the program as one word, whatever it holds."""

from __future__ import annotations

import subprocess
from pathlib import Path

from dr.hosts import templates
from dr.hosts.templates import NodeFacts, render, shell_line

FACTS = NodeFacts(cluster="prod", node_id=2, host="kafka-2.prod", config_file="/etc/k/s.props")
HOSTILE = "a b; rm -rf / $(reboot) `id` 'q' \"d\" \\ * ~ \n end"


def sh(line: str, *, stdin: bytes = b"") -> bytes:
    """What a POSIX shell does with the line (as sshd's login shell would)."""
    return subprocess.run(["sh", "-c", line], input=stdin, capture_output=True, check=True).stdout


def test_a_template_names_the_node_and_keeps_literal_braces() -> None:
    argv = render(["run", "{host}:{node_id}", "--conf={config_file}", "{{x}}", "{cluster}"], FACTS)

    assert argv == ["run", "kafka-2.prod:2", "--conf=/etc/k/s.props", "{x}", "prod"]


def test_args_expand_to_several_items_and_values_are_never_split() -> None:
    argv = render(["tool", "{args}", "end"], FACTS, args=["format", "-t", "id 1", HOSTILE])

    assert argv == ["tool", "format", "-t", "id 1", HOSTILE, "end"]


def test_a_value_with_braces_is_not_filled_again() -> None:
    facts = NodeFacts(cluster="c", node_id=1, host="{node_id}", config_file="/x")

    assert render(["{host}"], facts) == ["{node_id}"]


def test_a_shell_line_delivers_every_argument_as_one_word() -> None:
    line = shell_line(["printf", "%s\\0", HOSTILE, "", "plain"])

    assert sh(line).split(b"\0")[:-1] == [HOSTILE.encode(), b"", b"plain"]


def test_sudo_goes_first_and_does_not_change_the_arguments() -> None:
    assert shell_line(["rm", "-rf", "--", "/a b"], sudo=True) == "sudo -n rm -rf -- '/a b'"


def test_a_file_written_through_the_shell_lands_whole_under_its_odd_name(tmp_path: Path) -> None:
    target = tmp_path / "it's $HOME; a file"

    sh(templates.write_file_line(str(target)), stdin=b"data\x00\xff")

    assert target.read_bytes() == b"data\x00\xff"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
    assert sh(templates.read_file_line(str(target))) == b"data\x00\xff"


def test_a_tar_made_through_the_shell_extracts_elsewhere_under_the_same_path(
    tmp_path: Path,
) -> None:
    source = tmp_path / "src dir" / "data"
    source.mkdir(parents=True)
    (source / "00000.log").write_bytes(b"records")
    archive = sh(templates.tar_create_line([str(source)]))

    sh(templates.tar_extract_line(str(tmp_path / "dest $x")), stdin=archive)

    copied = tmp_path / "dest $x" / str(source).lstrip("/") / "00000.log"
    assert copied.read_bytes() == b"records"


def test_remove_tree_removes_only_the_named_directory(tmp_path: Path) -> None:
    (tmp_path / "keep").mkdir()
    (tmp_path / "go *").mkdir()
    (tmp_path / "go *" / "f").write_text("x")

    sh(templates.remove_tree_line(str(tmp_path / "go *")))

    assert [p.name for p in tmp_path.iterdir()] == ["keep"]
