"""Command templates made concrete for one node, and command lines for a remote POSIX shell.

Templates are argv lists (validated by dr.config.access); filling one never goes through a
shell. What is sent to a remote shell (SSH runs a command line, not an argv) is built here and
only here, with every argument quoted by shlex.quote.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class NodeFacts:
    """What the templates may name about one node."""

    cluster: str
    node_id: int
    host: str
    config_file: str

    def values(self) -> dict[str, str]:
        return {
            "cluster": self.cluster,
            "node_id": str(self.node_id),
            "host": self.host,
            "config_file": self.config_file,
        }


def render(
    template: Sequence[str],
    facts: NodeFacts,
    *,
    args: Sequence[str] | None = None,
    extra: Mapping[str, str] | None = None,
) -> list[str]:
    """The argv for this node: each {name} replaced by its value, the item {args} by the
    arguments given (several items). Values are never split or interpreted by a shell."""
    values = {**facts.values(), **(extra or {})}
    argv: list[str] = []
    for item in template:
        if item == "{args}":
            argv.extend(args or ())
        else:
            argv.append(item.format_map(values))
    return argv


def shell_line(argv: Sequence[str], *, sudo: bool = False) -> str:
    """One argv as a POSIX shell command line, every item quoted (``sudo -n`` first if asked)."""
    return shlex.join(["sudo", "-n", *argv] if sudo else list(argv))


def shell_script(script: str, *, sudo: bool = False) -> str:
    """A command line built of quoted parts (redirections, &&) run as one, as root with sudo."""
    return shell_line(["sh", "-c", script], sudo=True) if sudo else script


def read_file_line(path: str, *, sudo: bool = False) -> str:
    return shell_line(["cat", "--", path], sudo=sudo)


def write_file_line(path: str, *, sudo: bool = False) -> str:
    """Write stdin aside, then rename over path: a reader never sees half a file."""
    tmp = f"{path}.kafka-dr.tmp"
    q = shlex.quote
    script = f"cat > {q(tmp)} && mv -f -- {q(tmp)} {q(path)}"
    return shell_script(script, sudo=sudo)


def remove_tree_line(path: str, *, sudo: bool = False) -> str:
    return shell_line(["rm", "-rf", "--", path], sudo=sudo)


def tar_create_line(paths: Sequence[str], *, sudo: bool = False) -> str:
    """tar of the absolute paths, members named without the leading '/' (untar into '/' lays
    them back where they were)."""
    members = [p.lstrip("/") for p in paths]
    return shell_line(["tar", "-cf", "-", "-C", "/", "--", *members], sudo=sudo)


def tar_extract_line(dest: str, *, sudo: bool = False) -> str:
    q = shlex.quote
    script = f"mkdir -p -- {q(dest)} && tar -xf - -C {q(dest)}"
    return shell_script(script, sudo=sudo)
