"""One KRaft node of a lab cluster (combined broker and controller, or a broker added later):
its files and its JVM."""

from __future__ import annotations

import base64
import shutil
import socket
import uuid
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from dr.kafka.jars import KafkaJars
from dr.kafka.java import java_command, logging_options, run_tool
from dr.lab import processes
from dr.lab.security import write_private

BROKER_HEAP_MB = 384
STORAGE_TOOL = "kafka.tools.StorageTool"
KAFKA_MAIN = "kafka.Kafka"

SERVER_LOG4J2 = """status = error
appender.file.type = RollingFile
appender.file.name = FILE
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.filePattern = ${sys:kafka.logs.dir}/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 20MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 2
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
"""
SERVER_LOG4J1 = """log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=${kafka.logs.dir}/server.log
log4j.appender.file.MaxFileSize=20MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
"""


@dataclass(frozen=True)
class NodeSpec:
    """Where one node lives and listens."""

    cluster: str
    node_id: int
    port: int
    controller_port: int
    home: Path  # DIR/<cluster>/node-<id>
    roles: str = "broker,controller"  # a node added later (lab add-node): "broker"

    @property
    def is_controller(self) -> bool:
        return "controller" in self.roles.split(",")

    @property
    def config_file(self) -> Path:
        return self.home / "server.properties"

    @property
    def log_dir(self) -> Path:
        return self.home / "data"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def marker(self) -> str:
        return str(self.config_file)


def new_cluster_id() -> str:
    """A random cluster id in Kafka's form (URL-safe base64 of a UUID, no padding)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):  # Kafka avoids ids that look like command-line flags
            return text


def free_ports(count: int) -> list[int]:
    """count distinct free TCP ports on 127.0.0.1."""
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
        return ports


def server_properties(
    node: NodeSpec, peers: list[NodeSpec], security: dict[str, str] | None = None
) -> str:
    """The node's server.properties: combined mode (or broker only), static quorum of the
    combined nodes, small and fast. ``security``: the entries of a secure lab (its client
    listener is then SASL_SSL, see dr.lab.security)."""
    size = len(peers)
    rf = min(3, size)
    min_isr = min(2, size)
    voters = ",".join(
        f"{p.node_id}@127.0.0.1:{p.controller_port}" for p in peers if p.is_controller
    )
    client = "SASL_SSL" if security else "PLAINTEXT"
    listeners = f"{client}://127.0.0.1:{node.port}"
    if node.is_controller:
        listeners += f",CONTROLLER://127.0.0.1:{node.controller_port}"
    props = {
        "process.roles": node.roles,
        "node.id": str(node.node_id),
        "controller.quorum.voters": voters,
        "listeners": listeners,
        "advertised.listeners": f"{client}://127.0.0.1:{node.port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(node.log_dir),
        "auto.create.topics.enable": "false",
        "default.replication.factor": str(rf),
        "min.insync.replicas": str(min_isr),
        "offsets.topic.replication.factor": str(rf),
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": str(rf),
        "transaction.state.log.min.isr": str(min_isr),
        "transaction.state.log.num.partitions": "5",
        "group.initial.rebalance.delay.ms": "0",
        "num.network.threads": "2",
        "num.io.threads": "2",
        "background.threads": "2",
        "num.recovery.threads.per.data.dir": "1",
        "log.cleaner.threads": "1",
        "log.cleaner.dedupe.buffer.size": str(8 * 1024 * 1024),
        "broker.heartbeat.interval.ms": "500",
        "broker.session.timeout.ms": "4000",
        "replica.lag.time.max.ms": "10000",
        "controlled.shutdown.enable": "true",
        "share.coordinator.state.topic.replication.factor": str(rf),
        "share.coordinator.state.topic.min.isr": str(min_isr),
    }
    props.update(security or {})
    lines = [f"# kafka-dr lab: {node.cluster} node {node.node_id}"]
    lines += [f"{k}={v}" for k, v in props.items()]
    return "\n".join(lines) + "\n"


def write_node_files(
    node: NodeSpec,
    peers: list[NodeSpec],
    logging_dir: Path,
    security: dict[str, str] | None = None,
) -> None:
    """Write the node's config (its log dirs are formatted separately); owner-only, as a
    secure lab's holds the inter-broker password."""
    node.home.mkdir(parents=True, exist_ok=True)
    node.logs.mkdir(parents=True, exist_ok=True)
    write_private(node.config_file, server_properties(node, peers, security))
    for name, text in (("log4j2.properties", SERVER_LOG4J2), ("log4j.properties", SERVER_LOG4J1)):
        target = logging_dir / name
        if not target.exists():
            target.write_text(text)


def format_storage(
    node: NodeSpec,
    jars: KafkaJars,
    cluster_id: str,
    *,
    wipe: bool = False,
    extra_args: Sequence[str] = (),
) -> None:
    """Format the node's log dir with the cluster id (``--wipe``: empty it first);
    ``extra_args``: more of the tool's options (a secure lab's --add-scram)."""
    if wipe and node.log_dir.exists():
        shutil.rmtree(node.log_dir)
    run_tool(
        jars,
        STORAGE_TOOL,
        [
            "format",
            "-t",
            cluster_id,
            "-c",
            str(node.config_file),
            "--ignore-formatted",
            *extra_args,
        ],
        timeout_s=120,
    )


def start_node(node: NodeSpec, jars: KafkaJars, logging_dir: Path) -> int:
    """Start the node's JVM detached; returns its pid."""
    cmd = java_command(
        jars,
        KAFKA_MAIN,
        [str(node.config_file)],
        heap_mb=BROKER_HEAP_MB,
        jvm_options=[
            f"-Xms{BROKER_HEAP_MB // 2}m",
            *logging_options(
                logging_dir / "log4j2.properties", logging_dir / "log4j.properties", node.logs
            ),
        ],
    )
    return processes.start_detached(cmd, cwd=node.home, log_file=node.logs / "stdout.log")


def log_tail(node_logs: Path, lines: int = 5) -> str:
    """The last error-ish lines of a node's logs, for a start-up failure message."""
    for name in ("stdout.log", "server.log"):
        path = node_logs / name
        if path.exists():
            text = path.read_text(errors="replace").splitlines()
            errors = [ln for ln in text if "ERROR" in ln or "Exception" in ln]
            picked = (errors or text)[-lines:]
            if picked:
                return " | ".join(ln.strip()[:200] for ln in picked)
    return "no log output"
