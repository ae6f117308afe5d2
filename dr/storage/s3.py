"""A store under an S3 bucket prefix (AWS or any S3-API server), over boto3.

botocore's own retries are switched off so that one policy governs: throttling, 5xx answers and
broken connections are retried here with exponential backoff and jitter until the call's
deadline, each retry logged once. Every other failure becomes a one-line StorageError that
names the operation, the key and the store.

put_if_absent is S3's conditional write (If-None-Match: *), atomic on AWS S3. A server that
ignores the header would let two writers both "create" a key, so each store checks once,
before its first conditional write, that the server refuses the second of two, and raises
StorageError otherwise: a lease or a commit is never silently unsafe.

s3_client.py sets the client up from the settings; s3_errors.py says which failures are
transient and describes them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import boto3.exceptions
from botocore.exceptions import BotoCoreError, ClientError

from dr.config.schema import StorageSettings
from dr.log import get_logger
from dr.retry import Attempts, call_with_retries
from dr.storage.base import (
    ObjectInfo,
    ObjectNotFound,
    StorageError,
    check_key,
    check_prefix,
    key_problem,
)
from dr.storage.s3_client import make_client, parse_store_url, put_args, transfer_config
from dr.storage.s3_errors import (
    describe,
    final_failure,
    is_not_found,
    is_precondition_failed,
    is_transient,
    is_transient_for_create,
    is_unreachable,
    store_label,
    unwrap,
)

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import (
        ListMultipartUploadsOutputTypeDef,
        ListMultipartUploadsRequestTypeDef,
        ListObjectsV2RequestTypeDef,
    )

__all__ = ["DELETE_BATCH", "LIST_PAGE_SIZE", "PROBE_PREFIX", "S3Store", "is_transient"]

log = get_logger(__name__)
T = TypeVar("T")

_Uploads = list[tuple[str, str]]  # (full key, upload id) of incomplete multipart uploads
# S3's limits: keys per ListObjectsV2 page and per DeleteObjects request.
LIST_PAGE_SIZE = 1000
DELETE_BATCH = 1000
# Where the one-off check of conditional writes puts (and removes) its probe object.
PROBE_PREFIX = ".kafka-dr-probe/"


class S3Store:
    """Objects under s3://BUCKET/PREFIX; keys are joined under the prefix."""

    def __init__(
        self,
        settings: StorageSettings,
        *,
        retry_deadline_s: float = 60.0,
        connect_timeout_s: float = 10.0,
        read_timeout_s: float = 60.0,
    ) -> None:
        self.bucket, prefix = parse_store_url(settings.url)
        self.url = f"s3://{self.bucket}/{prefix}" if prefix else f"s3://{self.bucket}"
        self.label = store_label(settings, self.url)
        self._answered = False  # until the server first answers, a failure to connect is final
        self._prefix = f"{prefix}/" if prefix else ""
        self._deadline_s = retry_deadline_s
        self._extra_args = put_args(settings)
        self._transfer = transfer_config(settings)
        self._client = make_client(
            settings,
            url=self.url,
            connect_timeout_s=connect_timeout_s,
            read_timeout_s=read_timeout_s,
        )
        self._conditional_writes_checked = False

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store data under key with the store's encryption and storage class."""
        full = self._full_key(key)
        self._call(
            "put",
            key,
            lambda: self._client.put_object(
                Bucket=self.bucket, Key=full, Body=data, **self._extra_args
            ),
        )

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Create the object only if key names none (If-None-Match: *): True when this call
        created it, False when one existed (left unchanged). False can also follow a retry
        whose first attempt created it; callers that must know compare the content. Raises
        StorageError, also when the server ignores conditional writes."""
        full = self._full_key(key)
        self._check_conditional_writes()
        return self._create(full, key, data)

    def put_file(self, key: str, path: Path) -> None:
        """Upload the file at path under key, in parts above multipart_threshold_mb."""
        full = self._full_key(key)
        if not path.is_file():
            raise StorageError(f"cannot store {path} as '{key}' in {self.url}: not a file")
        self._call(
            "put",
            key,
            lambda: self._client.upload_file(
                str(path),
                self.bucket,
                full,
                ExtraArgs=dict(self._extra_args),
                Config=self._transfer,
            ),
        )

    def get_bytes(self, key: str) -> bytes:
        """The object's content; raises ObjectNotFound or StorageError."""
        full = self._full_key(key)

        def fetch() -> bytes:
            response = self._client.get_object(Bucket=self.bucket, Key=full)
            with closing(response["Body"]) as body:
                return body.read()

        return self._call("get", key, fetch)

    def get_file(self, key: str, path: Path) -> None:
        """Download the object to path (written whole, then renamed into place)."""
        full = self._full_key(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                f"cannot create {path.parent} to download '{key}' from {self.url}: {exc.strerror}"
            ) from exc
        self._call(
            "get",
            key,
            lambda: self._client.download_file(self.bucket, full, str(path), Config=self._transfer),
        )

    def exists(self, key: str) -> bool:
        """True when an object is stored under key."""
        return self.stat(key) is not None

    def stat(self, key: str) -> ObjectInfo | None:
        """The object's size and modification time, or None when there is none."""
        full = self._full_key(key)
        try:
            head = self._call(
                "stat", key, lambda: self._client.head_object(Bucket=self.bucket, Key=full)
            )
        except ObjectNotFound:
            return None
        return ObjectInfo(key=key, size=head["ContentLength"], modified=_utc(head["LastModified"]))

    def delete(self, key: str) -> None:
        """Remove the object; a missing one is fine."""
        full = self._full_key(key)
        try:
            self._call(
                "delete", key, lambda: self._client.delete_object(Bucket=self.bucket, Key=full)
            )
        except ObjectNotFound:  # S3 answers 204 here; some S3-API servers answer 404
            return

    def delete_many(self, keys: Iterable[str]) -> None:
        """Remove every object named, 1000 per request, after checking every key."""
        fulls = [self._full_key(key) for key in keys]
        for start in range(0, len(fulls), DELETE_BATCH):
            batch = fulls[start : start + DELETE_BATCH]
            first = batch[0].removeprefix(self._prefix)
            request = partial(
                self._client.delete_objects,
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
            )
            response = self._call("delete", first, request)
            errors = [e for e in response.get("Errors", []) if e.get("Code") != "NoSuchKey"]
            if errors:
                failed = errors[0]
                raise StorageError(
                    f"S3 delete of '{failed.get('Key', '').removeprefix(self._prefix)}' in "
                    f"{self.url} failed: {failed.get('Code')}: {failed.get('Message')}"
                    + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else "")
                )

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object whose key starts with prefix, sorted by key (S3's listing order)."""
        check_prefix(prefix)
        return self._listing(prefix)

    def _listing(self, prefix: str) -> Iterator[ObjectInfo]:
        request: ListObjectsV2RequestTypeDef = {
            "Bucket": self.bucket,
            "Prefix": self._prefix + prefix,
            "MaxKeys": LIST_PAGE_SIZE,
        }
        while True:
            page = self._call("list", prefix, lambda: self._client.list_objects_v2(**request))
            for item in page.get("Contents", []):
                key = item["Key"].removeprefix(self._prefix)
                # Objects written by other tools (a/ folder markers, a//b) have no valid key.
                if item["Key"].startswith(self._prefix) and key_problem(key) is None:
                    yield ObjectInfo(
                        key=key, size=item["Size"], modified=_utc(item["LastModified"])
                    )
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return
            request["ContinuationToken"] = token

    def clean_temporaries(self, older_than_s: float, under: str = "") -> int:
        """Abort the incomplete multipart uploads under the store's prefix that began more than
        older_than_s seconds ago, by the server's own clock; the number aborted. Raises
        StorageError."""
        aborted = 0
        for full, upload_id in self._abandoned_uploads(older_than_s, check_prefix(under)):
            abort = partial(
                self._client.abort_multipart_upload,
                Bucket=self.bucket,
                Key=full,
                UploadId=upload_id,
            )
            try:
                self._call("abort upload", full.removeprefix(self._prefix), abort)
                aborted += 1
            except ObjectNotFound:  # completed or aborted meanwhile
                continue
        if aborted:
            log.info("temporaries_cleaned", store=self.url, aborted_uploads=aborted)
        return aborted

    def _abandoned_uploads(self, older_than_s: float, under: str) -> _Uploads:
        """(full key, upload id) of each multipart upload under the prefix begun before then."""
        request: ListMultipartUploadsRequestTypeDef = {"Bucket": self.bucket}
        if self._prefix or under:
            request["Prefix"] = self._prefix + under
        found: _Uploads = []
        while True:
            page = self._call(
                "list uploads", "*", lambda: self._client.list_multipart_uploads(**request)
            )
            cutoff = _server_time(page) - timedelta(seconds=older_than_s)
            for upload in page.get("Uploads", []):
                initiated = upload.get("Initiated")
                if initiated is not None and _utc(initiated) < cutoff:
                    found.append((upload.get("Key", ""), upload.get("UploadId", "")))
            if not page.get("IsTruncated"):
                return [(k, u) for k, u in found if k.startswith(self._prefix) and u]
            request["KeyMarker"] = page["NextKeyMarker"]
            request["UploadIdMarker"] = page["NextUploadIdMarker"]

    def _create(self, full: str, key: str, data: bytes) -> bool:
        """One conditional put; a 409 (a concurrent conditional write) is retried."""

        def create() -> bool:
            try:
                self._client.put_object(
                    Bucket=self.bucket, Key=full, Body=data, IfNoneMatch="*", **self._extra_args
                )
            except ClientError as exc:
                if is_precondition_failed(exc):
                    return False
                raise
            return True

        return self._call("put", key, create, transient=is_transient_for_create)

    def _check_conditional_writes(self) -> None:
        """Raise StorageError when the server accepts a second If-None-Match: * put."""
        if self._conditional_writes_checked:
            return
        probe = f"{PROBE_PREFIX}{uuid.uuid4().hex}"
        try:
            ignored = self._create(self._full_key(probe), probe, b"") and self._create(
                self._full_key(probe), probe, b""
            )
        finally:
            self.delete(probe)
        if ignored:
            raise StorageError(
                f"the S3 server of {self.url} ignores conditional writes (If-None-Match: *), "
                "so two hosts could both take one lock: use a server that supports them"
            )
        self._conditional_writes_checked = True

    def _full_key(self, key: str) -> str:
        return self._prefix + check_key(key)

    def _call(
        self,
        op: str,
        key: str,
        action: Callable[[], T],
        *,
        transient: Callable[[BaseException], bool] | None = None,
    ) -> T:
        """Run action, retrying transient failures until the deadline; errors become ours.
        A store that cannot be reached (before it ever answered), or that refuses the
        credentials, fails at once with an error naming it and its endpoint."""
        attempts = Attempts()
        retry_when = transient or is_transient

        def answered(result: T) -> T:
            self._answered = True
            return result

        def attempt() -> T:
            try:
                return answered(action())
            except ClientError:
                self._answered = True  # an answer, if a refusal
                raise

        try:
            return call_with_retries(
                attempt,
                deadline_s=self._deadline_s,
                transient=lambda exc: (
                    retry_when(exc) and (self._answered or not is_unreachable(exc))
                ),
                event="s3_retry",
                fields={"op": op, "key": key, "store": self.url},
                describe=describe,
                max_wait_s=5.0,
                jitter_s=0.5,
                attempts=attempts,
            )
        except (BotoCoreError, ClientError, boto3.exceptions.Boto3Error, OSError) as exc:
            error = unwrap(exc)
            if is_not_found(error):
                raise ObjectNotFound(key, self.url) from None
            final = final_failure(error, label=self.label, answered=self._answered)
            if final is not None:
                raise StorageError(f"{final} ({op} of '{key}')") from exc
            raise StorageError(
                f"S3 {op} of '{key}' in {self.url} failed{attempts.summary()}: {describe(error)}"
            ) from exc


def _server_time(page: ListMultipartUploadsOutputTypeDef) -> datetime:
    """The server's clock when it answered (its Date header), else this host's."""
    date = page.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    try:
        return _utc(parsedate_to_datetime(date)) if date else datetime.now(UTC)
    except (TypeError, ValueError):
        return datetime.now(UTC)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
