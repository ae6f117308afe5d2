"""The drills section of the config: named DR drills, the scenarios each runs, its schedule,
where its reports go and the key that signs them (``drills.<name>``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator

from dr.config.base import Model, Name
from dr.cron import checked_schedule


class BackupRestoreScenario(Model):
    """Restore each job's latest backup into scratch topics and compare it with the manifest
    and the source cluster (non-destructive)."""

    jobs: list[Name] = Field(
        min_length=1,
        description="Backup jobs whose latest backup is restored.",
        examples=[["orders"]],
    )
    target_cluster: Name | None = Field(
        default=None,
        description=(
            "Cluster the scratch topics are restored onto; default: each job's own cluster. "
            "Scratch topics are named __kafka-dr-drill-<id>.<topic> and deleted afterwards."
        ),
        examples=["dr"],
    )
    sample_records: int = Field(
        default=50,
        ge=0,
        description="Records per partition compared with the source cluster at the same offset.",
    )
    groups: bool = Field(
        default=True,
        description="Restore the backed-up group offsets too (under scratch group names) and check "
        "that each points at the same record as on the source.",
    )


class MirrorScenario(Model):
    """The RPO of each flow against its objective, offset translation checked record by
    record, topic drift and connector health (non-destructive)."""

    flows: list[str] = Field(
        min_length=1, description="Flows as source->target.", examples=[["primary->dr"]]
    )
    sample_groups: int = Field(default=10, ge=1, description="Groups whose translation is checked.")
    sample_partitions: int = Field(
        default=20, ge=1, description="Partitions checked per group (the ones with commits first)."
    )


class FailoverScenario(Model):
    """A real failover to the flow's target and a failback, through the playbooks
    (destructive: needs --destructive and both clusters marked drillable)."""

    flow: str = Field(
        description="The flow to fail over, as source->target.", examples=["primary->dr"]
    )
    failback: bool = Field(default=True, description="Fail back afterwards (the usual drill).")


class BrokerLossScenario(Model):
    """One broker killed and replaced through `broker replace` (destructive)."""

    cluster: Name = Field(description="Cluster that loses a broker.", examples=["primary"])
    broker: int | None = Field(
        default=None, ge=0, description="Node id to kill; default: the highest broker id."
    )


class DrillScenarios(Model):
    """The scenarios a drill runs (each configured one, unless --scenario picks some)."""

    backup_restore: BackupRestoreScenario | None = Field(
        default=None,
        description=(
            "backup-restore: the jobs' latest backups restored into scratch topics and proved "
            "(non-destructive)."
        ),
    )
    mirror: MirrorScenario | None = Field(
        default=None,
        description=(
            "mirror: RPO, offset translation record by record, topic drift, connector health "
            "(non-destructive)."
        ),
    )
    failover: FailoverScenario | None = Field(
        default=None,
        description="failover: a real failover and failback through the playbooks (destructive).",
    )
    broker_loss: BrokerLossScenario | None = Field(
        default=None, description="broker-loss: a broker killed and replaced (destructive)."
    )

    def configured(self) -> list[str]:
        """The configured scenarios' names as the CLI writes them (backup-restore...)."""
        return [k.replace("_", "-") for k, v in self if v is not None]


class DrillSettings(Model):
    """One named drill."""

    scenarios: DrillScenarios = Field(description="What the drill runs.")
    schedule: str | None = Field(
        default=None,
        description="Cron expression (UTC) for the daemon; none: run only by hand.",
        examples=["0 4 * * 1"],
    )
    storage: Name | None = Field(
        default=None,
        description="Store the reports are kept in (under drills/); default: the first job's.",
    )
    report_dir: Path | None = Field(
        default=None,
        description="Directory the reports are written to as well; --report-dir overrides.",
        examples=["/var/lib/kafka-dr/drills"],
    )
    signing_key: SecretStr | None = Field(
        default=None,
        description=(
            "Ed25519 private key (PEM) that signs the JSON evidence, as ${file:PATH}; "
            "none: reports are unsigned and say so. `kafka-dr drill keygen` makes one."
        ),
        examples=["${file:/etc/kafka-dr/drill-signing.pem}"],
    )

    @field_validator("schedule")
    @classmethod
    def _check_schedule(cls, value: str | None) -> str | None:
        return checked_schedule(value)

    @model_validator(mode="after")
    def _some_scenario(self) -> DrillSettings:
        if not self.scenarios.configured():
            raise ValueError("a drill needs at least one scenario under 'scenarios'")
        return self
