"""The sample configs in configs/ that users copy: each one loads, tells the truth about the
secrets it reads, and does not start out breached."""

from __future__ import annotations

import itertools
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from dr.config import Settings, parse_config
from dr.cron import crontab_trigger
from dr.drill.signing import generate_signing_key, load_signing_key
from dr.lab.labconfig import lab_config
from dr.lab.state import ClusterRecord, LabState, NodeRecord

CONFIGS = Path(__file__).parents[2] / "configs"
KUBERNETES = "kubernetes/kafka-dr.yaml"
SAMPLES = ["lab.yaml", "production.yaml", "mirror-connect.yaml", KUBERNETES]
_REFERENCE = re.compile(r"\$\{(env|file):([^}]*)\}")


def sample_text(name: str) -> str:
    """A sample config's text; for the Kubernetes manifest, the one its ConfigMap holds."""
    text = (CONFIGS / name).read_text()
    if name != KUBERNETES:
        return text
    (config_map,) = [d for d in yaml.safe_load_all(text) if d["kind"] == "ConfigMap"]
    return str(config_map["data"]["kafka-dr.yaml"])


def references(name: str, kind: str) -> list[str]:
    """The ${env:...} or ${file:...} references in a sample's values (not its comments)."""
    found: list[str] = []
    for line in sample_text(name).splitlines():
        if line.lstrip().startswith("#"):
            continue
        found += [ref for k, ref in _REFERENCE.findall(line) if k == kind and ref not in found]
    return found


def header_line(name: str, label: str) -> str:
    """The line of a sample's opening comment that starts with label, and its continuation."""
    lines = (CONFIGS / name).read_text().split("\n\n")[0].splitlines()
    for i, line in enumerate(lines):
        if line.startswith(f"# {label}"):
            following = itertools.takewhile(lambda ln: ln.startswith("#   "), lines[i + 1 :])
            return " ".join([line, *following])
    raise AssertionError(f"{name}: the header has no line starting '{label}'")


