"""The host access contract, the same checks for every kind, on a real lab node.

``lab``: the lab config's own ``access: {kind: lab}``. ``ssh``: a real sshd started here on
127.0.0.1 (Debian's openssh-server, its own host key and an authorized client key) through
which kafka-dr drives the same lab node with the lab's commands, as an operator's scripts
would drive a real broker; its storage tool is a kafka-storage.sh over the lab's jars.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dr.config import load_config, parse_config
from dr.config.access import SshAccess
from dr.config.schema import ClusterSettings, Settings
from dr.hosts import HostAccess, access_for
from dr.kafka.client import admin_client
from dr.kafka.java import java_executable
from integration.conftest import RunningLab, wait_until

pytestmark = pytest.mark.integration

CLUSTER = "primary"
NODE = 3
SSHD = "/usr/sbin/sshd"


@dataclass(frozen=True)
class Sshd:
    port: int
    client_key: Path
    known_hosts: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """sshd -D on 127.0.0.1 with its own host key, accepting one generated client key."""
    if not Path(SSHD).is_file() or shutil.which("ssh-keygen") is None:
        pytest.fail(f"{SSHD} or ssh-keygen is missing: run 'make tools' (openssh-server)")
    work = tmp_path_factory.mktemp("sshd")
    _keygen(work / "host_key")
    _keygen(work / "client_key")
    shutil.copy(work / "client_key.pub", work / "authorized_keys")
    port = _free_port()
    (work / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {work / 'host_key'}\n"
        f"AuthorizedKeysFile {work / 'authorized_keys'}\nPidFile {work / 'sshd.pid'}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        "StrictModes no\nPermitRootLogin prohibit-password\nLogLevel ERROR\n"
    )
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # its privilege separation directory
    log = (work / "sshd.log").open("wb")
    proc = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(work / "sshd_config")], stdout=log, stderr=log
    )
    host_key = (work / "host_key.pub").read_text().split()
    (work / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
    try:
        wait_until(lambda: _listening(port) or proc.poll() is not None, timeout_s=20, what="sshd")
        assert proc.poll() is None, (work / "sshd.log").read_text()
        yield Sshd(port=port, client_key=work / "client_key", known_hosts=work / "known_hosts")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _kafka_home(lab: RunningLab, root: Path) -> Path:
    """A Kafka installation's bin/kafka-storage.sh, over the lab's jars."""
    script = root / "bin" / "kafka-storage.sh"
    script.parent.mkdir(parents=True, exist_ok=True)
    libs = Path(lab.lab.state().libs)
    script.write_text(
        "#!/bin/sh\n"
        f"exec {java_executable()} -Xmx128m -cp '{libs}/*' kafka.tools.StorageTool \"$@\"\n"
    )
    script.chmod(0o755)
    return root


def _ssh_settings(settings: Settings, lab: RunningLab, sshd: Sshd, home: Path) -> Settings:
    """The lab config with the primary cluster reached over SSH instead."""
    lab_cmd = [sys.executable, "-m", "dr", "lab"]
    where = ["--dir", str(lab.lab.dir), "{cluster}", "{node_id}"]
    access = SshAccess(
        kind="ssh",
        user=getpass.getuser(),
        port=sshd.port,
        key_file=sshd.client_key,
        known_hosts="strict",
        known_hosts_file=sshd.known_hosts,
        kafka_home=str(home),
        start_command=[*lab_cmd, "start-node", *where],
        stop_command=[*lab_cmd, "stop-node", *where],
        kill_command=[*lab_cmd, "stop-node", "--kill", *where],
        status_command=["pgrep", "-f", "[k]afka.Kafka {config_file}"],
    )
    cluster = settings.clusters[CLUSTER].model_copy(update={"access": access})
    return settings.model_copy(update={"clusters": {**settings.clusters, CLUSTER: cluster}})


@pytest.fixture(scope="module", params=["lab", "ssh"])
def host(
    request: pytest.FixtureRequest, lab: RunningLab, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HostAccess]:
    """Node 3 of primary as the kind reaches it; it is left running, as it was found."""
    settings = load_config(lab.config).settings
    if request.param == "ssh":
        sshd = request.getfixturevalue("sshd")
        home = _kafka_home(lab, tmp_path_factory.mktemp("kafka-home"))
        settings = _ssh_settings(settings, lab, sshd, home)
    yield access_for(settings, CLUSTER, NODE)
    state = lab.lab.state().cluster(CLUSTER).node(NODE)
    assert state is not None
    if subprocess.run(["pgrep", "-f", f"[k]afka.Kafka {state.home}/"], check=False).returncode:
        lab.lab_cli("start-node", CLUSTER, str(NODE))


def _registered(lab: RunningLab) -> set[int]:
    admin = admin_client(ClusterSettings(bootstrap_servers=lab.bootstrap(CLUSTER)), timeout_s=5)
    try:
        return {n.id for n in admin.describe_cluster(request_timeout=5).result(timeout=10).nodes}
    except Exception:
        return set()


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_the_factory_names_the_node_its_host_and_its_files(host: HostAccess) -> None:
    assert (host.cluster, host.node_id, host.host) == (CLUSTER, NODE, "127.0.0.1")
    assert host.config_file.endswith(f"/{CLUSTER}/node-{NODE}/server.properties")
    assert host.log_dirs == (str(Path(host.config_file).parent / "data"),)


def test_a_running_node_says_it_runs(host: HostAccess) -> None:
    assert host.status().running is True


def test_a_file_is_written_whole_read_back_and_its_folder_removed(host: HostAccess) -> None:
    folder = Path(host.config_file).parent / "kafka-dr-host-test"
    target = str(folder / "note.txt")
    host.remove_tree(str(folder))
    folder.mkdir()

    host.write_file(target, b"first\n")
    host.write_file(target, b"second, \xff binary and 'quoted' $(not run)\n")

    assert host.read_file(target) == b"second, \xff binary and 'quoted' $(not run)\n"
    assert sorted(os.listdir(folder)) == ["note.txt"]  # nothing left aside
    host.remove_tree(str(folder))
    assert not folder.exists()


def test_the_storage_tool_reads_the_nodes_log_dir(host: HostAccess, lab: RunningLab) -> None:
    out = host.storage_tool(["info", "-c", host.config_file])

    assert host.log_dirs[0] in out
    assert lab.lab.state().cluster(CLUSTER).cluster_id in out


def test_stop_is_graceful_within_the_deadline_and_a_second_stop_finds_it_stopped(
    host: HostAccess,
) -> None:
    stopped = host.stop(deadline_s=90)

    assert stopped.how == "graceful"
    assert host.status().running is False
    assert host.stop(deadline_s=5).how == "not-running"


def test_a_stopped_log_dir_streams_as_tar_and_untars_to_the_same_files(
    host: HostAccess, tmp_path: Path
) -> None:
    host.stop(deadline_s=90)
    log_dir = Path(host.log_dirs[0])

    chunks = list(host.tar_stream([str(log_dir)]))
    host.untar(str(tmp_path / "copy"), iter(chunks))

    copied = _tree(tmp_path / "copy" / str(log_dir).lstrip("/"))
    assert copied == _tree(log_dir)
    assert "meta.properties" in copied


def test_start_brings_the_broker_back_and_it_registers(host: HostAccess, lab: RunningLab) -> None:
    host.stop(deadline_s=90)
    wait_until(lambda: NODE not in _registered(lab), timeout_s=60, what="node 3 unregistered")

    host.start()

    assert host.status().running is True
    wait_until(lambda: NODE in _registered(lab), timeout_s=120, what="node 3 registered again")


def _ssh_node(sshd: Sshd, known_hosts: str, known_hosts_file: Path) -> HostAccess:
    text = f"""\
