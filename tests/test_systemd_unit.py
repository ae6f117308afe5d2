"""configs/systemd/kafka-dr.service: a unit systemd accepts, sandboxed, that runs the daemon."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).parents[1] / "configs" / "systemd" / "kafka-dr.service"
INSTALLED_AT = "/opt/kafka-dr/bin/kafka-dr"


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.fail("systemd-analyze is not installed: run `make tools` (Debian's systemd)")
    return found


def unit_here(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this checkout's kafka-dr (verify insists that the
    command exists); everything else as committed."""
    here = Path(sys.executable).parent / "kafka-dr"
    assert here.is_file(), f"{here} missing: run `make install`"
    text = UNIT.read_text()
    assert INSTALLED_AT in text
    copy = tmp_path / UNIT.name
    copy.write_text(text.replace(INSTALLED_AT, str(here)))
    return copy


def service_section() -> dict[str, list[str]]:
    """The [Service] settings, each key with all of its values in order."""
    values: dict[str, list[str]] = {}
    for line in UNIT.read_text().split("[Service]", 1)[1].split("\n[", 1)[0].splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            values.setdefault(key.strip(), []).append(value.strip())
    return values


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    done = subprocess.run(
        [systemd_analyze(), "verify", str(unit_here(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert "kafka-dr.service" not in done.stderr, done.stderr


def test_the_unit_exposure_is_rated_ok_by_systemd(tmp_path: Path) -> None:
    # systemd-analyze security rates a unit's sandbox from 0 (locked down) to 10 (exposed);
    # --threshold fails above a level given in tenths.
    done = subprocess.run(
        [
            systemd_analyze(),
            "security",
            "--offline=true",
            "--threshold=25",
            str(unit_here(tmp_path)),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stdout[-2000:] + done.stderr


def test_the_unit_runs_the_daemon_with_the_etc_config_as_its_own_user() -> None:
    service = service_section()

    assert service["ExecStart"] == [f"{INSTALLED_AT} --config /etc/kafka-dr/kafka-dr.yaml daemon"]
    assert service["User"] == ["kafka-dr"]
    assert service["Restart"] == ["on-failure"]
    assert "WantedBy=multi-user.target" in UNIT.read_text().split("[Install]", 1)[1]


def test_the_unit_is_hardened_and_may_write_only_its_state_and_cache() -> None:
    service = service_section()

    for key in ("NoNewPrivileges", "PrivateTmp", "ProtectHome", "PrivateDevices"):
        assert service[key] == ["yes"], key
    assert service["ProtectSystem"] == ["strict"]
    assert service["ReadWritePaths"] == ["/var/lib/kafka-dr /var/cache/kafka-dr"]
    assert service["StateDirectory"] == ["kafka-dr"]


def test_the_unit_offers_no_reload_since_the_daemon_has_none() -> None:
    # The daemon handles SIGTERM and SIGINT only; a reload would end it (docs/deploy.md).
    assert "ExecReload" not in service_section()
    daemon = Path(__file__).parents[1] / "dr" / "daemon"
    handled = [p.name for p in daemon.glob("*.py") if "SIGHUP" in p.read_text()]
    assert not handled, f"{handled} handle SIGHUP now: give the unit an ExecReload"
