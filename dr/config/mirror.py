"""The mirror section of the config: how MirrorMaker 2 is deployed and which flows it runs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from dr.config.base import Model, Name, hide_secret_values, stringify_values
from dr.config.objectives import ObjectiveOverrides

# Keys that only one way of deploying MirrorMaker reads; the other refuses them at load.
DEDICATED_ONLY = (
    "properties",
    "properties_file",
    "restart_command",
    "status_command",
    "stop_command",
    "pid_file",
)
CONNECT_ONLY = ("connect_url",)
HEARTBEAT_INTERVAL = "emit.heartbeats.interval.seconds"
HEARTBEATS_ENABLED = "emit.heartbeats.enabled"


class MirrorFlow(Model):
    """One MirrorMaker 2 replication flow, named SOURCE->TARGET."""

    source: Name = Field(
        description="Source cluster name (a key of clusters).", examples=["primary"]
    )
    target: Name = Field(description="Target cluster name (a key of clusters).", examples=["dr"])
    topics: list[str] = Field(
        default_factory=lambda: [".*"], description="Topic regexes to replicate."
    )
    topics_exclude: list[str] = Field(
        default_factory=list, description="Topic regexes not to replicate."
    )
    groups: list[str] = Field(
        default_factory=lambda: [".*"], description="Consumer group regexes to checkpoint."
    )
    groups_exclude: list[str] = Field(
        default_factory=list, description="Group regexes not to checkpoint."
    )
    replication_policy: Literal["default", "identity"] = Field(
        default="default",
        description=(
            "'default' prefixes remote topics with the source name; 'identity' keeps names."
        ),
    )
    sync_group_offsets: bool = Field(
        default=False, description="Let MirrorMaker write translated group offsets on the target."
    )
    checkpoint_interval_s: int = Field(
        default=60, gt=0, description="How often checkpoints are emitted, in whole seconds."
    )
    heartbeats: bool = Field(default=True, description="Run the heartbeat connector.")
    exactly_once: bool = Field(
        default=False, description="Exactly-once source support (Connect mode)."
    )
    properties: dict[str, str] = Field(
        default_factory=dict, description="Extra MirrorMaker properties, passed through."
    )
    objectives: ObjectiveOverrides = Field(
        default_factory=ObjectiveOverrides,
        description="This flow's RPO and RTO objectives, where they differ from the global ones.",
        examples=[{"rpo_seconds": 30}],
    )

    @property
    def name(self) -> str:
        return f"{self.source}->{self.target}"

    @field_validator("properties", mode="before")
    @classmethod
    def _stringify(cls, value: object) -> object:
        return stringify_values(value)

    @field_validator("properties")
    @classmethod
    def _check_properties(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_heartbeat_properties(value)

    @field_validator("topics", "topics_exclude", "groups", "groups_exclude")
    @classmethod
    def _check_regexes(cls, value: list[str]) -> list[str]:
        for pattern in value:
            if "," in pattern:
                # MirrorMaker splits these lists on commas: a{1,3} would become two regexes.
                raise ValueError(f"'{pattern}' contains a comma, which MirrorMaker cannot take")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"'{pattern}' is not a valid regex: {exc}") from None
        return value


class MirrorSettings(Model):
    """How MirrorMaker 2 is deployed and which flows it runs."""

    deploy: Literal["dedicated", "connect"] = Field(
        default="dedicated",
        description="Dedicated MirrorMaker processes or a Kafka Connect cluster.",
    )
    connect_url: str | None = Field(
        default=None,
        description="Kafka Connect REST URL (http or https) when deploy is 'connect'.",
        examples=["http://connect.prod:8083"],
    )
    flows: list[MirrorFlow] = Field(default_factory=list, description="Replication flows.")
    properties: dict[str, str] = Field(
        default_factory=dict,
        description="Extra mm2.properties lines for dedicated mode (worker settings).",
    )
    properties_file: Path | None = Field(
        default=None,
        description="Where 'mirror apply' writes mm2.properties in dedicated mode.",
        examples=["/etc/kafka/mm2.properties"],
    )
    restart_command: list[str] | None = Field(
        default=None,
        min_length=1,
        description="Command 'mirror apply' and 'mirror restart' run to restart a dedicated "
        "MirrorMaker after its properties changed.",
        examples=[["systemctl", "restart", "kafka-mirror-maker"]],
    )
    status_command: list[str] | None = Field(
        default=None,
        min_length=1,
        description="Command 'mirror status' runs to ask whether a dedicated MirrorMaker runs: "
        "exit 0 means running, any other code not running; its last output line is the reason.",
        examples=[["systemctl", "is-active", "kafka-mirror-maker"]],
    )
    stop_command: list[str] | None = Field(
        default=None,
        min_length=1,
        description="Command a failover runs to stop a dedicated MirrorMaker, so that nothing is "
        "copied into the new primary once clients write to it (all flows of that process stop).",
        examples=[["systemctl", "stop", "kafka-mirror-maker"]],
    )
    clients: dict[Name, dict[str, str | SecretStr]] = Field(
        default_factory=dict,
        description=(
            "MirrorMaker's own client settings by cluster name, over that cluster's "
            "clusters.NAME.client (which are kafka-dr's): give MirrorMaker its own principal, "
            "for example sasl.username and sasl.password. Secret values may be written "
            "${env:NAME} or ${file:PATH}."
        ),
        examples=[
            {
                "primary": {
                    "sasl.username": "mirrormaker",
                    "sasl.password": "${env:KAFKA_DR_MM_PASSWORD}",
                }
            }
        ],
    )
    secrets_file: Path | None = Field(
        default=None,
        description=(
            "Where 'mirror apply' writes MirrorMaker's secret client settings (passwords, JAAS "
            "lines), readable by the owner only; the rendered properties and connector configs "
            "then refer to it through Kafka's FileConfigProvider instead of holding the secrets. "
            "Default in dedicated mode: properties_file with '.secrets' appended. In connect "
            "mode the path must be one the Connect workers read, with config.providers=file "
            "set on them; without it the secrets go to Connect's REST API as they are."
        ),
        examples=["/etc/kafka/mm2-secrets.properties"],
    )
    pid_file: Path | None = Field(
        default=None,
        description="PID file of a dedicated MirrorMaker on the host running kafka-dr: "
        "'mirror status' checks that the process it names is alive.",
        examples=["/run/kafka-mirror-maker.pid"],
    )

    @field_validator("connect_url")
    @classmethod
    def _check_connect_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        _refuse_other_mode("connect_url", info, wanted="connect")
        if value is not None:
            check_http_url(value)
        return value

    @field_validator(*DEDICATED_ONLY)
    @classmethod
    def _dedicated_only(cls, value: object, info: ValidationInfo) -> object:
        assert info.field_name is not None
        _refuse_other_mode(info.field_name, info, wanted="dedicated")
        return value

    @field_validator("clients", mode="before")
    @classmethod
    def _hide_client_secrets(cls, value: object) -> object:
        if not isinstance(value, dict):
            return value
        return {k: hide_secret_values(v) for k, v in value.items()}

    def secrets_path(self) -> Path | None:
        """Where MirrorMaker's secret client settings are written (see secrets_file)."""
        if self.secrets_file is not None:
            return self.secrets_file
        if self.deploy == "dedicated" and self.properties_file is not None:
            return self.properties_file.with_name(self.properties_file.name + ".secrets")
        return None

    @field_validator("properties", mode="before")
    @classmethod
    def _stringify(cls, value: object) -> object:
        return stringify_values(value)

    @field_validator("properties")
    @classmethod
    def _check_properties(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_heartbeat_properties(value)

    @model_validator(mode="after")
    def _check_connect(self) -> MirrorSettings:
        if self.deploy == "connect" and not self.connect_url:
            raise ValueError("deploy is 'connect' but connect_url is not set")
        names = [f.name for f in self.flows]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"flow {dupes[0]} is defined twice")
        return self