def load_sample(name: str, config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Parse a sample as if it were config_dir/NAME, with every secret it reads provided:
    environment variables set, ${file:...} files created (the drill key a real one)."""
    for variable in references(name, "env"):
        monkeypatch.setenv(variable, f"value-of-{variable}")
    for ref in references(name, "file"):
        path = Path(ref)
        assert not path.is_absolute(), f"{name}: {ref} should be relative to the config's dir"
        secret = config_dir / path
        secret.parent.mkdir(parents=True, exist_ok=True)
        secret.write_bytes(generate_signing_key()[0] if ref.endswith(".pem") else b"s3cret\n")
    return parse_config(sample_text(name), source=str(config_dir / name), base_dir=config_dir)


def longest_gap(schedule: str) -> timedelta:
    """The longest time between two runs of a cron schedule over a week."""
    trigger = crontab_trigger(schedule)
    at, end = datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 12, tzinfo=UTC)
    fires: list[datetime] = []
    previous = None
    while at < end:
        at = trigger.get_next_fire_time(previous, at)
        fires.append(at)
        previous, at = at, at + timedelta(seconds=1)
    return max(b - a for a, b in itertools.pairwise(fires))


@pytest.mark.parametrize("name", SAMPLES)
def test_each_sample_config_loads_with_its_secrets_provided(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_sample(name, tmp_path, monkeypatch)

    assert settings.clusters
    assert settings.mirror is not None and settings.mirror.flows


@pytest.mark.parametrize("name", SAMPLES)
def test_no_backup_job_of_a_sample_starts_out_breached(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_sample(name, tmp_path, monkeypatch)

    for job_name, job in settings.backups.items():
        assert job.schedule is not None, f"{name}: job {job_name} has no schedule"
        gap = longest_gap(job.schedule).total_seconds()
        rpo = settings.job_objectives(job_name).rpo_seconds
        assert rpo > gap, (
            f"{name}: job {job_name} runs every {gap:.0f}s but its RPO objective is {rpo:.0f}s"
        )


@pytest.mark.parametrize("name", ["production.yaml", "mirror-connect.yaml"])
def test_a_sample_header_names_every_secret_the_config_reads(name: str) -> None:
    variables = header_line(name, "Environment variables it reads:").split(":", 1)[1]
    files = header_line(name, "Secret files it reads:")

    assert re.findall(r"[A-Z][A-Z0-9_]+", variables) == references(name, "env")
    assert re.findall(r"secrets/[\w.-]*\w", files) == references(name, "file")


def test_the_production_sample_reaches_both_clusters_over_sasl_ssl_with_no_inline_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = yaml.safe_load((CONFIGS / "production.yaml").read_text())
    settings = load_sample("production.yaml", tmp_path, monkeypatch)

    for name, cluster in raw["clusters"].items():
        assert cluster["client"]["security.protocol"] == "SASL_SSL"
        assert _REFERENCE.fullmatch(cluster["client"]["sasl.password"]), name
        assert settings.cluster(name).client_properties()["sasl.password"] == "s3cret"
    for store in raw["storage"].values():
        assert store["url"].startswith("s3://")
        for key in ("access_key_id", "secret_access_key"):
            assert key not in store or _REFERENCE.fullmatch(store[key])


def test_the_production_sample_has_per_job_objectives_a_flow_and_a_drill(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_sample("production.yaml", tmp_path, monkeypatch)

    assert all(job.objectives.rpo_seconds is not None for job in settings.backups.values())
    assert settings.mirror is not None
    assert [f.name for f in settings.mirror.flows] == ["primary->dr"]
    (drill,) = settings.drills.values()
    assert drill.schedule is not None
    assert drill.scenarios.backup_restore is not None
    assert set(drill.scenarios.backup_restore.jobs) == set(settings.backups)
    assert drill.signing_key is not None
    load_signing_key(drill.signing_key, drill="weekly")  # the key the test wrote is usable


def test_the_connect_sample_deploys_mirrormaker_on_kafka_connect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_sample("mirror-connect.yaml", tmp_path, monkeypatch)

    assert settings.mirror is not None
    assert settings.mirror.deploy == "connect"
    assert settings.mirror.connect_url is not None
    assert settings.mirror.connect_url.startswith("https://")


def sample_lab_state(lab_dir: Path) -> LabState:
    """The lab the sample describes: primary on 19092/19094/19096, dr on 29092, Kafka 4.3.1."""

    def node(cluster: str, node_id: int, port: int) -> NodeRecord:
        home = str(lab_dir / cluster / f"node-{node_id}")
        return NodeRecord(id=node_id, port=port, controller_port=port + 1, home=home)

    primary = tuple(node("primary", i, port) for i, port in ((1, 19092), (2, 19094), (3, 19096)))
    return LabState(
        kafka_version="4.3.1",
        libs="/home/me/.cache/kafka-dr/kafka/4.3.1/libs",
        clusters={
            "primary": ClusterRecord(cluster_id="MkU3OEVBNTcwNTJENDM2Qk", nodes=primary),
            "dr": ClusterRecord(cluster_id="q8Gx2k7CTeC4bY1o5kqV0A", nodes=(node("dr", 1, 29092),)),
        },
    )


def as_kafka_dr_commands(value: Any) -> Any:
    """The config with `python -m dr ...` commands written `kafka-dr ...`, as the sample does."""
    if isinstance(value, dict):
        return {k: as_kafka_dr_commands(v) for k, v in value.items()}
    if isinstance(value, list):
        if value[:3] == [sys.executable, "-m", "dr"]:
            return ["kafka-dr", *value[3:]]
        return [as_kafka_dr_commands(v) for v in value]
    return value


def test_the_lab_sample_is_what_lab_up_writes_for_its_directory_and_ports(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KAFKA_HOME", raising=False)
    lab_dir = Path("/tmp/lab")
    written = as_kafka_dr_commands(lab_config(sample_lab_state(lab_dir), lab_dir, mirror=True))

    sample = yaml.safe_load((CONFIGS / "lab.yaml").read_text())

    assert sample == written
