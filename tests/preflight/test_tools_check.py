"""Java and the Kafka jars, as a check sees them: nothing is fetched."""

from __future__ import annotations

from pathlib import Path

import pytest

from dr.config.schema import ToolSettings
from dr.preflight.tools import cached_jars, jars_check, java_major


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KAFKA_DR_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("KAFKA_HOME", raising=False)
    return tmp_path / "cache" / "kafka"


def fake_libs(libs: Path, version: str) -> None:
    libs.mkdir(parents=True)
    for jar in (f"kafka-clients-{version}.jar", f"kafka-tools-{version}.jar"):
        (libs / jar).write_bytes(b"")


def test_java_versions_are_read_old_and_new_style() -> None:
    assert java_major('openjdk version "17.0.15" 2025-04-15') == 17
    assert java_major('openjdk version "21" 2023-09-19') == 21
    assert java_major('java version "1.8.0_292"') == 8
    assert java_major("no java here") is None


def test_a_version_that_is_not_cached_is_a_warning_that_says_how_to_fetch_it(
    cache: Path,
) -> None:
    found = cached_jars(ToolSettings(kafka_version="4.3.1"))

    check = jars_check(found)

    assert check.status == "warn"
    assert check.detail.startswith("the Kafka 4.3.1 jars are not cached")
    assert check.hint and "kafka-dr lab fetch --kafka-version 4.3.1" in check.hint
    assert not (cache / "4.3.1").exists()  # nothing was fetched


def test_a_cached_version_passes(cache: Path) -> None:
    fake_libs(cache / "4.3.1" / "libs", "4.3.1")

    check = jars_check(cached_jars(ToolSettings(kafka_version="4.3.1")))

    assert check.status == "ok"
    assert check.detail.startswith("Kafka 4.3.1 in ")


def test_a_kafka_home_without_the_tools_jar_fails(cache: Path, tmp_path: Path) -> None:
    libs = tmp_path / "kafka" / "libs"
    libs.mkdir(parents=True)
    (libs / "kafka-clients-3.9.1.jar").write_bytes(b"")

    check = jars_check(cached_jars(ToolSettings(kafka_home=tmp_path / "kafka")))

    assert check.status == "fail"


def test_without_a_version_the_cached_default_is_used(cache: Path) -> None:
    fake_libs(cache / "3.9.1" / "libs", "3.9.1")
    (cache / "default-version").write_text("3.9.1\n")

    found = cached_jars(ToolSettings())

    assert found.jars is not None and found.jars.version == "3.9.1"


def test_without_a_version_or_a_cache_it_says_what_to_configure(cache: Path) -> None:
    check = jars_check(cached_jars(ToolSettings()))

    assert check.status == "warn"
    assert "tools.kafka_version" in check.detail