def check_http_url(url: str) -> None:
    """Raise ValueError unless url is http(s)://HOST[:PORT][/PATH]; the message never shows
    the credentials a URL may carry."""
    parts = urlsplit(url)
    try:
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a port that is not a number, or out of range
        valid = False
    if not valid:
        shown = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
        raise ValueError(f"'{shown}' is not an http(s)://HOST[:PORT] URL")


def _refuse_other_mode(key: str, info: ValidationInfo, *, wanted: str) -> None:
    # Fields are validated in order and deploy comes first: a key given for the other mode is
    # refused rather than silently ignored.
    deploy = info.data.get("deploy")
    if deploy is not None and deploy != wanted:
        raise ValueError(
            f"mirror.{key} is for deploy: {wanted}, and this mirror has deploy: {deploy} "
            "(remove the key, or change deploy)"
        )


def _check_heartbeat_properties(value: dict[str, str]) -> dict[str, str]:
    """The heartbeat settings kafka-dr itself reads must be what MirrorMaker accepts."""
    for key, item in value.items():
        if key.endswith(HEARTBEAT_INTERVAL) and not re.fullmatch(r"-?\d+", item.strip()):
            raise ValueError(f"{key} must be a whole number of seconds (got '{item}')")
        if key.endswith(HEARTBEATS_ENABLED) and item.strip().lower() not in ("true", "false"):
            raise ValueError(f"{key} must be true or false (got '{item}')")
    return value
