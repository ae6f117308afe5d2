"""Deploying MirrorMaker 2 as configured: render, the dedicated apply and restart, control."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from dr.config import Settings, parse_config
from dr.errors import UsageError
from dr.mirror import deploy
from dr.mirror.deploy import MirrorError

PASSWORD = "d3pl0y-s3cret-pw"


def settings(tmp_path: Path, **mirror: Any) -> Settings:
    """A config with three clusters; ``mirror`` is the mirror section (flows default to one)."""
    doc: dict[str, Any] = {
        "clusters": {
            "primary": {
                "bootstrap_servers": "kafka-1.prod:9092",
                "client": {
                    "security.protocol": "SASL_SSL",
                    "sasl.mechanism": "SCRAM-SHA-512",
                    "sasl.username": "mirror",
                    "sasl.password": PASSWORD,
                },
            },
            "dr": {"bootstrap_servers": "kafka-1.dr:9092"},
            "analytics": {"bootstrap_servers": "kafka-1.analytics:9092"},
        },
        "mirror": {"flows": [{"source": "primary", "target": "dr"}], **mirror},
    }
    # JSON is YAML: the config goes through the same parsing as a file would.
    return parse_config(json.dumps(doc), source="kafka-dr.yaml", base_dir=tmp_path)


def appender(marker: Path) -> list[str]:
    """A restart command that appends one 'x' to the marker file each time it runs."""
    return [sys.executable, "-c", f"open({str(marker)!r}, 'a').write('x')"]


def dedicated(tmp_path: Path, **mirror: Any) -> Settings:
    fields: dict[str, Any] = {
        "deploy": "dedicated",
        "properties_file": str(tmp_path / "etc" / "mm2.properties"),
        "restart_command": appender(tmp_path / "restarts"),
        **mirror,
    }
    return settings(tmp_path, **fields)


def restarts(tmp_path: Path) -> int:
    marker = tmp_path / "restarts"
    return len(marker.read_text()) if marker.exists() else 0


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


# -- render ---------------------------------------------------------------------------------


def test_dedicated_mode_renders_mm2_properties_with_the_overrides_last(tmp_path: Path) -> None:
    config = settings(
        tmp_path,
        deploy="dedicated",
        properties={"tasks.max": "4", "replication.factor": "3"},
    )

    text = deploy.render(config)

    assert isinstance(text, str)
    rendered = lines(text)
    assert rendered[0] == "clusters = dr, primary"
    assert "primary->dr.enabled = true" in rendered
    assert rendered[-2:] == ["tasks.max = 4", "replication.factor = 3"]


def test_dedicated_mode_renders_only_the_clusters_of_the_flows(tmp_path: Path) -> None:
    text = deploy.render(settings(tmp_path, deploy="dedicated"))

    assert isinstance(text, str)
    assert "analytics" not in text


def test_connect_mode_renders_the_three_connectors_of_the_flow(tmp_path: Path) -> None:
    config = settings(tmp_path, deploy="connect", connect_url="http://connect.prod:8083")

    configs = deploy.render(config)

    assert isinstance(configs, dict)
    assert sorted(configs) == [
        "primary->dr.MirrorCheckpointConnector",
        "primary->dr.MirrorHeartbeatConnector",
        "primary->dr.MirrorSourceConnector",
    ]
    for name, connector in configs.items():
        assert connector["connector.class"].endswith(name.rpartition(".")[2])
        assert connector["source.cluster.bootstrap.servers"] == "kafka-1.prod:9092"
        assert connector["target.cluster.bootstrap.servers"] == "kafka-1.dr:9092"


def test_connect_mode_renders_only_the_chosen_flow(tmp_path: Path) -> None:
    config = settings(
        tmp_path,
        deploy="connect",
        connect_url="http://connect.prod:8083",
        flows=[
            {"source": "primary", "target": "dr"},
            {"source": "primary", "target": "analytics", "heartbeats": False},
        ],
    )

    everything = deploy.render(config)
    analytics = deploy.render(config, "primary->analytics")

    assert isinstance(everything, dict)
    assert isinstance(analytics, dict)
    assert len(everything) == 5
    assert sorted(analytics) == [
        "primary->analytics.MirrorCheckpointConnector",
        "primary->analytics.MirrorSourceConnector",
    ]


def test_an_unknown_flow_is_refused_naming_it_and_the_flows_there_are(tmp_path: Path) -> None:
    config = settings(tmp_path)

    with pytest.raises(UsageError) as raised:
        deploy.select_flows(config, "dr->primary")

    assert "'dr->primary'" in str(raised.value)
    assert "primary->dr" in str(raised.value)


def test_without_flows_every_mirror_command_says_what_to_configure(tmp_path: Path) -> None:
    config = settings(tmp_path, flows=[])

    with pytest.raises(UsageError) as raised:
        deploy.render(config)

    assert "mirror.flows" in str(raised.value)


# -- dedicated apply ------------------------------------------------------------------------


def test_apply_writes_the_rendered_properties_readable_only_by_their_owner(
    tmp_path: Path,
) -> None:
    config = dedicated(tmp_path)
    path = tmp_path / "etc" / "mm2.properties"

    result = deploy.apply_dedicated(config)

    secrets = path.with_name("mm2.properties.secrets")
    assert (result.path, result.changed, result.restarted) == (str(path), True, True)
    assert path.read_text() == deploy.render(config)
    # The password lives in the owner-only secrets file; mm2.properties refers to it.
    assert PASSWORD not in path.read_text()
    assert f"${{file:{secrets}:primary.sasl.jaas.config}}" in path.read_text()
    assert "config.providers = file" in path.read_text()
    assert PASSWORD in secrets.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "mm2.properties",
        "mm2.properties.secrets",
    ]
    assert restarts(tmp_path) == 1


def test_a_changed_password_alone_rewrites_the_secrets_and_restarts(tmp_path: Path) -> None:
    config = dedicated(tmp_path)
    deploy.apply_dedicated(config)
    primary = config.clusters["primary"]
    changed = primary.model_copy(
        update={"client": {**primary.client, "sasl.password": SecretStr("n3w-s3cret-pw")}}
    )
    config = config.model_copy(update={"clusters": {**config.clusters, "primary": changed}})

    again = deploy.apply_dedicated(config)

    secrets = tmp_path / "etc" / "mm2.properties.secrets"
    assert (again.changed, again.restarted) == (True, True)
    assert "n3w-s3cret-pw" in secrets.read_text()
    assert restarts(tmp_path) == 2


def test_a_second_apply_changes_nothing_and_restarts_nothing(tmp_path: Path) -> None:
    config = dedicated(tmp_path)
    deploy.apply_dedicated(config)
    written = (tmp_path / "etc" / "mm2.properties").stat().st_mtime_ns

    again = deploy.apply_dedicated(config)

    assert (again.changed, again.restarted) == (False, False)
    assert (tmp_path / "etc" / "mm2.properties").stat().st_mtime_ns == written
    assert restarts(tmp_path) == 1


def test_a_changed_config_replaces_the_file_and_restarts_once_more(tmp_path: Path) -> None:
    deploy.apply_dedicated(dedicated(tmp_path))
    changed = dedicated(tmp_path, properties={"tasks.max": "8"})

    result = deploy.apply_dedicated(changed)

    path = tmp_path / "etc" / "mm2.properties"
    assert (result.changed, result.restarted) == (True, True)
    assert path.read_text().endswith("tasks.max = 8\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert restarts(tmp_path) == 2


def test_an_existing_file_readable_by_others_is_replaced_by_an_owner_only_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "etc" / "mm2.properties"
    path.parent.mkdir()
    path.write_text("clusters = old\n")
    path.chmod(0o644)

    deploy.apply_dedicated(dedicated(tmp_path))

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "clusters = old" not in path.read_text()


def test_the_restart_command_sees_the_new_properties_in_full(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "mm2.properties"
    seen = tmp_path / "seen-by-restart"
    copy = [sys.executable, "-c", f"import shutil; shutil.copy({str(path)!r}, {str(seen)!r})"]
    config = dedicated(tmp_path, restart_command=copy)

    deploy.apply_dedicated(config)

    assert seen.read_text() == deploy.render(config)


def test_a_dry_run_reports_the_change_without_writing_or_restarting(tmp_path: Path) -> None:
    result = deploy.apply_dedicated(dedicated(tmp_path), dry_run=True)

    assert (result.changed, result.restarted) == (True, False)
    assert not (tmp_path / "etc" / "mm2.properties").exists()
    assert restarts(tmp_path) == 0


def test_without_a_restart_command_apply_writes_the_file_and_restarts_nothing(
    tmp_path: Path,
) -> None:
    config = dedicated(tmp_path, restart_command=None)

    result = deploy.apply_dedicated(config)

    assert (result.changed, result.restarted) == (True, False)
    assert (tmp_path / "etc" / "mm2.properties").exists()


def test_apply_without_a_properties_file_says_which_key_is_missing(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as raised:
        deploy.apply_dedicated(dedicated(tmp_path, properties_file=None))

    assert "mirror.properties_file" in str(raised.value)


def test_a_failing_restart_command_is_an_error_with_its_exit_code_and_last_line(
    tmp_path: Path,
) -> None:
    failing = [
        sys.executable,
        "-c",
        "import sys; print('stopping'); sys.stderr.write('unit kafka-mirror-maker not found\\n');"
        " sys.exit(5)",
    ]

    with pytest.raises(MirrorError) as raised:
        deploy.apply_dedicated(dedicated(tmp_path, restart_command=failing))

    assert "exited 5" in str(raised.value)
    assert "unit kafka-mirror-maker not found" in str(raised.value)


def test_a_restart_command_that_echoes_a_password_does_not_leak_it_in_the_error(
    tmp_path: Path,
) -> None:
    leaking = [sys.executable, "-c", f"import sys; sys.exit('bad password {PASSWORD}')"]

    with pytest.raises(MirrorError) as raised:
        deploy.apply_dedicated(dedicated(tmp_path, restart_command=leaking))

    assert "exited 1" in str(raised.value)
    assert PASSWORD not in str(raised.value)


def test_a_restart_command_that_cannot_start_is_an_error_naming_the_setting(
    tmp_path: Path,
) -> None:
    missing = [str(tmp_path / "no-such-program")]

    with pytest.raises(MirrorError) as raised:
        deploy.apply_dedicated(dedicated(tmp_path, restart_command=missing))

    assert "mirror.restart_command" in str(raised.value)


def test_a_failed_restart_stays_pending_and_the_next_apply_restarts_again(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "etc" / "mm2.properties.restart-pending"
    failing = dedicated(tmp_path, restart_command=[sys.executable, "-c", "raise SystemExit(4)"])
    with pytest.raises(MirrorError) as raised:
        deploy.apply_dedicated(failing)
    assert "exited 4" in str(raised.value)
    assert "restart stays pending" in str(raised.value)
    assert marker.exists()
    fixed = dedicated(tmp_path)

    planned = deploy.apply_dedicated(fixed, dry_run=True)
    applied = deploy.apply_dedicated(fixed)
    again = deploy.apply_dedicated(fixed)

    assert (planned.changed, planned.restart_pending, planned.restarted) == (False, True, False)
    assert (applied.changed, applied.restart_pending, applied.restarted) == (False, True, True)
    assert (again.changed, again.restart_pending, again.restarted) == (False, False, False)
    assert restarts(tmp_path) == 1
    assert not marker.exists()


def test_a_restart_that_fails_again_keeps_the_restart_pending(tmp_path: Path) -> None:
    failing = dedicated(tmp_path, restart_command=[sys.executable, "-c", "raise SystemExit(4)"])
    with pytest.raises(MirrorError):
        deploy.apply_dedicated(failing)

    with pytest.raises(MirrorError):
        deploy.apply_dedicated(failing)

    assert (tmp_path / "etc" / "mm2.properties.restart-pending").exists()


def test_a_successful_mirror_restart_clears_a_pending_restart(tmp_path: Path) -> None:
    failing = dedicated(tmp_path, restart_command=[sys.executable, "-c", "raise SystemExit(4)"])
    with pytest.raises(MirrorError):
        deploy.apply_dedicated(failing)

    deploy.control(dedicated(tmp_path), "restart")

    assert not (tmp_path / "etc" / "mm2.properties.restart-pending").exists()
    assert deploy.apply_dedicated(dedicated(tmp_path)).restarted is False


# -- control --------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["pause", "resume"])
def test_dedicated_mode_refuses_to_pause_or_resume_naming_the_mode(
    tmp_path: Path, action: deploy.Action
) -> None:
    with pytest.raises(UsageError) as raised:
        deploy.control(dedicated(tmp_path), action)

    assert "dedicated" in str(raised.value)
    assert action in str(raised.value)
    assert restarts(tmp_path) == 0


def test_dedicated_restart_runs_the_restart_command(tmp_path: Path) -> None:
    restarted = deploy.control(dedicated(tmp_path), "restart")

    assert restarted == ["MirrorMaker (dedicated)"]
    assert restarts(tmp_path) == 1


def test_dedicated_restart_without_a_restart_command_says_what_to_configure(
    tmp_path: Path,
) -> None:
    with pytest.raises(UsageError) as raised:
        deploy.control(dedicated(tmp_path, restart_command=None), "restart")

    assert "mirror.restart_command" in str(raised.value)


def test_control_of_an_unknown_flow_is_refused_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        deploy.control(dedicated(tmp_path), "restart", "primary->analytics")

    assert restarts(tmp_path) == 0
