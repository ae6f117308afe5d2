"""Who the KRaft metadata quorum's voters are, and changing them (KIP-853, Kafka 3.9+).

A static quorum (``controller.quorum.voters``, kraft.version 0) names its voters in every
node's config: a voter whose disk was replaced rejoins by being formatted with the same
cluster id. A dynamic quorum (``controller.quorum.bootstrap.servers``, kraft.version 1) keeps
its voters in the metadata log, each as (node id, directory id): a voter formatted anew gets a
new directory id, so the old (id, directory) is removed from the voters and the new one added
once it has caught up. Both go through Kafka's own MetadataQuorumCommand from the jars.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dr.config.schema import ClusterSettings
from dr.errors import KafkaError
from dr.kafka.client import escape_property, java_properties, java_properties_file
from dr.kafka.jars import KafkaJars
from dr.kafka.java import run_tool
from dr.kafka.private_files import private_file
from dr.kafka.quorum import QUORUM_TOOL

# A directory id of all zeros: a voter of a static quorum (no directory id recorded).
NO_DIRECTORY = "AAAAAAAAAAAAAAAAAAAAAA"


@dataclass(frozen=True)
class QuorumReplica:
    """A voter or observer of the quorum: its node id and directory id (None: not recorded)."""

    node_id: int
    directory_id: str | None


@dataclass(frozen=True)
class QuorumMembership:
    leader_id: int | None
    voters: tuple[QuorumReplica, ...]
    observers: tuple[QuorumReplica, ...]

    def voter(self, node_id: int) -> QuorumReplica | None:
        return next((v for v in self.voters if v.node_id == node_id), None)


def describe_membership(cluster: ClusterSettings, jars: KafkaJars) -> QuorumMembership:
    """``describe --status``: the leader, voters and observers with their directory ids."""
    return parse_status(_quorum_tool(cluster, jars, ["describe", "--status"]))


def parse_status(output: str) -> QuorumMembership:
    """Parse ``describe --status``; voters are ``[1, 2]`` before 3.9, JSON objects after."""
    fields: dict[str, str] = {}
    for line in output.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and not key.startswith(" "):
            fields[key.strip()] = value.strip()
    if "CurrentVoters" not in fields:
        raise KafkaError("kafka-metadata-quorum printed no CurrentVoters")
    leader = fields.get("LeaderId", "-1")
    return QuorumMembership(
        leader_id=int(leader) if leader.lstrip("-").isdigit() and int(leader) >= 0 else None,
        voters=_replicas(fields["CurrentVoters"]),
        observers=_replicas(fields.get("CurrentObservers", "[]")),
    )


def _replicas(text: str) -> tuple[QuorumReplica, ...]:
    try:
        items = json.loads(text)
    except json.JSONDecodeError:
        raise KafkaError(f"kafka-metadata-quorum printed unexpected voters: {text[:200]}") from None
    out = []
    for item in items:
        if isinstance(item, int):
            out.append(QuorumReplica(item, None))
        else:
            directory = item.get("directoryId")
            out.append(
                QuorumReplica(
                    int(item["id"]), None if directory in (None, NO_DIRECTORY) else directory
                )
            )
    return tuple(out)


def remove_controller(
    cluster: ClusterSettings, jars: KafkaJars, *, node_id: int, directory_id: str
) -> None:
    """Remove voter (node_id, directory_id) from a dynamic quorum; raises KafkaError."""
    _quorum_tool(
        cluster,
        jars,
        [
            "remove-controller",
            "--controller-id",
            str(node_id),
            "--controller-directory-id",
            directory_id,
        ],
    )


def add_controller(
    cluster: ClusterSettings,
    jars: KafkaJars,
    *,
    node_config: Mapping[str, str],
    meta_properties: bytes,
) -> None:
    """Add a controller to a dynamic quorum; raises KafkaError.

    The tool reads the new voter from its config (node.id, controller listeners) and its
    directory id from the meta.properties of its metadata log dir: both are copied here
    (read from the node's host), the config into a private file with the client settings.
    """
    with tempfile.TemporaryDirectory(prefix="kafka-dr-controller-") as tmp:
        folder = Path(tmp)
        (folder / "meta.properties").write_bytes(meta_properties)
        props = {**node_config, **java_properties(cluster)}
        props["metadata.log.dir"] = props["log.dirs"] = str(folder)
        text = "".join(f"{k}={escape_property(v)}\n" for k, v in props.items())
        # Not in the folder: it holds the client's password, which a kill would leave there.
        with private_file(text, name="kafka-dr-controller.properties") as config:
            _quorum_tool(cluster, jars, ["add-controller"], command_config=config)


def _quorum_tool(
    cluster: ClusterSettings,
    jars: KafkaJars,
    command: list[str],
    *,
    command_config: Path | None = None,
) -> str:
    with java_properties_file(cluster) as props:
        args = ["--bootstrap-server", cluster.bootstrap_servers]
        config = command_config or props
        if config is not None:
            args += ["--command-config", str(config)]
        return run_tool(jars, QUORUM_TOOL, [*args, *command], timeout_s=60)
