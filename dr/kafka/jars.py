"""The Apache Kafka jars: from $KAFKA_HOME/libs, or resolved from Maven Central with mvn.

Resolved jars are cached per version under ``~/.cache/kafka-dr/kafka/<version>/libs``
(``$KAFKA_DR_CACHE`` moves the cache). The set matches the release tarball's libs/: the
broker, the tools, Connect with MirrorMaker 2, and the logging binding the tarball adds.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dr.errors import DrError, ToolMissingError
from dr.log import get_logger

log = get_logger(__name__)

# Tried newest first when no version is asked for; the first that resolves becomes the default.
CANDIDATE_VERSIONS = ("4.4.0", "4.3.1", "4.3.0", "4.2.1", "4.1.1", "4.0.2", "3.9.1")
ARTIFACTS = (
    "kafka_2.13",
    "kafka-tools",
    "connect-runtime",
    "connect-mirror",
    "connect-json",
    "connect-transforms",
)
_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
_MVN_TIMEOUT_S = 900


class JarResolutionError(DrError):
    """The Kafka jars could not be found or fetched."""


@dataclass(frozen=True)
class KafkaJars:
    """A directory of Kafka jars and the version they are."""

    version: str
    libs: Path
    source: str  # "kafka_home" or "maven"

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    def classpath(self) -> str:
        return str(self.libs / "*")


def cache_root() -> Path:
    """Where fetched jars live: $KAFKA_DR_CACHE or ~/.cache/kafka-dr."""
    base = os.environ.get("KAFKA_DR_CACHE")
    root = Path(base) if base else Path.home() / ".cache" / "kafka-dr"
    return root / "kafka"


def kafka_jars(version: str | None = None, *, kafka_home: Path | None = None) -> KafkaJars:
    """The jars to run Kafka with, in this order: the kafka_home given, the version given
    (cached, or fetched with mvn), $KAFKA_HOME, the remembered default, the newest candidate
    that resolves.

    Raises JarResolutionError when nothing resolves, ToolMissingError when mvn is absent.
    """
    if kafka_home is not None:
        return _from_kafka_home(kafka_home)
    if version is not None:
        if not _VERSION.match(version):
            raise JarResolutionError(f"Kafka version '{version}' is not of the form X.Y.Z")
        return _cached_or_fetched(version)
    if os.environ.get("KAFKA_HOME"):
        return _from_kafka_home(Path(os.environ["KAFKA_HOME"]))
    remembered = default_version_file()
    if remembered.exists():
        chosen = remembered.read_text().strip()
        if _VERSION.match(chosen) and libs_dir(chosen).is_dir():
            return _jars(chosen)
    failures: list[str] = []
    for candidate in CANDIDATE_VERSIONS:
        try:
            jars = _cached_or_fetched(candidate)
        except JarResolutionError as exc:
            failures.append(candidate)
            log.info("kafka_version_unavailable", version=candidate, reason=str(exc))
            continue
        remembered.parent.mkdir(parents=True, exist_ok=True)
        remembered.write_text(candidate + "\n")
        return jars
    raise JarResolutionError(
        f"no Kafka version could be resolved with Maven (tried {', '.join(failures)}); "
        "check Maven's access to Maven Central or set KAFKA_HOME"
    )


def _from_kafka_home(home: Path) -> KafkaJars:
    libs = home / "libs"
    found = sorted(libs.glob("kafka-clients-*.jar")) if libs.is_dir() else []
    versions = [
        m.group(1) for p in found if (m := re.match(r"kafka-clients-(\d+\.\d+\.\d+)\.jar$", p.name))
    ]
    if not versions:
        raise JarResolutionError(f"KAFKA_HOME {home} has no libs/kafka-clients-X.Y.Z.jar")
    return KafkaJars(version=versions[0], libs=libs, source="kafka_home")


def libs_dir(version: str) -> Path:
    """Where a fetched version's jars are kept (whether or not they are there yet)."""
    return cache_root() / version / "libs"


def default_version_file() -> Path:
    """The file that remembers the version kafka_jars last resolved as its default."""
    return cache_root() / "default-version"


def _jars(version: str) -> KafkaJars:
    return KafkaJars(version=version, libs=libs_dir(version), source="maven")


def _cached_or_fetched(version: str) -> KafkaJars:
    libs = libs_dir(version)
    if libs.is_dir():
        return _jars(version)
    with _exclusive(cache_root() / f".{version}.lock"):
        if not libs.is_dir():  # another process may have fetched it while we waited
            _fetch(version, libs)
    return _jars(version)


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fetch(version: str, libs: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ToolMissingError(
            "Maven (mvn) is not installed: install it to fetch the Kafka jars, or set KAFKA_HOME"
        )
    log.warning("kafka_jars_fetching", version=version, into=str(libs))
    work = Path(tempfile.mkdtemp(prefix=f"fetch-{version}-", dir=libs.parent.parent))
    try:
        staging = work / "libs"
        (work / "pom.xml").write_text(_pom(version, ARTIFACTS))
        _mvn(
            mvn,
            work,
            [
                "dependency:copy-dependencies",
                f"-DoutputDirectory={staging}",
                "-DincludeScope=runtime",
            ],
            version,
        )
        for artifact in _logging_binding(staging):
            _mvn(
                mvn,
                work,
                ["dependency:copy", f"-Dartifact={artifact}", f"-DoutputDirectory={staging}"],
                version,
            )
        libs.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, libs)  # atomic: a half-fetched version is never seen
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log.warning("kafka_jars_fetched", version=version, jars=len(list(libs.glob("*.jar"))))


def _mvn(mvn: str, work: Path, goal: list[str], version: str) -> None:
    cmd = [mvn, "-B", "-q", "-f", str(work / "pom.xml"), *goal]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=_MVN_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise JarResolutionError(f"mvn timed out fetching Kafka {version}") from None
    if proc.returncode != 0:
        lines = [ln for ln in proc.stdout.splitlines() if "[ERROR]" in ln]
        reason = lines[0].replace("[ERROR]", "").strip() if lines else f"exit {proc.returncode}"
        raise JarResolutionError(
            f"Kafka {version} did not resolve from Maven Central: {reason[:300]}"
        )


def _logging_binding(libs: Path) -> list[str]:
    """The SLF4J binding the release tarball adds, when the resolved jars lack one."""
    names = [p.name for p in libs.glob("*.jar")]
    if any(n.startswith(("slf4j-reload4j", "log4j-slf4j")) for n in names):
        return []
    core = [re.match(r"log4j-core-(.+)\.jar$", n) for n in names]
    core_versions = [m.group(1) for m in core if m]
    slf4j = [re.match(r"slf4j-api-(\d+)\.", n) for n in names]
    slf4j_major = next((int(m.group(1)) for m in slf4j if m), 1)
    if core_versions:
        impl = "log4j-slf4j2-impl" if slf4j_major >= 2 else "log4j-slf4j-impl"
        return [f"org.apache.logging.log4j:{impl}:{core_versions[0]}"]
    return ["org.slf4j:slf4j-reload4j:1.7.36", "ch.qos.reload4j:reload4j:1.2.25"]


def _pom(version: str, artifacts: tuple[str, ...]) -> str:
    deps = "\n".join(
        "    <dependency><groupId>org.apache.kafka</groupId>"
        f"<artifactId>{a}</artifactId><version>{version}</version></dependency>"
        for a in artifacts
    )
    return f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>kafka-dr.local</groupId>
  <artifactId>kafka-libs</artifactId>
  <version>{version}</version>
  <packaging>pom</packaging>
  <dependencies>
{deps}
  </dependencies>
</project>
"""
