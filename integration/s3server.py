"""A real S3-API server for the tests: moto in server mode, over HTTP, on 127.0.0.1.

Self-contained: these fixtures need neither the Kafka lab nor AWS. Credentials are dummies,
given through the settings (never the environment), as a user's config would give them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from pydantic import SecretStr

from dr.config.schema import StorageSettings
from integration.storage.faults import FaultProxy

BUCKET = "kafka-dr-test"
REGION = "us-east-1"
ACCESS_KEY_ID = "AKIAKAFKADRTEST00001"
SECRET_ACCESS_KEY = "kafka-dr-test-secret-access-key"


@dataclass(frozen=True)
class S3Server:
    """The running server: its endpoint, the test bucket and a plain boto3 client to inspect it."""

    endpoint_url: str
    bucket: str
    client: Any

    def settings(
        self, prefix: str, *, endpoint_url: str | None = None, **extra: Any
    ) -> StorageSettings:
        """Settings for s3://BUCKET/PREFIX on this server (or through another endpoint)."""
        return StorageSettings(
            url=f"s3://{self.bucket}/{prefix}",
            endpoint_url=endpoint_url or self.endpoint_url,
            region=REGION,
            access_key_id=SecretStr(ACCESS_KEY_ID),
            secret_access_key=SecretStr(SECRET_ACCESS_KEY),
            **extra,
        )


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
        )
        client.create_bucket(Bucket=BUCKET)
        yield S3Server(endpoint_url=endpoint, bucket=BUCKET, client=client)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_settings(s3_server: S3Server) -> StorageSettings:
    """StorageSettings for s3://kafka-dr-test/prefix on the session's server."""
    return s3_server.settings("prefix")


@pytest.fixture
def s3_prefix() -> str:
    """A prefix of the test's own, so that tests never see each other's objects."""
    return f"tests/{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def _session_proxy(s3_server: S3Server) -> Iterator[FaultProxy]:
    with FaultProxy(s3_server.endpoint_url) as proxy:
        yield proxy


@pytest.fixture
def fault_proxy(_session_proxy: FaultProxy) -> Iterator[FaultProxy]:
    """The fault-injecting proxy in front of the server, with no fault pending."""
    _session_proxy.clear()
    yield _session_proxy
    _session_proxy.clear()
