"""Java and the Kafka jars: what `kafka-dr status` (the KRaft quorum) and the broker playbooks
run Kafka's own tools with. Nothing is downloaded here: jars that are not cached are reported,
with the command that fetches them."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from dr.config.schema import ToolSettings
from dr.errors import DrError, ToolMissingError
from dr.kafka.jars import KafkaJars, default_version_file, kafka_jars, libs_dir
from dr.kafka.java import java_executable
from dr.preflight.model import PreflightCheck, Stopwatch, passed, problem, warning

MIN_JAVA = 17
JAVA_TIMEOUT_S = 10.0
_JAVA_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?[^"]*"')


@dataclass(frozen=True)
class JarsFound:
    """The jars a check found without fetching anything, or why there are none."""

    jars: KafkaJars | None
    missing: str | None = None
    hint: str | None = None


def cached_jars(tools: ToolSettings) -> JarsFound:
    """The Kafka jars the tools settings name, as they are on disk now, in the order
    kafka_jars looks: tools.kafka_home, tools.kafka_version in the cache, $KAFKA_HOME, the
    cached default version. Never fetches (kafka_jars would run Maven)."""
    if tools.kafka_home is not None:
        return _from_home(tools.kafka_home, "tools.kafka_home")
    if tools.kafka_version is not None:
        return _cached(tools.kafka_version)
    if os.environ.get("KAFKA_HOME"):
        return _from_home(Path(os.environ["KAFKA_HOME"]), "KAFKA_HOME")
    default = _default_version()
    if default is not None:
        return _cached(default)
    return JarsFound(
        None,
        "no Kafka version is configured (tools.kafka_version) and none is cached",
        "set tools.kafka_version (e.g. 4.3.1) and run: kafka-dr lab fetch --kafka-version "
        "4.3.1 (needs Maven), or set tools.kafka_home",
    )


def _from_home(home: Path, key: str) -> JarsFound:
    try:
        return JarsFound(kafka_jars(None, kafka_home=home))
    except DrError as exc:
        return JarsFound(None, exc.message, f"point {key} at an Apache Kafka installation")


def _cached(version: str) -> JarsFound:
    libs = libs_dir(version)
    if not libs.is_dir():
        return JarsFound(
            None,
            f"the Kafka {version} jars are not cached ({libs})",
            f"run: kafka-dr lab fetch --kafka-version {version} (needs Maven), or set "
            "tools.kafka_home",
        )
    return JarsFound(KafkaJars(version=version, libs=libs, source="maven"))


def jars_check(found: JarsFound, *, seconds: float = 0.0) -> PreflightCheck:
    """'Kafka jars': present, with the tools jar the quorum is read with."""
    if found.jars is None:
        return warning(
            "Kafka jars", "tools", found.missing or "not found", found.hint or "", seconds=seconds
        )
    jars = found.jars
    tools_jars = list(jars.libs.glob("kafka-tools-*.jar")) + list(jars.libs.glob("kafka_2.*.jar"))
    if not list(jars.libs.glob(f"kafka-clients-{jars.version}.jar")) or not tools_jars:
        return problem(
            "Kafka jars",
            "tools",
            f"{jars.libs} lacks kafka-clients-{jars.version}.jar or the tools jar",
            f"remove {jars.libs} and fetch again: kafka-dr lab fetch --kafka-version "
            f"{jars.version}",
            seconds=seconds,
        )
    where = "kafka_home" if jars.source == "kafka_home" else "cache"
    return passed(
        "Kafka jars", "tools", f"Kafka {jars.version} in {jars.libs} ({where})", seconds=seconds
    )


def java_check() -> PreflightCheck:
    """'Java': installed (JAVA_HOME or PATH) and at least version 17."""
    watch = Stopwatch()

    def failed(detail: str, hint: str) -> PreflightCheck:
        return problem("Java", "tools", detail, hint, seconds=watch.seconds)

    try:
        java = java_executable()
    except ToolMissingError as exc:
        return failed(exc.message, f"install a JDK {MIN_JAVA} or newer")
    try:
        proc = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=JAVA_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return failed(f"{java} -version did not run: {exc}", "reinstall the JDK")
    major = java_major(proc.stderr + proc.stdout)
    if major is None:
        first = (proc.stderr or proc.stdout).strip().splitlines()[:1]
        shown = first[0] if first else "nothing"
        return failed(f"{java} -version printed no version ({shown})", "set JAVA_HOME to a JDK")
    if major < MIN_JAVA:
        return failed(
            f"{java} is Java {major}; Kafka's tools need {MIN_JAVA} or newer",
            f"install a JDK {MIN_JAVA} or newer and set JAVA_HOME to it",
        )
    return passed("Java", "tools", f"Java {major} at {java}", seconds=watch.seconds)


def java_major(output: str) -> int | None:
    """The major version in `java -version` output: 17 for "17.0.15", 8 for "1.8.0_292"."""
    found = _JAVA_VERSION.search(output)
    if found is None:
        return None
    first, second = int(found.group(1)), found.group(2)
    return int(second) if first == 1 and second is not None else first


def _default_version() -> str | None:
    """The version kafka_jars remembered as its default when it last resolved one."""
    try:
        text = default_version_file().read_text().strip()
    except OSError:
        return None
    return text if re.fullmatch(r"\d+\.\d+\.\d+", text) else None
