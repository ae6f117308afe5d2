"""The configuration schema: the single source of truth for every kafka-dr setting.

Every model forbids unknown keys and is frozen once loaded. Each field carries a description
and an example; ``kafka-dr config example`` is generated from them. The mirror section lives in
dr.config.mirror, the playbooks section in dr.config.playbooks, stores in dr.config.storage and
the daemon's settings in dr.config.daemon, re-exported here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator

from dr.config.access import AccessSettings, CommandAccess, LabAccess, SshAccess
from dr.config.base import NAME_PATTERN, Model, Name, hide_secret_values
from dr.config.client_overrides import ClientOverrides
from dr.config.daemon import DaemonSettings
from dr.config.drills import DrillSettings
from dr.config.mirror import MirrorFlow, MirrorSettings
from dr.config.objectives import ObjectiveOverrides, Objectives
from dr.config.playbooks import HookSettings, PlaybookName, PlaybookSettings, StepHooks
from dr.config.snapshots import SnapshotSettings
from dr.config.storage import StorageSettings
from dr.cron import checked_schedule

__all__ = [
    "NAME_PATTERN",
    "AccessSettings",
    "BackupJob",
    "BrokerSpec",
    "ClusterSettings",
    "CommandAccess",
    "DaemonSettings",
    "DrillSettings",
    "HookSettings",
    "LabAccess",
    "MirrorFlow",
    "MirrorSettings",
    "Model",
    "Name",
    "Objectives",
    "PlaybookSettings",
    "Retention",
    "Settings",
    "SshAccess",
    "StepHooks",
    "StorageSettings",
    "ToolSettings",
]


class BrokerSpec(Model):
    """One broker of a cluster's inventory."""

    id: int = Field(ge=0, description="The broker's node.id.", examples=[1])
    host: str = Field(
        min_length=1, description="Host name or address of the broker.", examples=["kafka-1.prod"]
    )
    log_dirs: list[str] = Field(
        default_factory=list,
        description="The broker's log.dirs, for snapshots and disk replacement.",
        examples=[["/var/lib/kafka/data"]],
    )
    config_file: str | None = Field(
        default=None,
        description="This broker's server.properties on its host, when not the access default.",
        examples=["/etc/kafka/server.properties"],
    )
    rack: str | None = Field(
        default=None,
        description="The broker's broker.rack, kept apart when replicas are moved.",
        examples=["eu-west-1a"],
    )


class ClusterSettings(Model):
    """How to reach one Kafka cluster and what it should contain."""

    bootstrap_servers: str = Field(
        min_length=1,
        description="Comma-separated host:port list used to reach the cluster.",
        examples=["kafka-1.prod:9092,kafka-2.prod:9092,kafka-3.prod:9092"],
    )
    client: dict[str, str | SecretStr] = Field(
        default_factory=dict,
        description=(
            "Properties passed to the Kafka clients (librdkafka names: security.protocol, "
            "sasl.mechanism, sasl.username, sasl.password, ssl.ca.location...). Secret values "
            "may be written ${env:NAME} or ${file:PATH}."
        ),
        examples=[
            {
                "security.protocol": "SASL_SSL",
                "sasl.mechanism": "SCRAM-SHA-512",
                "sasl.username": "kafka-dr",
                "sasl.password": "${env:KAFKA_DR_PROD_PASSWORD}",
            }
        ],
    )
    brokers: list[BrokerSpec] = Field(
        default_factory=list,
        description="Inventory of the brokers expected online; empty means 'do not check'.",
    )
    timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description=(
            "How long kafka-dr waits for this cluster to answer one request, in every command "
            "(a permanent failure - unknown host, refused connection, failed authentication - "
            "is reported at once, without waiting this long)."
        ),
        examples=[10],
    )
    drillable: bool = Field(
        default=False,
        description=(
            "Destructive drills (failover, broker-loss) may run against this cluster. Leave "
            "false for production unless a drill there is planned and announced."
        ),
    )
    access: AccessSettings | None = Field(
        default=None,
        description=(
            "How the brokers' hosts are reached for restarts, replacements and snapshots: "
            "kind ssh, command or lab."
        ),
        examples=[
            {
                "kind": "ssh",
                "user": "kafka-dr",
                "key_file": "/etc/kafka-dr/id_ed25519",
                "known_hosts_file": "/etc/kafka-dr/known_hosts",
                "systemd_unit": "kafka",
                "kafka_home": "/opt/kafka",
            }
        ],
    )

    @field_validator("bootstrap_servers")
    @classmethod
    def _check_bootstrap(cls, value: str) -> str:
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"'{server.strip()}' is not host:port")
        return value

    @field_validator("client", mode="before")
    @classmethod
    def _hide_secrets(cls, value: object) -> object:
        return hide_secret_values(value)

    @field_validator("brokers")
    @classmethod
    def _unique_brokers(cls, value: list[BrokerSpec]) -> list[BrokerSpec]:
        ids = [b.id for b in value]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"node id {dupes[0]} is listed twice")
        return value

    # Its key under clusters, given by Settings: messages name a cluster as the user does.
    _name: str | None = PrivateAttr(default=None)

    @property
    def name(self) -> str | None:
        """The cluster's key under clusters (None for settings made outside a config)."""
        return self._name

    def describe(self) -> str:
        """How messages name this cluster: cluster 'NAME' (BOOTSTRAP SERVERS)."""
        if self._name is None:
            return f"cluster at {self.bootstrap_servers}"
        return f"cluster '{self._name}' ({self.bootstrap_servers})"

    def client_properties(self) -> dict[str, str]:
        """The client properties with secrets revealed, for handing to a Kafka client."""
        return {
            k: v.get_secret_value() if isinstance(v, SecretStr) else v
            for k, v in self.client.items()
        }


