"""A drill's evidence: the JSON envelope and the HTML page, bound together and signed.

The envelope (``drill-<id>.json``) holds the report's payload (``DrillReport.to_dict``), the
sha256 of its canonical bytes, the sha256 of the HTML page and an Ed25519 signature over both.
The page (``drill-<id>.html``) carries the payload's sha256 in a meta tag, so each file names
the other: change one byte of either and ``verify_report`` (dr.drill.verify) finds it.

The envelope is written in one exact layout (``dump_envelope``) and verification re-writes it
to compare byte for byte: an edit JSON would not see (spacing, ``1e5`` for ``1E5``) is caught
as well as one that changes a value.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from pydantic import SecretStr

from dr.drill import signing
from dr.drill.html import render_html
from dr.drill.model import DrillReport
from dr.errors import DrError
from dr.log import get_logger
from dr.storage.base import ObjectStore
from dr.storage.local import atomic_write

log = get_logger(__name__)

ENVELOPE_SCHEMA = "kafka-dr.drill-evidence/1"
STORE_PREFIX = "drills/"
_DRILL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class EvidenceError(DrError):
    """A drill report could not be built or written."""


@dataclass(frozen=True)
class Evidence:
    """The two files of a report, as bytes, and what binds them."""

    drill_id: str
    json_bytes: bytes
    html_bytes: bytes
    report_sha256: str
    html_sha256: str
    signed: bool
    key_fingerprint: str | None


@dataclass(frozen=True)
class ReportFiles:
    """Where write_report put a report: its files in report_dir and its objects in the store
    (None where it was not written), and the digests a reader checks them against."""

    drill_id: str
    json_path: Path | None
    html_path: Path | None
    store_url: str | None
    json_key: str | None
    html_key: str | None
    report_sha256: str
    html_sha256: str
    signed: bool
    key_fingerprint: str | None


def file_stem(drill_id: str) -> str:
    """The name both files share: ``drill-<id>``."""
    return f"drill-{drill_id}"


def canonical(payload: dict[str, Any]) -> bytes:
    """The payload's canonical bytes: what report_sha256 digests and the signature covers.
    Raises EvidenceError when a value has no JSON form (NaN, a datetime...)."""
    try:
        text = json.dumps(
            payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError) as exc:
        raise EvidenceError(f"drill report holds a value JSON cannot carry: {exc}") from None
    return text.encode()


def signed_message(payload_bytes: bytes, html_sha256: str) -> bytes:
    """What the signature covers: the canonical payload, a newline, the HTML page's sha256."""
    return payload_bytes + b"\n" + html_sha256.encode("ascii")


def signature_status(drill: str, key_fingerprint: str | None) -> str:
    """The line both files carry about the signature."""
    if key_fingerprint is None:
        return f"unsigned: no drills.{drill}.signing_key configured"
    return f"signed: {signing.ALGORITHM} key {key_fingerprint}"


