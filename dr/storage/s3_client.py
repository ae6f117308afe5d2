"""How an S3 store is set up from its settings: the bucket and prefix of its URL, the boto3
client (timeouts, credentials, botocore's retries off), the transfer configuration and the
options applied to every upload (encryption, storage class)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict, cast
from urllib.parse import urlparse

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError

from dr.config.schema import StorageSettings
from dr.log import register_secrets
from dr.storage.base import StorageError, key_problem

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.literals import ServerSideEncryptionType, StorageClassType

MIB = 1024 * 1024


class PutArgs(TypedDict, total=False):
    """The options applied to every upload."""

    ServerSideEncryption: ServerSideEncryptionType
    SSEKMSKeyId: str
    StorageClass: StorageClassType


def parse_store_url(url: str) -> tuple[str, str]:
    """(bucket, prefix) of an s3://BUCKET/PREFIX URL, the prefix without slashes at its ends.
    Raises StorageError for another URL, one holding credentials, or an invalid prefix."""
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise StorageError(f"'{url}' is not an s3://BUCKET/PREFIX URL")
    if "@" in parsed.netloc:
        # Never echo it: the part before '@' would be a credential.
        raise StorageError(
            "an s3:// store URL holds credentials: put them in access_key_id/secret_access_key"
        )
    prefix = parsed.path.strip("/")
    if prefix and key_problem(prefix):
        raise StorageError(f"store URL {url} has an invalid prefix: {key_problem(prefix)}")
    return parsed.netloc, prefix


def put_args(settings: StorageSettings) -> PutArgs:
    """ServerSideEncryption, SSEKMSKeyId and StorageClass, as given, for every upload."""
    args: PutArgs = {}
    if settings.sse:
        args["ServerSideEncryption"] = settings.sse
    if settings.sse_kms_key_id:
        args["SSEKMSKeyId"] = settings.sse_kms_key_id
    if settings.storage_class:
        args["StorageClass"] = cast("StorageClassType", settings.storage_class)
    return args


def transfer_config(settings: StorageSettings) -> TransferConfig:
    """Uploads and downloads in parts above multipart_threshold_mb, each part tried once."""
    threshold = settings.multipart_threshold_mb * MIB
    return TransferConfig(
        multipart_threshold=threshold,
        multipart_chunksize=threshold,
        num_download_attempts=1,  # our retry policy, not s3transfer's, governs
        preferred_transfer_client="classic",
    )


def make_client(
    settings: StorageSettings, *, url: str, connect_timeout_s: float, read_timeout_s: float
) -> S3Client:
    """A boto3 S3 client for the store at url that makes one attempt per call; the secret
    key is registered for redaction. Raises StorageError for half-given credentials or a
    client boto3 cannot set up."""
    key_id, secret = settings.access_key_id, settings.secret_access_key
    if (key_id is None) != (secret is None):
        raise StorageError(
            f"store {url} has only one of access_key_id and secret_access_key: "
            "give both, or neither to use the AWS credential chain"
        )
    if secret is not None:
        register_secrets([secret.get_secret_value()])
    config = Config(
        connect_timeout=connect_timeout_s,
        read_timeout=read_timeout_s,
        # One attempt per botocore call: the store's retry policy governs.
        retries={"total_max_attempts": 1, "mode": "standard"},
    )
    try:
        return boto3.session.Session().client(
            "s3",
            endpoint_url=settings.endpoint_url,
            region_name=settings.region,
            config=config,
            aws_access_key_id=key_id.get_secret_value() if key_id else None,
            aws_secret_access_key=secret.get_secret_value() if secret else None,
        )
    except (BotoCoreError, ValueError) as exc:
        raise StorageError(f"cannot set up an S3 client for {url}: {exc}") from exc
