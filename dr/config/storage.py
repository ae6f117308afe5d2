"""The storage section: an object store for backups, an S3 bucket prefix or a local directory."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Literal
from urllib.parse import urlparse

from pydantic import AfterValidator, Field, PrivateAttr, SecretStr, field_validator, model_validator

from dr.config.base import Model

KEY_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


def _check_key(value: SecretStr) -> SecretStr:
    # The message never quotes the value: it is a secret, even when it is a wrong one.
    try:
        key = base64.b64decode(value.get_secret_value().strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            "is not base64: give 32 random bytes in base64 (head -c 32 /dev/urandom | base64)"
        ) from None
    if len(key) != 32:
        raise ValueError(
            f"is {len(key)} bytes, not a 256-bit key: give 32 random bytes in base64 "
            "(head -c 32 /dev/urandom | base64)"
        )
    return value


EncryptionKey = Annotated[SecretStr, AfterValidator(_check_key)]


class EncryptionSettings(Model):
    """Client-side encryption (AES-256-GCM) of the segments and metadata a backup stores."""

    current: str = Field(
        pattern=KEY_ID_PATTERN,
        max_length=64,
        description="Id of the key that encrypts new objects (a key of keys).",
        examples=["k2"],
    )
    keys: dict[Annotated[str, Field(pattern=KEY_ID_PATTERN, max_length=64)], EncryptionKey] = Field(
        description="Every key that may open this store's objects, by id: 32 random bytes "
        "in base64, read from a file only its owner can read. Keep retired keys listed "
        "for as long as backups encrypted with them are kept.",
        examples=[{"k1": "${file:/etc/kafka-dr/keys/k1}", "k2": "${file:/etc/kafka-dr/keys/k2}"}],
    )
    allow_unencrypted_reads: bool = Field(
        default=True,
        description="Read segments and metadata stored unencrypted (backups taken before "
        "encryption was turned on); set false once they are pruned.",
        examples=[True],
    )

    @model_validator(mode="after")
    def _check_current(self) -> EncryptionSettings:
        if self.current not in self.keys:
            raise ValueError(f"current key '{self.current}' is not one of keys")
        return self

    def key_bytes(self) -> dict[str, bytes]:
        """Each key's 32 bytes, by id."""
        return {
            key_id: base64.b64decode(value.get_secret_value().strip())
            for key_id, value in self.keys.items()
        }


class StorageSettings(Model):
    """An object store for backups: an S3 bucket prefix or a local directory."""

    url: str = Field(
        description="s3://BUCKET/PREFIX or file:///ABSOLUTE/PATH.",
        examples=["s3://acme-kafka-backups/prod"],
    )
    endpoint_url: str | None = Field(
        default=None,
        description="S3 endpoint for S3-compatible stores (MinIO, SeaweedFS...).",
        examples=["https://s3.eu-west-1.amazonaws.com"],
    )
    region: str | None = Field(default=None, description="S3 region.", examples=["eu-west-1"])
    access_key_id: SecretStr | None = Field(
        default=None,
        description="S3 access key; omit to use the standard AWS credential chain.",
        examples=["${env:AWS_ACCESS_KEY_ID}"],
    )
    secret_access_key: SecretStr | None = Field(
        default=None,
        description="S3 secret key; omit to use the standard AWS credential chain.",
        examples=["${env:AWS_SECRET_ACCESS_KEY}"],
    )
    sse: Literal["AES256", "aws:kms"] | None = Field(
        default=None, description="Server-side encryption.", examples=["aws:kms"]
    )
    sse_kms_key_id: str | None = Field(
        default=None,
        description="KMS key id when sse is aws:kms.",
        examples=["alias/kafka-backups"],
    )
    storage_class: str | None = Field(
        default=None, description="S3 storage class for new objects.", examples=["STANDARD_IA"]
    )
    retry_deadline_s: float = Field(
        default=60.0,
        gt=0,
        description="How long one S3 call is retried (throttling, 5xx, resets) before failing.",
        examples=[60],
    )
    multipart_threshold_mb: int = Field(
        default=64,
        ge=5,
        description="Objects larger than this are uploaded in parts.",
        examples=[64],
    )

    encryption: EncryptionSettings | None = Field(
        default=None,
        description="Encrypt backups before they leave kafka-dr (see docs/backup-format.md).",
    )

    # Its key under storage, given by Settings: messages name a store as the user does.
    _name: str | None = PrivateAttr(default=None)

    @property
    def name(self) -> str | None:
        """The store's key under storage (None for settings made outside a config)."""
        return self._name

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parsed = urlparse(value)
        if parsed.scheme == "s3":
            if not parsed.netloc:
                raise ValueError(f"'{value}' has no bucket: write s3://BUCKET/PREFIX")
            if ".." in parsed.path.split("/"):
                raise ValueError(f"'{value}' contains '..'")
        elif parsed.scheme == "file":
            if parsed.netloc not in ("", "localhost") or not parsed.path.startswith("/"):
                raise ValueError(f"'{value}' is not file:///ABSOLUTE/PATH")
        else:
            raise ValueError(f"'{value}' is neither s3://BUCKET/PREFIX nor file:///PATH")
        return value

    @model_validator(mode="after")
    def _check_sse(self) -> StorageSettings:
        if self.sse_kms_key_id and self.sse != "aws:kms":
            raise ValueError("sse_kms_key_id is set but sse is not 'aws:kms'")
        if self.url.startswith("file:") and (self.sse or self.endpoint_url):
            raise ValueError("S3 options (sse, endpoint_url) given for a file:// store")
        pair = {"access_key_id": self.access_key_id, "secret_access_key": self.secret_access_key}
        given = [key for key, value in pair.items() if value is not None]
        if len(given) == 1:
            missing = next(key for key in pair if key not in given)
            raise ValueError(
                f"{missing} is missing: {given[0]} is set (give both, or neither to use the AWS "
                "credential chain)"
            )
        return self
