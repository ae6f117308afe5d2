"""The playbooks section of the config: the operator hooks run around a playbook's steps.

``playbooks.<playbook>.hooks.<step>.before|after`` lists commands run before and after one
step; the step ``all`` holds hooks run around every step. The step names are only checked for
their form here: the engine checks them against the playbook's real steps when it plans a run.
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, SecretStr, field_validator, model_validator

from dr.config.base import Model, Name, stringify_values

# The playbooks that take hooks; a new one (a broker procedure) is one more name here.
PLAYBOOK_NAMES: tuple[str, ...] = (
    "failover",
    "failback",
    "cutover",
    "rollback",
    "broker-add",
    "broker-remove",
    "reassign-cancel",
    "broker-restart",
    "broker-replace",
    "snapshot-run",
    "snapshot-restore",
)
# The step name whose hooks run around every step of the playbook.
EVERY_STEP = "all"
# Hooks get their context in these variables; a hook's own env may not set them.
RESERVED_ENV_PREFIX = "KAFKA_DR_"

_STEP_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

When = Literal["before", "after"]


def _check_playbook_name(value: str) -> str:
    if value not in PLAYBOOK_NAMES:
        raise ValueError(f"'{value}' is not a playbook (one of: {', '.join(PLAYBOOK_NAMES)})")
    return value


def _check_step_name(value: str) -> str:
    if not _STEP_NAME.fullmatch(value):
        raise ValueError(
            f"'{value}' is not a step name (lowercase letters, digits and _, "
            "not starting with a digit)"
        )
    return value


def _check_env_name(value: str) -> str:
    if not _ENV_NAME.fullmatch(value):
        raise ValueError(f"'{value}' is not an environment variable name")
    if value.startswith(RESERVED_ENV_PREFIX):
        raise ValueError(
            f"'{value}' starts with {RESERVED_ENV_PREFIX}, which kafka-dr sets for every hook"
        )
    return value


PlaybookName = Annotated[str, AfterValidator(_check_playbook_name)]
StepName = Annotated[str, AfterValidator(_check_step_name)]
EnvName = Annotated[str, AfterValidator(_check_env_name)]


class HookSettings(Model):
    """One command run before or after a step. Written as a list (the command alone, with the
    defaults below) or as a mapping with command: and the keys below."""

    command: list[str] = Field(
        description=(
            "The program and its arguments, run without a shell (no pipes, globs or $VARS). "
            "A relative path with a / is taken from the config file's directory; a bare name "
            "is looked up on PATH."
        ),
        examples=[["/etc/kafka-dr/hooks/switch-dns.sh", "--zone", "kafka.acme.internal"]],
    )
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Name of the hook in logs, errors and the run's journal; default: the "
        "file name of the command's program.",
        examples=["switch-dns"],
    )
    timeout_s: float = Field(
        default=60.0,
        gt=0,
        le=86_400,
        description="Longest one attempt may run, in seconds; then its whole process group "
        "is killed and the attempt counts as failed.",
        examples=[60],
    )
    retries: int = Field(
        default=0,
        ge=0,
        le=100,
        description="How many times a failed attempt (non-zero exit or timeout) is tried again.",
        examples=[2],
    )
    retry_delay_s: float = Field(
        default=5.0,
        ge=0,
        le=3600,
        description="Pause between a failed attempt and the next, in seconds.",
        examples=[5],
    )
    on_failure: Literal["abort", "continue"] = Field(
        default="abort",
        description="When the last attempt fails: 'abort' stops the run at this step (resume "
        "it once fixed); 'continue' records the failure and goes on.",
        examples=["abort"],
    )
    env: dict[EnvName, SecretStr] = Field(
        default_factory=dict,
        description="Environment variables added for this hook, beside the KAFKA_DR_* context. "
        "Values may be ${env:NAME} or ${file:PATH} references; they are never logged.",
        examples=[{"DNS_API_TOKEN": "${env:DNS_API_TOKEN}"}],
    )

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: object) -> object:
        if isinstance(value, str):
            if not value.strip() or any(c.isspace() for c in value):
                raise ValueError(
                    f"'{value}' is not a command: hooks run without a shell, so write the "
                    "program and its arguments as a list, e.g. [switch-dns.sh, --zone, x]"
                )
            return {"command": [value]}
        if isinstance(value, list):
            return {"command": value}
        if not isinstance(value, dict):
            raise ValueError("a hook is a command list or a mapping with command:")
        return value

    @field_validator("command", mode="before")
    @classmethod
    def _stringify_arguments(cls, value: object) -> object:
        # YAML reads `--port, 53` as a number; an argument is text all the same.
        if not isinstance(value, list):
            return value
        return [
            str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v for v in value
        ]

    @field_validator("command")
    @classmethod
    def _check_command(cls, value: list[str]) -> list[str]:
        if not value or not value[0].strip():
            raise ValueError("the command is empty: give the program, then its arguments")
        return value

    @field_validator("env", mode="before")
    @classmethod
    def _stringify(cls, value: object) -> object:
        return stringify_values(value)

    @property
    def label(self) -> str:
        """The hook's name, else the file name of its program (never its arguments)."""
        return self.name or PurePath(self.command[0]).name or self.command[0]


