"""`broker replace`: a node whose data is gone comes back formatted with the SAME cluster id;
a static voter rejoins as itself, a dynamic voter (KIP-853) is swapped (old directory out, new
in, once caught up); the RTO runs from the run's start to no partition under-replicated."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
from broker_fakes import CLUSTER_ID, FakeCluster, FakeHost, server_properties, settings

from dr.errors import DrError
from dr.kafka.node_config import node_config, parse_properties
from dr.kafka.quorum_membership import parse_status
from dr.playbooks import run_playbook
from dr.playbooks.broker_replace import replace_params, replace_playbook
from dr.steps import RunResult


class FakeQuorumTools:
    """The dynamic voter set: node -> directory id (None: static, no directory ids)."""

    def __init__(self, voters: dict[int, str | None], fake: FakeCluster | None = None) -> None:
        self.voters, self.fake = dict(voters), fake
        self.calls: list[str] = []

    def voter_directory(self, node_id: int) -> tuple[bool, str | None]:
        return node_id in self.voters, self.voters.get(node_id)

    def remove(self, node_id: int, directory_id: str) -> None:
        assert self.voters.get(node_id) == directory_id
        del self.voters[node_id]
        if self.fake is not None:  # the cluster's quorum sees it too
            self.fake.voters.remove(node_id)
        self.calls.append(f"remove {node_id} {directory_id}")

    def add(self, config: Mapping[str, str], meta_properties: bytes) -> None:
        meta = parse_properties(meta_properties.decode())
        self.voters[int(config["node.id"])] = meta["directory.id"]
        if self.fake is not None:
            self.fake.voters.append(int(config["node.id"]))
        self.calls.append(f"add {config['node.id']} {meta['directory.id']}")


def lost_node_3(quorum: str) -> tuple[FakeCluster, FakeHost]:
    fake = FakeCluster(leader=1)
    fake.stop(3)  # killed, its disk gone: nothing under /data/kafka-3
    files = {"/etc/kafka-3/server.properties": server_properties(3, quorum=quorum)}
    return fake, FakeHost(fake, 3, files)


def replace(tmp_path: Path, fake: FakeCluster, host: FakeHost, tools: FakeQuorumTools) -> RunResult:
    s = settings(tmp_path)
    params = replace_params(s, "primary", 3, ready_timeout_s=2, replicate_timeout_s=2)
    book = replace_playbook(
        s,
        params,
        probe=fake,
        access=lambda n: host,
        quorum_tools=tools,  # type: ignore[arg-type]
    )
    return run_playbook(s, book)


def test_a_static_voter_is_formatted_with_the_same_cluster_id_and_rejoins(tmp_path: Path) -> None:
    fake, host = lost_node_3("static")
    tools = FakeQuorumTools({1: None, 2: None, 3: None})
    result = replace(tmp_path, fake, host, tools)
    assert result.status == "completed", result.error
    assert host.tool_calls == [
        ["format", "--cluster-id", CLUSTER_ID, "--config", host.config_file, "--ignore-formatted"]
    ]
    assert tools.calls == []  # static voters: the quorum is not changed
    assert result.outputs("remove_old_voter") == {"skipped": "static quorum"}
    assert result.outputs("verify")["cluster_id"] == CLUSTER_ID
    assert result.outputs("verify")["partitions_on_node"] == 3
    assert result.rto_seconds is not None  # run start to fully replicated
    assert fake.view().under_replicated == ()


def test_a_dynamic_voter_is_swapped_old_directory_out_new_directory_in(tmp_path: Path) -> None:
    fake, host = lost_node_3("dynamic")
    tools = FakeQuorumTools({1: "DIR1", 2: "DIR2", 3: "OLDDIR3"}, fake)
    result = replace(tmp_path, fake, host, tools)
    assert result.status == "completed", result.error
    assert host.tool_calls[0][-1] == "--no-initial-controllers"  # joins, never seeds a quorum
    assert tools.calls == ["remove 3 OLDDIR3", "add 3 NEWDIR3"]
    assert tools.voters == {1: "DIR1", 2: "DIR2", 3: "NEWDIR3"}


def test_a_replace_refuses_a_running_node(tmp_path: Path) -> None:
    fake = FakeCluster(leader=1)
    host = FakeHost(fake, 3, {"/etc/kafka-3/server.properties": server_properties(3)})
    result = replace(tmp_path, fake, host, FakeQuorumTools({1: None, 2: None, 3: None}))
    assert result.status == "failed"
    assert result.error is not None and "node 3 of 'primary' is running (pid 42)" in result.error
    assert host.tool_calls == [] and fake.events == []


def test_a_replace_without_the_nodes_config_says_to_lay_it_down(tmp_path: Path) -> None:
    fake, _ = lost_node_3("static")
    host = FakeHost(fake, 3, {})
    result = replace(tmp_path, fake, host, FakeQuorumTools({1: None, 2: None, 3: None}))
    assert result.status == "failed" and result.error is not None
    assert "/etc/kafka-3/server.properties) cannot be read" in result.error
    assert "lay it down on the node" in result.error


def test_a_node_that_never_registers_stops_the_run_before_the_rto(tmp_path: Path) -> None:
    fake, host = lost_node_3("static")
    fake.comes_back[3] = False
    result = replace(tmp_path, fake, host, FakeQuorumTools({1: None, 2: None, 3: None}))
    assert result.status == "failed"
    assert result.error == (
        "step await_rejoined: node 3 of 'primary' did not rejoin within 2s: not registered"
    )
    assert result.rto_seconds is None


def test_a_node_config_says_static_or_dynamic_quorum() -> None:
    static = node_config(server_properties(1).decode(), where="x")
    assert (
        static.quorum == "static" and static.is_controller and static.log_dirs == ("/data/kafka-1",)
    )
    dynamic = node_config(
        server_properties(1, quorum="dynamic", roles="broker").decode(), where="x"
    )
    assert dynamic.quorum == "dynamic" and not dynamic.is_controller
    with pytest.raises(DrError, match=r"x: no numeric node\.id"):
        node_config("process.roles=broker\n", where="x")


def test_properties_are_read_as_java_reads_them() -> None:
    text = "# c\n! c\na = 1\nb:2\nc=x\\\n   y\nd=C\\:\\\\dir\n"
    assert parse_properties(text) == {"a": "1", "b": "2", "c": "xy", "d": "C:\\dir"}


def test_the_quorum_status_gives_voters_with_their_directory_ids() -> None:
    out = (
        "ClusterId:              fMCL8kv1SWm87L_Md-I2hg\n"
        "LeaderId:               2\n"
        "LeaderEpoch:            2\n"
        'CurrentVoters:          [{"id": 1, "directoryId": "ILZ5MPTeRWakmJu99uBJCA", '
        '"endpoints": ["CONTROLLER://localhost:9093"]}, {"id": 2, "directoryId": '
        '"AAAAAAAAAAAAAAAAAAAAAA", "endpoints": []}]\n'
        'CurrentObservers:       [{"id": 4, "directoryId": "b-DwmhtOheTqZzPoh52kfA"}]\n'
    )
    status = parse_status(out)
    assert status.leader_id == 2
    assert [(v.node_id, v.directory_id) for v in status.voters] == [
        (1, "ILZ5MPTeRWakmJu99uBJCA"),
        (2, None),
    ]
    assert status.observers[0].node_id == 4
    assert parse_status("LeaderId: 1\nCurrentVoters: [1, 2, 3]\n").voter(3) is not None
