"""Kafka refusing kafka-dr for authorization: one error naming the operation, the resource, the
cluster and the principal, and pointing at `kafka-dr acls plan`; never retried."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from confluent_kafka import KafkaError as RdKafkaError
from confluent_kafka import KafkaException

from dr.backup.restore_write import RecordWriter
from dr.cli import cli
from dr.config.load import parse_config
from dr.config.schema import ClusterSettings
from dr.errors import KafkaError, NotAuthorizedError
from dr.kafka import admin as kadmin
from dr.kafka import groups as kgroups
from dr.kafka.authz import not_authorized, principal_of, refusal, refused_kind
from dr.kafka.reader import raise_if_refused

TOPIC_REFUSED = RdKafkaError(RdKafkaError.TOPIC_AUTHORIZATION_FAILED)
GROUP_REFUSED = RdKafkaError(RdKafkaError.GROUP_AUTHORIZATION_FAILED)
CLUSTER_REFUSED = RdKafkaError(RdKafkaError.CLUSTER_AUTHORIZATION_FAILED)
GRANT = "grant it (see 'kafka-dr acls plan')"


def cluster(tmp_path: Path, **client: str) -> ClusterSettings:
    doc = {"clusters": {"prod": {"bootstrap_servers": "127.0.0.1:1", "client": client}}}
    settings = parse_config(json.dumps(doc), source="kafka-dr.yaml", base_dir=tmp_path)
    return settings.clusters["prod"]


def sasl(tmp_path: Path) -> ClusterSettings:
    return cluster(
        tmp_path,
        **{
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "PLAIN",
            "sasl.username": "kafka-dr",
            "sasl.password": "secret",
        },
    )


def test_each_authorization_error_is_recognised_by_the_kind_it_refuses() -> None:
    assert refused_kind(KafkaException(TOPIC_REFUSED)) == "topic"
    assert refused_kind(GROUP_REFUSED) == "group"  # a consumed message's error
    assert refused_kind(KafkaException(CLUSTER_REFUSED)) == "cluster"
    code = RdKafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    assert refused_kind(KafkaException(RdKafkaError(code))) == "transactional id"


def test_other_errors_are_not_authorization_errors() -> None:
    assert refused_kind(KafkaException(RdKafkaError(RdKafkaError.UNKNOWN_TOPIC_OR_PART))) is None
    assert refused_kind(KafkaException(RdKafkaError(RdKafkaError._TIMED_OUT))) is None
    assert refused_kind(TimeoutError("slow")) is None
    assert refused_kind("TOPIC_AUTHORIZATION_FAILED") is None


def test_an_error_caused_by_a_refusal_is_one() -> None:
    try:
        try:
            raise KafkaException(TOPIC_REFUSED)
        except KafkaException as exc:
            raise SystemError("delivery callback") from exc
    except SystemError as wrapped:
        assert refused_kind(wrapped) == "topic"


def test_the_message_names_operation_resource_cluster_and_principal(tmp_path: Path) -> None:
    denied = refusal(
        sasl(tmp_path),
        KafkaException(TOPIC_REFUSED),
        operation="READ",
        resource="topic 'demo.orders'",
    )

    assert isinstance(denied, NotAuthorizedError) and isinstance(denied, KafkaError)
    assert str(denied) == (
        f"not authorized to READ topic 'demo.orders' on cluster 'prod' as User:kafka-dr: {GRANT}"
    )
    assert denied.exit_code == 2


def test_a_refusal_of_another_kind_than_asked_names_that_kind() -> None:
    denied = not_authorized(
        CLUSTER_REFUSED,
        cluster="prod",
        principal="User:x",
        operation="CREATE",
        resource="topic 't'",
    )

    assert str(denied).startswith("not authorized to use the cluster on cluster 'prod' as User:x")


def test_without_a_sasl_user_the_principal_is_said_to_be_the_clients_own(tmp_path: Path) -> None:
    assert principal_of(sasl(tmp_path)) == "User:kafka-dr"
    assert "no sasl.username" in principal_of(cluster(tmp_path))


class Future:
    def __init__(self, error: BaseException | None = None, value: Any = None) -> None:
        self.error, self.value = error, value

    def result(self, timeout: float | None = None) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


class RefusingAdmin:
    """An admin client of cluster 'prod' whose every request Kafka refuses."""

    cluster_name = "prod"
    principal = "User:kafka-dr"
    label = "cluster 'prod' (127.0.0.1:1)"

    def __init__(self, error: RdKafkaError) -> None:
        self.error = error
        self.calls = 0

    def _refused(self, keys: Any) -> dict[Any, Future]:
        self.calls += 1
        return {k: Future(KafkaException(self.error)) for k in keys}

    def list_offsets(self, request: dict[Any, Any], **_: Any) -> dict[Any, Future]:
        return self._refused(request)

    def describe_configs(self, resources: list[Any], **_: Any) -> dict[Any, Future]:
        return self._refused(resources)

    def create_topics(self, topics: list[Any], **_: Any) -> dict[str, Future]:
        return self._refused([t.topic for t in topics])

    def list_consumer_group_offsets(self, request: list[Any], **_: Any) -> dict[str, Future]:
        return self._refused([r.group_id for r in request])

    def alter_consumer_group_offsets(self, request: list[Any], **_: Any) -> dict[str, Future]:
        return self._refused([r.group_id for r in request])


def test_a_refused_offsets_request_names_the_topic_and_is_not_retried() -> None:
    admin = RefusingAdmin(TOPIC_REFUSED)

    with pytest.raises(NotAuthorizedError) as refused:
        kadmin.offsets(admin, [("demo.orders", 0)], "latest", 1.0)  # type: ignore[arg-type]

    assert str(refused.value) == (
        "not authorized to DESCRIBE topic 'demo.orders' on cluster 'prod' as User:kafka-dr: "
        + GRANT
    )
    assert admin.calls == 1


@pytest.mark.parametrize(
    ("call", "error", "said"),
    [
        (
            lambda a: kadmin.topic_configs(a, ["demo.orders"], 1.0),
            TOPIC_REFUSED,
            "DESCRIBE_CONFIGS topic 'demo.orders'",
        ),
        (
            lambda a: kadmin.create_topic(a, kadmin.TopicInfo("demo.orders", 1, 1, {}), 1.0),
            TOPIC_REFUSED,
            "CREATE topic 'demo.orders'",
        ),
        (
            lambda a: kgroups.committed_offsets_of(a, ["billing"], 1.0),
            GROUP_REFUSED,
            "DESCRIBE group 'billing'",
        ),
        (
            lambda a: kgroups.alter_group_offsets(a, "billing", {("demo.orders", 0): 5}, 1.0),
            GROUP_REFUSED,
            "READ group 'billing'",
        ),
    ],
)
def test_each_refused_admin_request_names_what_it_needed(
    call: Any, error: RdKafkaError, said: str
) -> None:
    with pytest.raises(NotAuthorizedError) as refused:
        call(RefusingAdmin(error))

    assert str(refused.value).startswith(f"not authorized to {said} on cluster 'prod' as ")


def test_committing_many_groups_reports_a_refused_one_as_its_failure() -> None:
    admin = RefusingAdmin(GROUP_REFUSED)

    failures = kgroups.alter_groups_offsets(admin, {"billing": {("t", 0): 5}}, 1.0)  # type: ignore[arg-type]

    assert failures == {
        "billing": "not authorized to READ group 'billing' on cluster 'prod' as User:kafka-dr: "
        + GRANT
    }


def test_any_other_failure_stays_a_kafka_error_naming_what_failed() -> None:
    admin = RefusingAdmin(RdKafkaError(RdKafkaError.INVALID_CONFIG))

    with pytest.raises(KafkaError) as failed:
        kadmin.topic_configs(admin, ["demo.orders"], 1.0)  # type: ignore[arg-type]

    assert not isinstance(failed.value, NotAuthorizedError)
    assert "cannot read configs of topic 'demo.orders'" in str(failed.value)


def test_a_refused_read_of_a_consumed_topic_is_raised(tmp_path: Path) -> None:
    with pytest.raises(NotAuthorizedError, match="not authorized to READ topic 'heartbeats'"):
        raise_if_refused(sasl(tmp_path), TOPIC_REFUSED, "heartbeats")
    raise_if_refused(sasl(tmp_path), RdKafkaError(RdKafkaError._PARTITION_EOF), "heartbeats")


class Delivered:
    def topic(self) -> str:
        return "demo.orders"

    def partition(self) -> int:
        return 0


def test_a_refused_write_of_a_restore_names_the_topic(tmp_path: Path) -> None:
    writer = RecordWriter(sasl(tmp_path))
    writer._on_marker(1, TOPIC_REFUSED, Delivered())  # the first record's report

    with pytest.raises(NotAuthorizedError) as refused:
        writer.check()

    assert str(refused.value).startswith(
        "not authorized to WRITE topic 'demo.orders' on cluster 'prod' as User:kafka-dr: "
    )


def test_the_command_line_prints_one_line_and_no_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    @click.command("refused-probe")
    def probe() -> None:
        raise NotAuthorizedError(
            operation="READ", resource="topic 't'", cluster="prod", principal="User:kafka-dr"
        )

    monkeypatch.setitem(cli.commands, "refused-probe", probe)

    result = CliRunner().invoke(cli, ["refused-probe"])

    assert result.exit_code == 2
    assert result.stderr == (
        f"error: not authorized to READ topic 't' on cluster 'prod' as User:kafka-dr: {GRANT}\n"
    )