class ToolSettings(Model):
    """Where the Kafka command-line tools' jars come from (used to read the KRaft quorum)."""

    kafka_home: Path | None = Field(
        default=None,
        description="An Apache Kafka installation; its libs/ are used.",
        examples=["/opt/kafka"],
    )
    kafka_version: str | None = Field(
        default=None,
        pattern=r"^\d+\.\d+\.\d+$",
        description="Kafka version whose jars are fetched with Maven when kafka_home is not set.",
        examples=["4.3.1"],
    )


class Retention(Model):
    """How long backups are kept. A backup is pruned only when every rule allows it."""

    keep_days: float | None = Field(
        default=None, gt=0, description="Prune backups older than this many days.", examples=[30]
    )
    keep_last: int | None = Field(
        default=None,
        ge=1,
        description=(
            "Backups beyond the newest this many may be pruned (when every other rule set "
            "allows it too: with keep_days, a backup goes once it is both older and beyond)."
        ),
        examples=[48],
    )
    min_keep: int = Field(
        default=1, ge=1, description="Never keep fewer than this many backups.", examples=[3]
    )


class BackupJob(Model):
    """A backup job: which topics of which cluster go to which store, and when."""

    cluster: Name = Field(
        description="Cluster to back up (a key of clusters).", examples=["primary"]
    )
    topics: list[str] = Field(
        min_length=1,
        description="Regexes of the topics to back up (full match).",
        examples=[["orders", "payments\\..*"]],
    )
    exclude: list[str] = Field(
        default_factory=list, description="Regexes of topics to leave out.", examples=[[".*-tmp"]]
    )
    storage: Name = Field(description="Store to write to (a key of storage).", examples=["s3-prod"])
    schedule: str | None = Field(
        default=None,
        description="Cron expression (UTC) for the daemon: 5 fields, or 6 with seconds first.",
        examples=["*/15 * * * *"],
    )
    retention: Retention = Field(default_factory=Retention, description="Backup retention.")
    objectives: ObjectiveOverrides = Field(
        default_factory=ObjectiveOverrides,
        description=(
            "This job's RPO and RTO objectives, where they differ from the global ones (a job "
            "backing up every 15 minutes cannot meet a 60 s RPO)."
        ),
        examples=[{"rpo_seconds": 1200}],
    )
    compression: Literal["zstd", "lz4", "none"] = Field(
        default="zstd", description="Compression of data segments."
    )
    segment_max_records: int = Field(
        default=100_000, ge=1, description="Most records in one data segment."
    )
    segment_max_mb: int = Field(
        default=64, ge=1, le=4096, description="Largest uncompressed data segment, in MiB."
    )
    memory_budget_mb: int = Field(
        default=256,
        ge=32,
        le=65536,
        description=(
            "Memory a run may use for records in flight (fetch queue, open segments, uploads), "
            "in MiB, whatever the number of partitions; segments are cut early to stay within it."
        ),
    )
    leader_wait_s: int = Field(
        default=30,
        ge=0,
        le=3600,
        description=(
            "How long a run waits for every partition to have a leader before it fails naming "
            "the leaderless ones (or, with allow_partial, completes as a partial backup)."
        ),
    )
    lock_ttl_s: int = Field(
        default=60,
        ge=5,
        le=3600,
        description=(
            "Lease of the job's lock in the store: renewed every third of it; a lease left by "
            "a host that died is taken over once unchanged for this long (runs wait for it)."
        ),
    )
    allow_partial: bool = Field(
        default=False,
        description=(
            "Complete a run whose partitions without a leader were left out, as a PARTIAL "
            "backup that says so (list, show, verify); the default fails the run."
        ),
    )
    client_overrides: ClientOverrides = Field(
        default_factory=ClientOverrides,
        description=(
            "librdkafka settings replacing kafka-dr's tuned defaults for this job's backup "
            "consumer and for the producer that restores its backups (docs/backup.md, Tuning); "
            "settings that would break exactness are refused."
        ),
        examples=[{"consumer": {"fetch.wait.max.ms": 50}, "producer": {"linger.ms": 50}}],
    )
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description=(
            "Worker processes that copy the job's partitions, each a share balanced by records "
            "to copy, sharing memory_budget_mb; 1 copies in the run's own process."
        ),
        examples=[2],
    )

    @field_validator("topics", "exclude")
    @classmethod
    def _check_regexes(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"'{pattern}' is not a valid regex: {exc}") from None
        return value

    @field_validator("schedule")
    @classmethod
    def _check_schedule(cls, value: str | None) -> str | None:
        return checked_schedule(value)


