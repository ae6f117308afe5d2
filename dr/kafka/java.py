"""Running Kafka's Java programs (brokers, MirrorMaker 2, command-line tools) from the jars."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from dr.errors import KafkaError, ToolMissingError
from dr.kafka.jars import KafkaJars, cache_root
from dr.kafka.private_files import inherited_fds
from dr.log import redact_text

LEAN_JVM = ("-XX:+UseSerialGC", "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true")

_TOOLS_LOG4J2 = """status = error
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = %p %m%n
rootLogger.level = ERROR
rootLogger.appenderRef.err.ref = STDERR
"""
_TOOLS_LOG4J1 = """log4j.rootLogger=ERROR, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=%p %m%n
"""


def java_executable() -> str:
    """The java binary: $JAVA_HOME/bin/java, else java on PATH; raises ToolMissingError."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise ToolMissingError("Java is not installed: install a JDK 17 or newer, or set JAVA_HOME")
    return found


def logging_options(
    log4j2_file: Path, log4j1_file: Path, logs_dir: Path | None = None
) -> list[str]:
    """JVM options that point both log4j 2 (Kafka 4.x) and reload4j (3.x) at their configs."""
    opts = [
        f"-Dlog4j2.configurationFile={log4j2_file}",
        f"-Dlog4j.configuration=file:{log4j1_file}",
    ]
    if logs_dir is not None:
        opts.append(f"-Dkafka.logs.dir={logs_dir}")
    return opts


def java_command(
    jars: KafkaJars,
    main_class: str,
    args: Sequence[str],
    *,
    heap_mb: int = 128,
    jvm_options: Sequence[str] = (),
) -> list[str]:
    """The argv that runs main_class with the Kafka jars on the classpath and a lean JVM."""
    return [
        java_executable(),
        f"-Xmx{heap_mb}m",
        *LEAN_JVM,
        *jvm_options,
        "-cp",
        jars.classpath(),
        main_class,
        *args,
    ]


def run_tool(
    jars: KafkaJars, main_class: str, args: Sequence[str], *, timeout_s: float = 60.0
) -> str:
    """Run a Kafka command-line tool quietly and return its stdout.

    Raises KafkaError naming the tool and its first error line when it fails or times out.
    """
    log2, log1 = _tool_logging()
    cmd = java_command(
        jars,
        main_class,
        args,
        heap_mb=128,
        jvm_options=["-XX:TieredStopAtLevel=1", "-Xshare:auto", *logging_options(log2, log1)],
    )
    tool = main_class.rsplit(".", 1)[-1]
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
            pass_fds=inherited_fds(args),  # a private file given as /dev/fd/N
        )
    except subprocess.TimeoutExpired:
        raise KafkaError(f"{tool} did not finish within {timeout_s:.0f}s") from None
    if proc.returncode != 0:
        raise KafkaError(f"{tool} failed: {_first_error(proc.stderr or proc.stdout)}")
    return proc.stdout


def _first_error(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for line in lines:
        if "Exception" in line or line.startswith(("ERROR", "Error")):
            return redact_text(line)[:300]
    return redact_text(lines[-1])[:300] if lines else "no output"


def _tool_logging() -> tuple[Path, Path]:
    folder = cache_root() / "logging"
    log2, log1 = folder / "tools-log4j2.properties", folder / "tools-log4j.properties"
    if not (log2.exists() and log1.exists()):
        folder.mkdir(parents=True, exist_ok=True)
        for path, text in ((log2, _TOOLS_LOG4J2), (log1, _TOOLS_LOG4J1)):
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(text)
            os.replace(tmp, path)
    return log2, log1