class StepHooks(Model):
    """The hooks of one step, run in the order listed."""

    before: list[HookSettings] = Field(
        default_factory=list,
        description="Hooks run before the step starts.",
        examples=[[{"command": ["/etc/kafka-dr/hooks/stop-producers.sh"]}]],
    )
    after: list[HookSettings] = Field(
        default_factory=list,
        description="Hooks run after the step has succeeded.",
        examples=[[{"command": ["/etc/kafka-dr/hooks/switch-dns.sh"]}]],
    )


class PlaybookSettings(Model):
    """Settings of one playbook."""

    hooks: dict[StepName, StepHooks] = Field(
        default_factory=dict,
        description=(
            f"Hooks by step name; the step '{EVERY_STEP}' holds hooks run around every step "
            "(its before hooks first, its after hooks last)."
        ),
        examples=[{"switch_clients": {"after": [["/etc/kafka-dr/hooks/switch-dns.sh"]]}}],
    )

    quiet_s: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description=(
            "Planned moves (cutover, rollback, failback): how long every end offset of the "
            "cluster clients leave must stay still, once producers are stopped, before records "
            "are compared or copied."
        ),
    )
    drain_timeout_s: float = Field(
        default=300.0,
        gt=0,
        description=(
            "Planned moves: how long to wait for quiet, for the replicas to hold every record, "
            "and for consumer groups to commit their last offsets, before the step fails."
        ),
    )
    max_lag_records: int = Field(
        default=100_000,
        ge=0,
        description="Cutover: the replication lag (records) above which the preflight refuses.",
    )
    verify_records: int = Field(
        default=100_000,
        ge=1,
        description=(
            "Cutover: how many of each partition's last records the verify step compares with "
            "the replica at least (from the newest offset sync before them; the whole partition "
            "when it holds fewer)."
        ),
    )
    archive_storage: Name | None = Field(
        default=None,
        description=(
            "Failback: the store (a key of storage) that receives the divergence archive; "
            "default: the store of the first backup job of the returning cluster, else the "
            "first store."
        ),
    )

    def hooks_for(self, step: str, when: When) -> list[HookSettings]:
        """The hooks to run before or after this step, in order: before, the 'all' hooks then
        the step's own; after, the step's own then the 'all' hooks."""
        own = self.hooks.get(step, StepHooks())
        every = self.hooks.get(EVERY_STEP, StepHooks())
        if when == "before":
            return [*every.before, *own.before]
        return [*own.after, *every.after]

    def unknown_steps(self, steps: list[str]) -> list[str]:
        """The configured step names that are neither in steps nor 'all', in config order."""
        return [name for name in self.hooks if name != EVERY_STEP and name not in steps]
