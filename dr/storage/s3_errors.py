"""What an S3 failure is: worth retrying or not, a missing object, a refused conditional write;
and how to say it in one line without the request's headers or credentials.

boto3's transfer functions wrap botocore's errors (S3UploadFailedError, RetriesExceededError);
every question here is asked of the botocore error behind the wrapper (``unwrap``).
"""

from __future__ import annotations

import boto3.exceptions
from botocore.exceptions import (
    ClientError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    SSLError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchUpload"})
TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ServiceUnavailable",
        "InternalError",
        "RequestTimeout",
        "503",
    }
)


def is_transient(exc: BaseException) -> bool:
    """True for failures worth retrying: throttling, 5xx, broken or timed-out connections."""
    error = unwrap(exc)
    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error_code(error) in TRANSIENT_CODES or status == 429 or status >= 500
    if isinstance(error, SSLError):  # a certificate problem does not heal by itself
        return False
    return isinstance(
        error,
        BotoConnectionError
        | HTTPClientError
        | IncompleteReadError
        | ConnectionError
        | TimeoutError,
    )


def is_transient_for_create(exc: BaseException) -> bool:
    """Transient, or 409 ConditionalRequestConflict: another conditional write of the key was
    in flight, and trying again gets the definite answer."""
    error = unwrap(exc)
    if isinstance(error, ClientError) and error_code(error) == "ConditionalRequestConflict":
        return True
    return is_transient(exc)


def is_not_found(error: BaseException) -> bool:
    """True when the (unwrapped) error says the object or upload does not exist."""
    return isinstance(error, ClientError) and error_code(error) in NOT_FOUND_CODES


def is_precondition_failed(error: ClientError) -> bool:
    """True when a conditional write was refused (412): the key already names an object."""
    return error_code(error) == "PreconditionFailed" or http_status(error) == 412


def unwrap(exc: BaseException) -> BaseException:
    """The botocore error behind boto3's transfer wrappers."""
    if isinstance(exc, boto3.exceptions.S3UploadFailedError) and exc.__context__ is not None:
        return exc.__context__
    if isinstance(exc, boto3.exceptions.RetriesExceededError):
        last = getattr(exc, "last_exception", None)
        if isinstance(last, BaseException):
            return last
    return exc


def error_code(error: ClientError) -> str:
    """S3's error code ('NoSuchKey', 'SlowDown'...), '' when the answer carried none."""
    return str(error.response.get("Error", {}).get("Code", ""))


def http_status(error: ClientError) -> int:
    """The HTTP status of the answer, 0 when unknown."""
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def describe(error: BaseException) -> str:
    """One line saying what went wrong, without the request's headers or credentials."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        text = f"{details.get('Code', 'error')} (HTTP {status})"
        if details.get("Message"):
            text += f": {details['Message']}"
    elif isinstance(error, NoCredentialsError):
        text = (
            "no credentials: set access_key_id and secret_access_key, "
            "or configure the AWS credential chain"
        )
    else:
        text = f"{type(error).__name__}: {error}"
    return " ".join(text.split())