def dump_envelope(envelope: dict[str, Any]) -> bytes:
    """The envelope file's exact bytes (indented, UTF-8, a final newline)."""
    return (json.dumps(envelope, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_evidence(report: DrillReport, *, signing_key: SecretStr | None) -> Evidence:
    """The report's envelope and page, signed when signing_key is given. Raises
    EvidenceError (a value with no JSON form) and SigningKeyError (a key that is not an
    Ed25519 PEM: the message names drills.<name>.signing_key, never the key)."""
    key = (
        signing.load_signing_key(signing_key, drill=report.drill)
        if signing_key is not None
        else None
    )
    raw_key = signing.raw_public_key(key.public_key()) if key else None
    key_fingerprint = signing.fingerprint(raw_key) if raw_key else None
    status = signature_status(report.drill, key_fingerprint)

    payload = report.to_dict()
    payload_bytes = canonical(payload)
    report_sha256 = sha256_hex(payload_bytes)
    html_bytes = render_html(payload, report_sha256=report_sha256, signed=status).encode()
    html_sha256 = sha256_hex(html_bytes)

    signature: dict[str, str] | None = None
    if key is not None and raw_key is not None and key_fingerprint is not None:
        signature = {
            "algorithm": signing.ALGORITHM,
            "public_key": signing.b64(raw_key),
            "key_fingerprint": key_fingerprint,
            "value": signing.sign(key, signed_message(payload_bytes, html_sha256)),
        }
    envelope = {
        "schema": ENVELOPE_SCHEMA,
        "signature_status": status,
        "report_sha256": report_sha256,
        "html_sha256": html_sha256,
        "signature": signature,
        "report": payload,
    }
    return Evidence(
        drill_id=report.drill_id,
        json_bytes=dump_envelope(envelope),
        html_bytes=html_bytes,
        report_sha256=report_sha256,
        html_sha256=html_sha256,
        signed=signature is not None,
        key_fingerprint=key_fingerprint,
    )


def write_report(
    report: DrillReport,
    *,
    signing_key: SecretStr | None,
    report_dir: Path | None,
    store: ObjectStore | None,
) -> ReportFiles:
    """Build the report's JSON envelope and HTML page and write both into report_dir
    (created if missing; each file replaced atomically) and into the store under
    ``drills/drill-<id>.json`` and ``.html``; the page first, so whoever sees the JSON finds
    its page. Returns where they went and their digests. Raises EvidenceError (no place to
    write, an unusable drill id, a directory that cannot be written), SigningKeyError and
    StorageError."""
    _check_destination(report, report_dir=report_dir, store=store)
    evidence = build_evidence(report, signing_key=signing_key)
    stem = file_stem(report.drill_id)
    json_path = html_path = None
    if report_dir is not None:
        html_path = _write_file(report_dir / f"{stem}.html", evidence.html_bytes)
        json_path = _write_file(report_dir / f"{stem}.json", evidence.json_bytes)
    json_key = html_key = None
    if store is not None:
        html_key, json_key = f"{STORE_PREFIX}{stem}.html", f"{STORE_PREFIX}{stem}.json"
        store.put_bytes(html_key, evidence.html_bytes)
        store.put_bytes(json_key, evidence.json_bytes)
    log.info(
        "drill_report_written",
        drill_id=report.drill_id,
        outcome=report.outcome,
        signed=evidence.signed,
        key_fingerprint=evidence.key_fingerprint,
        report_sha256=evidence.report_sha256,
        path=str(json_path) if json_path else None,
        store_key=json_key,
    )
    return ReportFiles(
        drill_id=report.drill_id,
        json_path=json_path,
        html_path=html_path,
        store_url=store.url if store is not None else None,
        json_key=json_key,
        html_key=html_key,
        report_sha256=evidence.report_sha256,
        html_sha256=evidence.html_sha256,
        signed=evidence.signed,
        key_fingerprint=evidence.key_fingerprint,
    )


def _check_destination(
    report: DrillReport, *, report_dir: Path | None, store: ObjectStore | None
) -> None:
    if report_dir is None and store is None:
        raise EvidenceError(
            f"drill report {report.drill_id} has nowhere to go: "
            f"set drills.{report.drill}.report_dir or drills.{report.drill}.storage"
        )
    if not _DRILL_ID.fullmatch(report.drill_id):
        raise EvidenceError(
            f"drill id {report.drill_id!r} cannot name a file: "
            "use letters, digits, '.', '_' and '-' only"
        )


def _write_file(path: Path, data: bytes) -> Path:
    def write(out: BinaryIO) -> None:
        os.fchmod(out.fileno(), 0o644)  # a report is for reading: not secret, unlike its key
        out.write(data)

    try:
        atomic_write(path, write)
    except OSError as exc:
        raise EvidenceError(
            f"cannot write drill report {path}: {exc.strerror or exc}; "
            "check the report directory and its permissions"
        ) from None
    return path