class Settings(Model):
    """The whole kafka-dr configuration."""

    clusters: dict[Name, ClusterSettings] = Field(
        min_length=1, description="Kafka clusters by name."
    )
    objectives: Objectives = Field(default_factory=Objectives, description="RPO and RTO targets.")
    storage: dict[Name, StorageSettings] = Field(
        default_factory=dict, description="Backup stores by name."
    )
    mirror: MirrorSettings | None = Field(default=None, description="MirrorMaker 2 replication.")
    backups: dict[Name, BackupJob] = Field(default_factory=dict, description="Backup jobs by name.")
    snapshots: dict[Name, SnapshotSettings] = Field(
        default_factory=dict,
        description="Log-dir snapshots by cluster name: their store and retention.",
    )
    playbooks: dict[PlaybookName, PlaybookSettings] = Field(
        default_factory=dict,
        description=(
            "Playbooks (failover, failback, cutover) by name: the hooks run around their steps."
        ),
    )
    drills: dict[Name, DrillSettings] = Field(
        default_factory=dict,
        description="DR drills by name: their scenarios, schedule, reports and signing key.",
    )
    daemon: DaemonSettings = Field(
        default_factory=DaemonSettings, description="The scheduling daemon."
    )
    tools: ToolSettings = Field(default_factory=ToolSettings, description="Kafka tool jars.")
    state: Path | None = Field(
        default=None,
        description="Path of the SQLite state store; default: kafka-dr.db beside the config.",
        examples=["/var/lib/kafka-dr/state.db"],
    )

    @model_validator(mode="after")
    def _name_clusters_and_stores(self) -> Settings:
        for name, cluster in self.clusters.items():
            cluster._name = name
        for name, store in self.storage.items():
            store._name = name
        return self

    def job_objectives(self, job: str) -> Objectives:
        """The objectives backup job ``job`` is measured against: its own, else the global."""
        return self.backups[job].objectives.over(self.objectives)

    def flow_objectives(self, flow: str) -> Objectives:
        """The objectives mirror flow ``flow`` (source->target) is measured against: its own,
        else the global ones."""
        found = (
            next((f for f in self.mirror.flows if f.name == flow), None) if self.mirror else None
        )
        return found.objectives.over(self.objectives) if found else self.objectives

    def cluster(self, name: str) -> ClusterSettings:
        """The named cluster's settings; raises KeyError when there is none."""
        return self.clusters[name]
