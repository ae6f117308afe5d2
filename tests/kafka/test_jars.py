"""Finding the Kafka jars: KAFKA_HOME's libs, the per-version cache, and what Maven must add."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dr.errors import ToolMissingError
from dr.kafka.jars import ARTIFACTS, JarResolutionError, _logging_binding, _pom, kafka_jars


def libs_with(tmp_path: Path, *jars: str) -> Path:
    libs = tmp_path / "libs"
    libs.mkdir(parents=True, exist_ok=True)
    for name in jars:
        (libs / name).write_bytes(b"")
    return libs


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty jar cache, no KAFKA_HOME, and a PATH on which there is no mvn."""
    root = tmp_path / "cache"
    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir()
    monkeypatch.setenv("KAFKA_DR_CACHE", str(root))
    monkeypatch.setenv("PATH", str(empty_bin))
    monkeypatch.delenv("KAFKA_HOME", raising=False)
    return root


# _logging_binding


def test_kafka_4_libs_with_slf4j_1_get_the_log4j_binding_of_the_same_version(
    tmp_path: Path,
) -> None:
    libs = libs_with(
        tmp_path, "kafka-clients-4.3.1.jar", "log4j-core-2.25.4.jar", "slf4j-api-1.7.36.jar"
    )

    assert _logging_binding(libs) == ["org.apache.logging.log4j:log4j-slf4j-impl:2.25.4"]


def test_libs_with_slf4j_2_get_the_slf4j2_log4j_binding(tmp_path: Path) -> None:
    libs = libs_with(tmp_path, "log4j-core-2.24.3.jar", "slf4j-api-2.0.17.jar")

    assert _logging_binding(libs) == ["org.apache.logging.log4j:log4j-slf4j2-impl:2.24.3"]


@pytest.mark.parametrize(
    "binding",
    ["log4j-slf4j-impl-2.25.4.jar", "log4j-slf4j2-impl-2.24.3.jar", "slf4j-reload4j-1.7.36.jar"],
)
def test_libs_that_already_have_a_binding_need_nothing_more(tmp_path: Path, binding: str) -> None:
    libs = libs_with(tmp_path, "log4j-core-2.25.4.jar", "slf4j-api-1.7.36.jar", binding)

    assert _logging_binding(libs) == []


def test_libs_without_log4j_2_get_the_reload4j_pair(tmp_path: Path) -> None:
    libs = libs_with(tmp_path, "kafka-clients-3.9.1.jar", "slf4j-api-1.7.36.jar")

    assert _logging_binding(libs) == [
        "org.slf4j:slf4j-reload4j:1.7.36",
        "ch.qos.reload4j:reload4j:1.2.25",
    ]


# _pom


def test_the_pom_asks_for_each_artifact_at_the_requested_version() -> None:
    pom = _pom("4.3.1", ARTIFACTS)

    for artifact in ARTIFACTS:
        assert (
            "<groupId>org.apache.kafka</groupId>"
            f"<artifactId>{artifact}</artifactId><version>4.3.1</version>"
        ) in pom
    assert pom.count("<dependency>") == len(ARTIFACTS)


# kafka_jars


def test_kafka_home_gives_its_libs_and_the_version_of_its_clients_jar(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "kafka_2.13-3.9.1"
    libs = libs_with(home, "kafka-clients-3.9.1.jar", "kafka_2.13-3.9.1.jar")
    monkeypatch.setenv("KAFKA_HOME", str(home))

    jars = kafka_jars()

    assert jars.version == "3.9.1"
    assert jars.major == 3
    assert jars.libs == libs
    assert jars.source == "kafka_home"
    assert jars.classpath() == f"{libs}/*"


def test_an_explicit_kafka_home_wins_over_a_requested_version(tmp_path: Path, cache: Path) -> None:
    home = tmp_path / "kafka"
    libs_with(home, "kafka-clients-4.0.2.jar")

    jars = kafka_jars("4.3.1", kafka_home=home)

    assert (jars.version, jars.source) == ("4.0.2", "kafka_home")


def test_a_kafka_home_without_libs_is_an_error_that_names_it(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "not-kafka"
    home.mkdir()
    monkeypatch.setenv("KAFKA_HOME", str(home))

    with pytest.raises(
        JarResolutionError, match=re.escape(f"KAFKA_HOME {home} has no libs/kafka-clients")
    ):
        kafka_jars()


def test_a_kafka_home_whose_libs_lack_the_clients_jar_is_an_error(
    tmp_path: Path, cache: Path
) -> None:
    home = tmp_path / "kafka"
    libs_with(home, "kafka-clients-4.3.1-test.jar", "log4j-core-2.25.4.jar")

    with pytest.raises(JarResolutionError, match=re.escape(str(home))):
        kafka_jars(kafka_home=home)


@pytest.mark.parametrize("version", ["4.3", "latest", "4.3.1-SNAPSHOT", "../4.3.1"])
def test_a_version_not_of_the_form_x_y_z_is_refused(cache: Path, version: str) -> None:
    with pytest.raises(JarResolutionError, match=re.escape("is not of the form X.Y.Z")):
        kafka_jars(version)


def test_a_cached_version_is_used_without_calling_maven(cache: Path) -> None:
    libs = cache / "kafka" / "4.3.1" / "libs"
    libs.mkdir(parents=True)

    jars = kafka_jars("4.3.1")

    assert jars.version == "4.3.1"
    assert jars.libs == libs
    assert jars.source == "maven"


def test_a_version_that_is_not_cached_needs_maven(cache: Path) -> None:
    with pytest.raises(ToolMissingError, match="mvn"):
        kafka_jars("4.3.1")


def test_without_a_version_the_remembered_default_is_used_when_cached(cache: Path) -> None:
    (cache / "kafka" / "4.0.2" / "libs").mkdir(parents=True)
    (cache / "kafka" / "default-version").write_text("4.0.2\n")

    jars = kafka_jars()

    assert jars.version == "4.0.2"