clusters:
  edge:
    bootstrap_servers: 127.0.0.1:9092
    brokers: [{{id: 1, host: 127.0.0.1}}]
    access:
      kind: ssh
      user: {getpass.getuser()}
      port: {sshd.port}
      key_file: {sshd.client_key}
      known_hosts: {known_hosts}
      known_hosts_file: {known_hosts_file}
      start_command: ['true']
      stop_command: ['true']
      status_command: ['true']
"""
    return access_for(parse_config(text, source="t", base_dir=known_hosts_file.parent), "edge", 1)


def test_ssh_refuses_a_host_whose_key_is_not_the_known_one(sshd: Sshd, tmp_path: Path) -> None:
    other = (sshd.client_key.parent / "client_key.pub").read_text().split()[:2]
    (tmp_path / "wrong").write_text(f"[127.0.0.1]:{sshd.port} {' '.join(other)}\n")
    (tmp_path / "empty").write_text("")

    changed = _ssh_node(sshd, "strict", tmp_path / "wrong").status()
    unknown = _ssh_node(sshd, "strict", tmp_path / "empty").status()
    blind = _ssh_node(sshd, "off", tmp_path / "wrong").status()

    assert changed.running is None and "is not the one in" in changed.detail
    assert unknown.running is None and "is not in" in unknown.detail
    assert blind.running is True


def test_ssh_accept_new_remembers_a_new_host_and_then_holds_it_to_its_key(
    sshd: Sshd, tmp_path: Path
) -> None:
    known = tmp_path / "known_hosts"

    first = _ssh_node(sshd, "accept-new", known).status()
    again = _ssh_node(sshd, "strict", known).status()

    assert first.running is True and again.running is True
    assert known.read_text().split()[1:] == sshd.known_hosts.read_text().split()[1:]
