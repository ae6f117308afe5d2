"""The cluster checks: a cluster that does not answer (for real: a closed port, an unknown
host, a port that never answers), refused credentials, brokers against the inventory, the
KRaft quorum."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dr.config.load import parse_config
from dr.config.schema import ClusterSettings, Settings
from dr.kafka.quorum import QuorumMember, QuorumStatus
from dr.preflight.clusters import brokers_check, cluster_task, not_answering, quorum_check
from dr.preflight.kafka_probe import ProbeFailure, describe_authentication, principal_of
from dr.preflight.tools import JarsFound


def settings(tmp_path: Path, bootstrap: str, **cluster: Any) -> Settings:
    doc = {"clusters": {"prod": {"bootstrap_servers": bootstrap, **cluster}}}
    return parse_config(json.dumps(doc), source="kafka-dr.yaml", base_dir=tmp_path)


NO_JARS = JarsFound(None, "not needed here")


def test_a_closed_port_fails_at_once_naming_the_bootstrap_and_skips_the_rest(
    tmp_path: Path, unused_port: int
) -> None:
    bootstrap = f"127.0.0.1:{unused_port}"
    task = cluster_task("prod", settings(tmp_path, bootstrap), NO_JARS)

    started = time.monotonic()
    outcome = task.run()

    assert time.monotonic() - started < 3.0  # not the cluster's 10 s timeout
    (check,) = outcome.checks
    assert (check.name, check.status) == ("cluster prod reachable", "fail")
    assert check.detail.startswith(f"no broker answered at {bootstrap}: ")
    assert "Connection refused" in check.detail
    assert check.hint and "clusters.prod.bootstrap_servers" in check.hint
    assert outcome.then == ()  # no ACL or quorum check of a cluster that did not answer


def test_an_unknown_host_fails_at_once(tmp_path: Path) -> None:
    task = cluster_task("prod", settings(tmp_path, "no-such-host.invalid:9092"), NO_JARS)

    started = time.monotonic()
    (check,) = task.run().checks

    assert time.monotonic() - started < 3.0
    assert check.status == "fail"
    assert "Failed to resolve 'no-such-host.invalid:9092'" in check.detail


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that takes connections and never says a word."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield int(sock.getsockname()[1])


def test_a_port_that_never_answers_fails_after_the_clusters_timeout(
    tmp_path: Path, silent_port: int
) -> None:
    task = cluster_task(
        "prod", settings(tmp_path, f"127.0.0.1:{silent_port}", timeout_s=1), NO_JARS
    )

    started = time.monotonic()
    (check,) = task.run().checks
    took = time.monotonic() - started

    assert 0.9 < took < 3.0
    assert check.status == "fail"
    assert "no answer within 1s" in check.detail
    assert check.hint and "clusters.prod.timeout_s" in check.hint


SASL = {
    "security.protocol": "SASL_SSL",
    "sasl.mechanism": "SCRAM-SHA-512",
    "sasl.username": "kafka-dr",
    "sasl.password": "s3cret-pw",
}


def test_refused_credentials_are_a_failed_authentication_of_a_reachable_cluster() -> None:
    cluster = ClusterSettings(bootstrap_servers="prod:9093", client=SASL)  # type: ignore[arg-type]
    failure = ProbeFailure("authentication", "SASL authentication error: Authentication failed")

    reachable, authenticated = not_answering("prod", cluster, failure, seconds=0.2)

    assert reachable.status == "ok"
    assert (authenticated.name, authenticated.status) == ("cluster prod authenticated", "fail")
    assert authenticated.detail == (
        "SASL_SSL SCRAM-SHA-512 as user kafka-dr refused: SASL authentication error: "
        "Authentication failed"
    )
    assert authenticated.hint and "sasl.password" in authenticated.hint


def test_the_principal_is_known_for_sasl_users_only() -> None:
    sasl = ClusterSettings(bootstrap_servers="prod:9093", client=SASL)  # type: ignore[arg-type]
    plain = ClusterSettings(bootstrap_servers="prod:9092")

    assert principal_of(sasl) == "User:kafka-dr"
    assert principal_of(plain) is None
    assert describe_authentication(plain) == "PLAINTEXT: no authentication configured"


def test_brokers_of_the_inventory_that_are_not_online_fail_by_id() -> None:
    check = brokers_check("prod", "cluster prod", [1, 2, 3], [1, 3])

    assert check.status == "fail"
    assert check.detail == "brokers 2 of the inventory (1, 2, 3) are not online"


def test_a_broker_online_but_not_in_the_inventory_is_a_warning() -> None:
    check = brokers_check("prod", "cluster prod", [1, 2], [1, 2, 4])

    assert check.status == "warn"
    assert check.hint == "add them to clusters.prod.brokers"


def test_every_broker_of_the_inventory_online_passes() -> None:
    assert brokers_check("prod", "cluster prod", [1, 2, 3], [3, 2, 1]).status == "ok"


def member(node: int, role: str, age: float | None = 0.5) -> QuorumMember:
    return QuorumMember(node, role, 100, 0, age)


def quorum(leader: int | None, *members: QuorumMember) -> QuorumStatus:
    return QuorumStatus(leader, 100, tuple(members), ())


def test_a_quorum_with_a_leader_and_voters_caught_up_passes() -> None:
    status = quorum(1, member(1, "leader"), member(2, "follower"), member(3, "follower"))

    check = quorum_check("prod", "cluster prod", status)

    assert check.status == "ok"
    assert check.detail == "leader 1, voters 1, 2, 3 caught up"


def test_a_quorum_without_a_leader_fails() -> None:
    check = quorum_check("prod", "cluster prod", quorum(None, member(1, "follower", None)))

    assert check.status == "fail"
    assert check.detail == "no leader (voters 1)"


def test_a_voter_that_has_not_caught_up_is_a_warning() -> None:
    status = quorum(1, member(1, "leader"), member(2, "follower", 120.0))

    check = quorum_check("prod", "cluster prod", status)

    assert check.status == "warn"
    assert check.detail.startswith("voters 2 have not caught up with leader 1")
