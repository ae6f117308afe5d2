"""Client settings as librdkafka and the Java tools each want them, secrets never shown."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from dr.config.schema import ClusterSettings
from dr.kafka.client import confluent_config, java_properties, java_properties_file

BOOTSTRAP = "kafka-1.prod:9092,kafka-2.prod:9092"
PLAIN_LOGIN = "org.apache.kafka.common.security.plain.PlainLoginModule"
SCRAM_LOGIN = "org.apache.kafka.common.security.scram.ScramLoginModule"


def cluster(**client: str) -> ClusterSettings:
    return ClusterSettings.model_validate({"bootstrap_servers": BOOTSTRAP, "client": client})


def sasl_cluster(mechanism: str, password: str = "s3cr3t-pw") -> ClusterSettings:
    return cluster(
        **{
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": mechanism,
            "sasl.username": "kafka-dr",
            "sasl.password": password,
        }
    )


def read_properties(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if line)


# confluent_config


def test_confluent_config_has_the_bootstrap_servers_and_the_client_properties() -> None:
    conf = confluent_config(
        cluster(**{"security.protocol": "SASL_SSL", "sasl.password": "s3cr3t-pw"})
    )

    assert conf == {
        "bootstrap.servers": BOOTSTRAP,
        "security.protocol": "SASL_SSL",
        "sasl.password": "s3cr3t-pw",
    }


def test_confluent_config_leaves_out_the_java_only_properties() -> None:
    conf = confluent_config(
        cluster(**{"java.ssl.keystore.location": "/etc/kafka/ks.jks", "client.id": "dr"})
    )

    assert conf == {"bootstrap.servers": BOOTSTRAP, "client.id": "dr"}


def test_confluent_config_overrides_win_over_the_settings() -> None:
    conf = confluent_config(
        cluster(**{"client.id": "dr"}),
        **{"client.id": "dr-admin", "socket.connection.setup.timeout.ms": 5000},
    )

    assert conf["client.id"] == "dr-admin"
    assert conf["socket.connection.setup.timeout.ms"] == 5000
    assert conf["bootstrap.servers"] == BOOTSTRAP


# java_properties


def test_a_cluster_without_client_properties_needs_no_java_properties() -> None:
    assert java_properties(cluster()) == {}


def test_sasl_plain_becomes_a_jaas_config_with_the_plain_login_module() -> None:
    props = java_properties(sasl_cluster("PLAIN"))

    assert props == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "PLAIN",
        "sasl.jaas.config": (f'{PLAIN_LOGIN} required username="kafka-dr" password="s3cr3t-pw";'),
    }


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512", "scram-sha-512"])
def test_sasl_scram_becomes_a_jaas_config_with_the_scram_login_module(mechanism: str) -> None:
    props = java_properties(sasl_cluster(mechanism))

    assert props["sasl.mechanism"] == mechanism
    assert props["sasl.jaas.config"] == (
        f'{SCRAM_LOGIN} required username="kafka-dr" password="s3cr3t-pw";'
    )


def test_the_librdkafka_plural_sasl_mechanisms_is_understood() -> None:
    props = java_properties(
        cluster(**{"sasl.mechanisms": "PLAIN", "sasl.username": "u", "sasl.password": "p4ssw0rd"})
    )

    assert props["sasl.mechanism"] == "PLAIN"
    assert props["sasl.jaas.config"].startswith(PLAIN_LOGIN)


def test_quotes_and_backslashes_in_credentials_are_escaped_in_the_jaas_config() -> None:
    props = java_properties(sasl_cluster("PLAIN", password='pa"ss\\word'))

    assert props["sasl.jaas.config"] == (
        f'{PLAIN_LOGIN} required username="kafka-dr" password="pa\\"ss\\\\word";'
    )


def test_a_mechanism_without_a_known_login_module_gets_no_jaas_config() -> None:
    props = java_properties(
        cluster(**{"sasl.mechanism": "OAUTHBEARER", "sasl.username": "u", "sasl.password": "pw12"})
    )

    assert props == {"sasl.mechanism": "OAUTHBEARER"}


def test_a_pem_ca_file_becomes_a_pem_truststore() -> None:
    props = java_properties(
        cluster(**{"security.protocol": "SSL", "ssl.ca.location": "/etc/kafka/ca.pem"})
    )

    assert props == {
        "security.protocol": "SSL",
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": "/etc/kafka/ca.pem",
    }


def test_hostname_verification_none_becomes_javas_empty_value() -> None:
    props = java_properties(cluster(**{"ssl.endpoint.identification.algorithm": "none"}))

    assert props == {"ssl.endpoint.identification.algorithm": ""}


def test_java_prefixed_properties_pass_through_without_their_prefix() -> None:
    props = java_properties(
        cluster(
            **{
                "java.ssl.keystore.location": "/etc/kafka/ks.jks",
                "java.ssl.keystore.password": "ks-pass-123",
                "client.id": "dr",
            }
        )
    )

    assert props == {
        "ssl.keystore.location": "/etc/kafka/ks.jks",
        "ssl.keystore.password": "ks-pass-123",
    }


def test_the_cluster_settings_repr_shows_no_secret() -> None:
    settings = cluster(
        **{
            "sasl.mechanism": "PLAIN",
            "sasl.username": "kafka-dr",
            "sasl.password": "s3cr3t-pw",
            "java.ssl.keystore.password": "ks-pass-123",
        }
    )

    shown = repr(settings) + str(settings)

    assert "s3cr3t-pw" not in shown
    assert "ks-pass-123" not in shown
    assert "kafka-dr" in shown


# java_properties_file


def test_the_properties_file_is_private_and_removed_afterwards() -> None:
    with java_properties_file(sasl_cluster("SCRAM-SHA-512")) as path:
        assert path is not None
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        props = read_properties(path)

    assert props["security.protocol"] == "SASL_SSL"
    assert props["sasl.mechanism"] == "SCRAM-SHA-512"
    assert props["sasl.jaas.config"].startswith(SCRAM_LOGIN)
    assert not path.exists()


def test_the_properties_file_is_removed_when_the_block_fails() -> None:
    with (
        pytest.raises(RuntimeError, match="tool failed"),
        java_properties_file(sasl_cluster("PLAIN")) as path,
    ):
        assert path is not None
        raise RuntimeError("tool failed")

    assert path is not None
    assert not path.exists()


def test_backslashes_are_escaped_in_the_properties_file() -> None:
    settings = cluster(**{"ssl.ca.location": "C:\\kafka\\ca.pem"})

    with java_properties_file(settings) as path:
        assert path is not None
        props = read_properties(path)

    assert props["ssl.truststore.location"] == "C:\\\\kafka\\\\ca.pem"


def test_no_properties_file_is_written_when_there_is_nothing_to_write() -> None:
    with java_properties_file(cluster(**{"client.id": "dr"})) as path:
        assert path is None
