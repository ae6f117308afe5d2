"""How kafka-dr reaches a cluster's broker hosts: ``clusters.NAME.access``, one of three kinds.

``kind: ssh`` logs in to each broker's host (from the inventory) and drives systemd or the
commands given; ``kind: command`` runs command templates here (Ansible, Nomad, kubectl...);
``kind: lab`` drives the local lab's own processes. Command templates are argv lists whose
items may hold ``{node_id}``, ``{host}``, ``{cluster}`` and ``{config_file}`` (``{{``/``}}``
for a literal brace); which other placeholders a template takes is said on its key.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from dr.config.base import Model

NODE_FIELDS = frozenset({"node_id", "host", "cluster", "config_file"})
NodeTemplate = list[str]


def template_fields(argv: list[str]) -> list[tuple[int, str]]:
    """Every (item index, placeholder name) of an argv template; raises ValueError on a
    malformed one (an unclosed brace, a format spec, an attribute or index)."""
    found: list[tuple[int, str]] = []
    for index, item in enumerate(argv):
        try:
            parsed = list(string.Formatter().parse(item))
        except ValueError as exc:
            raise ValueError(f"item {index} '{item}': {exc}") from None
        for _, name, spec, conversion in parsed:
            if name is None:
                continue
            if spec or conversion or not name.isidentifier():
                raise ValueError(f"item {index} '{item}': write a placeholder as {{name}}")
            found.append((index, name))
    return found


def check_template(
    argv: list[str],
    *,
    extra: frozenset[str] = frozenset(),
    whole_item: frozenset[str] = frozenset(),
) -> list[str]:
    """The template when its placeholders are known ones (``whole_item`` ones must be an item
    of their own, as {args} expands to several); raises ValueError naming the bad one."""
    if not argv or not argv[0]:
        raise ValueError("must name a program to run")
    allowed = NODE_FIELDS | extra
    for index, name in template_fields(argv):
        if name not in allowed:
            known = ", ".join(f"{{{n}}}" for n in sorted(allowed))
            raise ValueError(f"unknown placeholder {{{name}}} (known: {known})")
        if name in whole_item and argv[index] != f"{{{name}}}":
            raise ValueError(f"{{{name}}} must be a list item of its own")
    return argv


def _checked(argv: list[str] | None) -> list[str] | None:
    return None if argv is None else check_template(argv)


class SshAccess(Model):
    """Reach each broker's host (the inventory's ``host``) over SSH."""

    kind: Literal["ssh"] = Field(description="Reach the brokers' hosts over SSH.")
    user: str = Field(min_length=1, description="SSH user name.", examples=["kafka-dr"])
    port: int = Field(default=22, ge=1, le=65535, description="SSH port.", examples=[22])
    key_file: Path = Field(
        description="Private key file (OpenSSH format) of the SSH user, on this host.",
        examples=["/etc/kafka-dr/id_ed25519"],
    )
    passphrase: SecretStr | None = Field(
        default=None,
        description="Passphrase of key_file, if it has one: write ${env:NAME} or ${file:PATH}.",
        examples=["${env:KAFKA_DR_SSH_PASSPHRASE}"],
    )
    known_hosts: Literal["strict", "accept-new", "off"] = Field(
        default="strict",
        description=(
            "Host key policy: strict (the host must be in known_hosts_file), accept-new "
            "(an unknown host is added, a changed key refused), off (not checked)."
        ),
    )
    known_hosts_file: Path = Field(
        default=Path("~/.ssh/known_hosts"),
        validate_default=True,
        description="The known_hosts file the host keys are checked against (and added to).",
        examples=["/etc/kafka-dr/known_hosts"],
    )
    connect_timeout_s: float = Field(
        default=10.0, gt=0, le=300, description="How long connecting to a host may take."
    )
    sudo: bool = Field(
        default=False,
        description="Run systemctl, the storage tool and file changes through 'sudo -n'.",
    )
    systemd_unit: str = Field(
        default="kafka",
        min_length=1,
        description="The systemd unit of the broker ({node_id} may appear in it).",
        examples=["kafka"],
    )
    kafka_home: str = Field(
        default="/opt/kafka",
        description="Kafka's installation on the hosts (its bin/kafka-storage.sh is run).",
        examples=["/opt/kafka"],
    )
    config_file: str | None = Field(
        default=None,
        description=(
            "The brokers' server.properties on the hosts; default: "
            "KAFKA_HOME/config/server.properties (a broker's own config_file wins)."
        ),
        examples=["/etc/kafka/server.properties"],
    )
    start_command: NodeTemplate | None = Field(
        default=None,
        description="Instead of 'systemctl start': argv run on the host to start the broker.",
        examples=[["/opt/kafka/bin/kafka-server-start.sh", "-daemon", "{config_file}"]],
    )
    stop_command: NodeTemplate | None = Field(
        default=None,
        description=(
            "Instead of 'systemctl stop': argv run on the host to stop the broker gracefully "
            "(SIGTERM); kafka-dr then waits for status_command to say it stopped."
        ),
        examples=[["/opt/kafka/bin/kafka-server-stop.sh"]],
    )
    status_command: NodeTemplate | None = Field(
        default=None,
        description=(
            "Instead of 'systemctl is-active': argv run on the host; exit 0 means running, "
            "126/127 that it could not run, anything else stopped."
        ),
        examples=[["pgrep", "-f", "[k]afka.Kafka {config_file}"]],
    )
    kill_command: NodeTemplate | None = Field(
        default=None,
        description=(
            "Instead of 'systemctl kill -s SIGKILL': argv run on the host when a broker has "
            "not stopped by the deadline."
        ),
        examples=[["pkill", "-KILL", "-f", "[k]afka.Kafka {config_file}"]],
    )

    @field_validator("start_command", "stop_command", "status_command", "kill_command")
    @classmethod
    def _check_commands(cls, value: list[str] | None) -> list[str] | None:
        return _checked(value)

    @field_validator("known_hosts", mode="before")
    @classmethod
    def _off_as_written(cls, value: object) -> object:
        # YAML reads a bare `off` as false: the user wrote the policy 'off'.
        return "off" if value is False else value

    @field_validator("key_file", "known_hosts_file")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        value = value.expanduser()
        if not value.is_absolute():
            raise ValueError(f"'{value}' must be an absolute path (or start with ~/)")
        return value

    @field_validator("systemd_unit")
    @classmethod
    def _check_unit(cls, value: str) -> str:
        check_template([value])
        return value

    @model_validator(mode="after")
    def _commands_together(self) -> SshAccess:
        given = [self.start_command, self.stop_command, self.status_command]
        if any(c is not None for c in given) and not all(c is not None for c in given):
            raise ValueError(
                "start_command, stop_command and status_command replace systemd together: "
                "give all three or none"
            )
        if self.kill_command is not None and self.start_command is None:
            raise ValueError("kill_command goes with start_command, stop_command, status_command")
        return self


class CommandAccess(Model):
    """Run command templates on this host for each broker (Ansible, Nomad, kubectl...)."""

    kind: Literal["command"] = Field(description="Run commands here for each broker.")
    start_command: NodeTemplate = Field(
        description="argv that starts the broker and returns once its process runs.",
        examples=[["ansible", "{host}", "-m", "systemd", "-a", "name=kafka state=started"]],
    )
    stop_command: NodeTemplate = Field(
        description="argv that stops the broker gracefully (SIGTERM: controlled shutdown).",
        examples=[["ansible", "{host}", "-m", "systemd", "-a", "name=kafka state=stopped"]],
    )
    status_command: NodeTemplate = Field(
        description="argv whose exit 0 means running, 126/127 that it could not run, else stopped.",
        examples=[["ssh", "{host}", "systemctl", "is-active", "--quiet", "kafka"]],
    )
    kill_command: NodeTemplate | None = Field(
        default=None,
        description="argv that kills the broker when it has not stopped by the deadline.",
        examples=[["ssh", "{host}", "systemctl", "kill", "-s", "SIGKILL", "kafka"]],
    )
    storage_command: NodeTemplate | None = Field(
        default=None,
        description=(
            "argv that runs kafka-storage.sh on the broker's host; the item {args} is replaced "
            "by the tool's arguments (format, info...)."
        ),
        examples=[["kubectl", "exec", "kafka-{node_id}", "--", "kafka-storage.sh", "{args}"]],
    )
    shell_command: NodeTemplate | None = Field(
        default=None,
        description=(
            "argv that runs a POSIX shell command line on the broker's host with stdin and "
            "stdout passed through; {command} is that command line, already quoted. Enables "
            "reading and writing files, removing log dirs and streaming them as tar."
        ),
        examples=[["docker", "exec", "-i", "kafka-{node_id}", "sh", "-c", "{command}"]],
    )
    config_file: str | None = Field(
        default=None,
        description="The brokers' server.properties on their hosts (a broker's own wins).",
        examples=["/etc/kafka/server.properties"],
    )
    timeout_s: float = Field(
        default=120.0, gt=0, description="Longest a start, status or storage command may run."
    )

    @field_validator("start_command", "stop_command", "status_command", "kill_command")
    @classmethod
    def _check_commands(cls, value: list[str] | None) -> list[str] | None:
        return _checked(value)

    @field_validator("storage_command")
    @classmethod
    def _check_storage(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        check_template(value, extra=frozenset({"args"}), whole_item=frozenset({"args"}))
        if "{args}" not in value:
            raise ValueError("has no {args} item for the storage tool's arguments")
        return value

    @field_validator("shell_command")
    @classmethod
    def _check_shell(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        check_template(value, extra=frozenset({"command"}))
        if not any(name == "command" for _, name in template_fields(value)):
            raise ValueError("has no {command} placeholder for the command line to run")
        return value


class LabAccess(Model):
    """The local lab's own processes (written by 'kafka-dr lab up')."""

    kind: Literal["lab"] = Field(description="The local lab started by 'kafka-dr lab up'.")
    dir: Path = Field(description="The lab's directory.", examples=["/tmp/kafka-dr-lab"])

    @field_validator("dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        value = value.expanduser()
        if not value.is_absolute():
            raise ValueError(f"'{value}' must be an absolute path")
        return value


AccessSettings = Annotated[SshAccess | CommandAccess | LabAccess, Field(discriminator="kind")]
