"""A broker-only lab node (lab add-node) points at the cluster's controllers and is none."""

from __future__ import annotations

from pathlib import Path

from dr.lab.nodes import NodeSpec, server_properties


def props(text: str) -> dict[str, str]:
    return dict(ln.split("=", 1) for ln in text.splitlines() if "=" in ln and ln[0] != "#")


def test_a_broker_only_node_uses_the_combined_nodes_as_voters_and_has_no_controller_listener(
    tmp_path: Path,
) -> None:
    peers = [NodeSpec("primary", i, 9000 + i, 9100 + i, tmp_path / str(i)) for i in (1, 2, 3)]
    added = NodeSpec("primary", 4, 9004, 0, tmp_path / "4", roles="broker")
    mine = props(server_properties(added, [*peers, added]))
    theirs = props(server_properties(peers[0], peers))
    assert mine["process.roles"] == "broker"
    assert mine["controller.quorum.voters"] == theirs["controller.quorum.voters"]
    assert mine["controller.quorum.voters"] == "1@127.0.0.1:9101,2@127.0.0.1:9102,3@127.0.0.1:9103"
    assert mine["listeners"] == "PLAINTEXT://127.0.0.1:9004"
    assert theirs["process.roles"] == "broker,controller"
