"""What an S3 failure is: worth retrying or not, a missing object, a refused conditional write;
and how to say it in one line without the request's headers or credentials.

boto3's transfer functions wrap botocore's errors (S3UploadFailedError, RetriesExceededError);
every question here is asked of the botocore error behind the wrapper (``unwrap``).
"""

from __future__ import annotations

import re

import boto3.exceptions
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    PartialCredentialsError,
    SSLError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from dr.config.schema import StorageSettings

_ERRNO = re.compile(r"\[Errno -?\d+\] ([^)\]]+)")
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
# Answers that say the credentials are wrong, or not allowed: no retry changes them.
BAD_CREDENTIAL_CODES = frozenset(
    {"ExpiredToken", "InvalidAccessKeyId", "InvalidToken", "SignatureDoesNotMatch"}
)
DENIED_CODES = frozenset({"AccessDenied", "AllAccessDisabled"})


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


def is_unreachable(exc: BaseException) -> bool:
    """True when the endpoint could not be connected to at all: unknown host, refused
    connection, connect timeout. Transient once the store has answered; final before."""
    return isinstance(unwrap(exc), EndpointConnectionError | ConnectTimeoutError)


def final_failure(error: BaseException, *, label: str, answered: bool) -> str | None:
    """One line naming the store and its endpoint when error means the store cannot be used
    as configured (unreachable before any answer, no credentials, credentials refused);
    None for a failure of one request."""
    if is_unreachable(error) and not answered:
        return f"{label} is unreachable: {connect_cause(error)}"
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return f"{label}: {describe(error)}"
    if not isinstance(error, ClientError):
        return None
    if error_code(error) in BAD_CREDENTIAL_CODES:
        return f"{label} refused the credentials: {describe(error)}"
    if error_code(error) in DENIED_CODES or http_status(error) == 403:
        return f"{label} denied access: {describe(error)}"
    return None


def connect_cause(error: BaseException) -> str:
    """Why the endpoint could not be connected to, in the system's words ('Connection
    refused', 'Name or service not known'), else botocore's whole message."""
    kwargs = getattr(error, "kwargs", {})
    found = _ERRNO.search(str(kwargs.get("error", "")))
    return found.group(1).strip() if found else describe(error)


def store_label(settings: StorageSettings, url: str) -> str:
    """How messages name an S3 store: store 'NAME' (URL at ENDPOINT)."""
    endpoint = settings.endpoint_url or (
        f"AWS S3 {settings.region}" if settings.region else "AWS S3"
    )
    name = f"'{settings.name}'" if settings.name else url
    where = f"{url} at {endpoint}" if settings.name else f"at {endpoint}"
    return f"store {name} ({where})"


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
