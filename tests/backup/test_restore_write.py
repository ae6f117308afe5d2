"""Restored records keep their timestamps, and the second client keeps the cluster's security."""

from __future__ import annotations

import pytest

from dr.backup.restore_plan import RestoreError
from dr.backup.restore_resume import written_timestamp
from dr.backup.restore_write import kafka_python_config
from dr.config.schema import ClusterSettings


def cluster(**client: str) -> ClusterSettings:
    return ClusterSettings(bootstrap_servers="b1:9093,b2:9093", client=client)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("timestamp", "timestamp_type", "written"),
    [(0, 1, 0), (1, 1, 1), (999, 1, 999), (-5, 1, -5), (1_700_000_000_000, 2, 1_700_000_000_000)],
)
def test_a_backed_up_timestamp_is_written_as_it_was(
    timestamp: int, timestamp_type: int, written: int
) -> None:
    assert written_timestamp(timestamp, timestamp_type) == written


def test_a_record_that_had_no_timestamp_is_written_with_kafkas_no_timestamp() -> None:
    assert written_timestamp(-1, 0) == -1
    assert written_timestamp(1234, 0) == -1


def test_the_exact_timestamp_client_gets_the_clusters_sasl_and_tls_settings() -> None:
    conf = kafka_python_config(
        cluster(
            **{
                "security.protocol": "sasl_ssl",
                "sasl.mechanism": "SCRAM-SHA-512",
                "sasl.username": "restore",
                "sasl.password": "s3cret",
                "ssl.ca.location": "/etc/kafka/ca.pem",
                "ssl.endpoint.identification.algorithm": "none",
                "socket.keepalive.enable": "true",
            }
        )
    )

    assert conf == {
        "bootstrap_servers": ["b1:9093", "b2:9093"],
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "restore",
        "sasl_plain_password": "s3cret",
        "ssl_cafile": "/etc/kafka/ca.pem",
        "ssl_check_hostname": False,
    }


def test_a_security_setting_the_exact_timestamp_client_cannot_honour_is_refused() -> None:
    with pytest.raises(RestoreError, match=r"ssl\.keystore\.location"):
        kafka_python_config(cluster(**{"ssl.keystore.location": "/etc/kafka/client.p12"}))


def test_a_gapless_guarantee_error_names_the_partition_whose_batch_failed() -> None:
    from dr.backup.restore_write import _named_partition

    reason = (
        "ProduceRequest for orders-restored [1] with 1 message(s) failed: Broker: Message size "
        "too large (broker 1 PID{Id:44,Epoch:0}, base seq 10): unable to satisfy gap-less "
        "guarantee (_GAPLESS_GUARANTEE)"
    )

    assert _named_partition(reason) == ("orders-restored", 1)
    assert _named_partition("Local: Fatal error") is None
