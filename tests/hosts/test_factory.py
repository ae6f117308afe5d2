"""access_for: one node's HostAccess from the cluster's access kind and its inventory."""

from __future__ import annotations

from pathlib import Path

import pytest

from dr.config import parse_config
from dr.config.schema import Settings
from dr.errors import UsageError
from dr.hosts import HostError, access_for
from dr.lab.labconfig import lab_config
from dr.lab.state import ClusterRecord, LabState, NodeRecord


def settings(access: str, tmp_path: Path) -> Settings:
    text = f"""\
clusters:
  prod:
    bootstrap_servers: kafka-1.prod:9092
    brokers:
      - {{id: 1, host: kafka-1.prod, log_dirs: [/data/a, /data/b]}}
      - {{id: 2, host: kafka-2.prod, config_file: /etc/kafka/two.properties}}
{access}"""
    return parse_config(text, source="kafka-dr.yaml", base_dir=tmp_path)


SSH = """\
    access:
      kind: ssh
      user: kafka-dr
      key_file: {key}
      kafka_home: /opt/kafka/
"""


def test_a_cluster_without_access_says_which_key_to_add(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"add clusters\.prod\.access"):
        access_for(settings("", tmp_path), "prod", 1)


def test_a_node_not_in_the_inventory_is_refused_with_the_ones_listed(tmp_path: Path) -> None:
    with pytest.raises(
        UsageError, match=r"no node 7 in clusters\.prod\.brokers \(it lists: 1, 2\)"
    ):
        access_for(settings("    access: {kind: lab, dir: /tmp/lab}\n", tmp_path), "prod", 7)


def test_an_unknown_cluster_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no cluster named 'qa'"):
        access_for(settings("", tmp_path), "qa", 1)


def test_an_ssh_node_takes_host_and_log_dirs_from_the_inventory(tmp_path: Path) -> None:
    config = settings(SSH.format(key="/etc/k/id"), tmp_path)

    one, two = access_for(config, "prod", 1), access_for(config, "prod", 2)

    assert (one.host, one.log_dirs) == ("kafka-1.prod", ("/data/a", "/data/b"))
    assert one.config_file == "/opt/kafka/config/server.properties"
    assert two.config_file == "/etc/kafka/two.properties"


def test_a_missing_key_file_is_named_when_the_host_is_reached(tmp_path: Path) -> None:
    host = access_for(settings(SSH.format(key=tmp_path / "nope"), tmp_path), "prod", 1)

    answer = host.status()
    with pytest.raises(HostError) as caught:
        host.read_file("/etc/kafka/server.properties")

    assert answer.running is None
    expected = f"clusters.prod.access.key_file {tmp_path / 'nope'} does not exist"
    assert expected in answer.detail
    assert str(caught.value) == f"cluster 'prod' node 1 (kafka-1.prod): {expected}"


def test_a_strict_policy_without_its_known_hosts_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "id").write_text("key")
    access = SSH.format(key=tmp_path / "id") + f"      known_hosts_file: {tmp_path}/kh\n"
    host = access_for(settings(access, tmp_path), "prod", 1)

    with pytest.raises(HostError, match=r"clusters\.prod\.access\.known_hosts_file .* does not"):
        host.read_file("/etc/kafka/server.properties")


def test_the_lab_config_gives_every_cluster_lab_access_and_each_node_its_files(
    tmp_path: Path,
) -> None:
    nodes = tuple(
        NodeRecord(i, 9000 + i, 9100 + i, str(tmp_path / "dr" / f"node-{i}")) for i in (1, 2)
    )
    state = LabState("4.1.0", "/libs", {"dr": ClusterRecord("id", nodes)})
    text = lab_config(state, tmp_path, mirror=False)
    config = Settings.model_validate(text)

    host = access_for(config, "dr", 2)

    assert config.clusters["dr"].access == config.clusters["dr"].access.__class__(
        kind="lab", dir=tmp_path.resolve()
    )
    assert host.config_file == str(tmp_path / "dr" / "node-2" / "server.properties")
    assert host.log_dirs == (str(tmp_path / "dr" / "node-2" / "data"),)
