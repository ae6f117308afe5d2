"""An S3 store that cannot be used as configured fails at once, naming the store and its
endpoint: unreachable before it ever answered, no credentials, credentials refused, access
denied. A store that has answered is retried through a lost connection, as before."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from dr.config.schema import Settings, StorageSettings
from dr.storage import StorageError, open_store
from dr.storage.s3 import S3Store
from dr.storage.s3_errors import final_failure, store_label

ENDPOINT = "http://127.0.0.1:9"
REFUSED = EndpointConnectionError(
    endpoint_url=f"{ENDPOINT}/bucket/p/k",
    error=Exception("<conn>: Failed to establish a new connection: [Errno 111] Connection refused"),
)


def named_store_settings(**extra: Any) -> StorageSettings:
    store = {"url": "s3://bucket/p", "endpoint_url": ENDPOINT, "region": "us-east-1", **extra}
    settings = Settings.model_validate(
        {"clusters": {"primary": {"bootstrap_servers": "k:9092"}}, "storage": {"offsite": store}}
    )
    return settings.storage["offsite"]


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": f"{code} says no"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },  # type: ignore[typeddict-item]
        "GetObject",
    )


class FailingClient:
    """A stand-in for the boto3 client: get_object fails with the errors given, in turn,
    then answers."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def get_object(self, **_: Any) -> dict[str, Any]:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return {"Body": _Body()}


class _Body:
    def read(self) -> bytes:
        return b"x"

    def close(self) -> None:
        pass


def store_with(client: FailingClient, *, deadline_s: float = 30.0) -> S3Store:
    store = S3Store(named_store_settings(), retry_deadline_s=deadline_s)
    store._client = client  # type: ignore[assignment]
    return store


def test_a_store_that_never_answered_and_refuses_connections_fails_at_once_naming_it() -> None:
    client = FailingClient(*[REFUSED] * 50)

    with pytest.raises(StorageError) as caught:
        store_with(client).get_bytes("k")

    assert client.calls == 1
    assert str(caught.value) == (
        f"store 'offsite' (s3://bucket/p at {ENDPOINT}) is unreachable: Connection refused "
        "(get of 'k')"
    )


def test_a_store_that_answered_before_is_retried_through_a_lost_connection() -> None:
    client = FailingClient(client_error("NoSuchKey", 404))
    store = store_with(client)
    with pytest.raises(StorageError):
        store.get_bytes("gone")  # an answer, if a refusal
    client.errors = [REFUSED, REFUSED]

    assert store.get_bytes("k") == b"x"
    assert client.calls == 4


@pytest.mark.parametrize(
    ("code", "verdict"),
    [
        ("InvalidAccessKeyId", "refused the credentials: InvalidAccessKeyId (HTTP 403)"),
        ("SignatureDoesNotMatch", "refused the credentials: SignatureDoesNotMatch (HTTP 403)"),
        ("AccessDenied", "denied access: AccessDenied (HTTP 403)"),
    ],
)
def test_refused_credentials_or_access_fail_at_once_naming_the_store(
    code: str, verdict: str
) -> None:
    client = FailingClient(client_error(code, 403), client_error(code, 403))

    with pytest.raises(StorageError) as caught:
        store_with(client).get_bytes("k")

    assert client.calls == 1
    assert str(caught.value).startswith(f"store 'offsite' (s3://bucket/p at {ENDPOINT}) {verdict}")


def test_missing_credentials_name_the_store() -> None:
    message = final_failure(NoCredentialsError(), label="store 'offsite' (x)", answered=False)

    assert message is not None and message.startswith("store 'offsite' (x): no credentials")


def test_a_failure_of_one_request_is_not_final() -> None:
    assert final_failure(client_error("SlowDown", 503), label="s", answered=False) is None
    assert final_failure(REFUSED, label="s", answered=True) is None


def test_a_store_is_named_by_its_key_url_and_endpoint_or_aws_region() -> None:
    assert store_label(named_store_settings(), "s3://bucket/p") == (
        f"store 'offsite' (s3://bucket/p at {ENDPOINT})"
    )
    unnamed = StorageSettings(url="s3://bucket/p", region="eu-west-1")
    assert store_label(unnamed, "s3://bucket/p") == "store s3://bucket/p (at AWS S3 eu-west-1)"


def test_an_s3_url_opens_an_s3_store_though_dr_storage_imports_boto3_only_on_demand() -> None:
    import dr.storage

    assert dr.storage.S3Store is S3Store
    assert isinstance(open_store(named_store_settings()), S3Store)
