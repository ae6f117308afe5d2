"""A lab node's identity, ports and server.properties, written without starting any JVM."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from dr.lab.nodes import NodeSpec, free_ports, new_cluster_id, server_properties


def nodes(tmp_path: Path, cluster: str, count: int) -> list[NodeSpec]:
    return [
        NodeSpec(
            cluster=cluster,
            node_id=i,
            port=19090 + 2 * i,
            controller_port=19091 + 2 * i,
            home=tmp_path / cluster / f"node-{i}",
        )
        for i in range(1, count + 1)
    ]


def parse_properties(text: str) -> dict[str, str]:
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    pairs = [ln.split("=", 1) for ln in lines]
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), "a key is written twice"
    return dict(pairs)


def test_a_cluster_id_is_22_url_safe_characters_encoding_16_bytes() -> None:
    for _ in range(200):
        cluster_id = new_cluster_id()

        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", cluster_id), cluster_id
        assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


def test_a_cluster_id_never_starts_with_a_dash() -> None:
    # One random id in 64 would start with '-': 3,000 ids would show ~47 of them.
    ids = {new_cluster_id() for _ in range(3000)}

    assert len(ids) == 3000
    assert not [i for i in ids if i.startswith("-")]


def test_free_ports_are_distinct_tcp_ports() -> None:
    ports = free_ports(6)

    assert len(ports) == 6
    assert len(set(ports)) == 6
    assert all(1024 <= p < 65536 for p in ports)


def test_a_three_node_cluster_replicates_three_times_with_a_min_isr_of_two(
    tmp_path: Path,
) -> None:
    peers = nodes(tmp_path, "primary", 3)

    props = parse_properties(server_properties(peers[1], peers))

    for key in (
        "default.replication.factor",
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "share.coordinator.state.topic.replication.factor",
    ):
        assert props[key] == "3", key
    for key in (
        "min.insync.replicas",
        "transaction.state.log.min.isr",
        "share.coordinator.state.topic.min.isr",
    ):
        assert props[key] == "2", key


def test_every_node_of_a_cluster_lists_all_voters_and_its_own_listeners(tmp_path: Path) -> None:
    peers = nodes(tmp_path, "primary", 3)

    props = parse_properties(server_properties(peers[1], peers))

    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "2"
    assert props["controller.quorum.voters"] == (
        "1@127.0.0.1:19093,2@127.0.0.1:19095,3@127.0.0.1:19097"
    )
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19094,CONTROLLER://127.0.0.1:19095"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19094"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["log.dirs"] == str(tmp_path / "primary" / "node-2" / "data")


def test_a_single_node_cluster_replicates_once(tmp_path: Path) -> None:
    (only,) = nodes(tmp_path, "dr", 1)

    props = parse_properties(server_properties(only, [only]))

    assert props["default.replication.factor"] == "1"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["min.insync.replicas"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["log.dirs"] == str(tmp_path / "dr" / "node-1" / "data")


@pytest.mark.parametrize(("size", "rf", "min_isr"), [(2, "2", "2"), (5, "3", "2")])
def test_replication_is_capped_at_three_and_min_isr_at_two(
    tmp_path: Path, size: int, rf: str, min_isr: str
) -> None:
    peers = nodes(tmp_path, "primary", size)

    props = parse_properties(server_properties(peers[0], peers))

    assert props["default.replication.factor"] == rf
    assert props["min.insync.replicas"] == min_isr
