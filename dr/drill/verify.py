"""Checking a drill's evidence: is the JSON envelope and its HTML page what kafka-dr wrote?

Every problem found is one line naming the file and what is wrong with it; a report is ok
only when there is none. A missing signature is not a problem by itself (the report says it
is unsigned), unless a public key was given to check it against.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from dr.drill import signing
from dr.drill.evidence import (
    ENVELOPE_SCHEMA,
    EvidenceError,
    canonical,
    dump_envelope,
    sha256_hex,
    signature_status,
    signed_message,
)
from dr.drill.html import REPORT_SHA256_META
from dr.drill.model import SCHEMA
from dr.errors import DrError

_SHA256 = re.compile(r"[0-9a-f]{64}")
_RAW_KEY_BYTES = 32
_SIGNATURE_BYTES = 64


class ReportUnreadable(DrError):
    """The report to verify cannot be read at all (exit code 2, not 1)."""


@dataclass(frozen=True)
class Verification:
    """What verify_report found: ok when no problem was found; each problem is one line
    naming the file at fault. signed/key_fingerprint describe the envelope's signature,
    drill_id/outcome its report (None where the envelope could not tell)."""

    ok: bool
    problems: tuple[str, ...]
    signed: bool
    key_fingerprint: str | None
    drill_id: str | None
    outcome: str | None
    json_path: Path
    html_path: Path


@dataclass(frozen=True)
class _Envelope:
    report: dict[str, Any]
    report_sha256: str
    html_sha256: str
    status: str
    signature: dict[str, Any] | None


def verify_report(path: Path, *, public_key_pem: bytes | None = None) -> Verification:
    """Check the report at path (its .json envelope or its .html page; the other is found
    beside it under the same stem): the JSON parses and is laid out as written, report_sha256
    matches the payload, the signature (if any) is valid, the page's sha256 is html_sha256 and
    the page names report_sha256; when public_key_pem (a public key or a private key PEM) is
    given, the report must be signed by that key. Raises ReportUnreadable when the report
    cannot be read (a missing JSON, a file that is neither .json nor .html) and
    SigningKeyError when public_key_pem is not an Ed25519 key."""
    json_path, html_path = _pair(path)
    try:
        json_bytes = json_path.read_bytes()
    except OSError as exc:
        raise ReportUnreadable(f"cannot read drill report {json_path}: {exc.strerror}") from None
    expected = signing.load_public_key(public_key_pem) if public_key_pem is not None else None

    problems: list[str] = []
    envelope = _parse(json_bytes, json_path, problems)
    if envelope is None:
        return Verification(False, tuple(problems), False, None, None, None, json_path, html_path)
    key_fingerprint = _check_signature(envelope, json_path, problems)
    _check_expected_key(envelope, expected, json_path, problems)
    _check_page(envelope, html_path, json_path, problems)
    drill_id, outcome = envelope.report.get("drill_id"), envelope.report.get("outcome")
    return Verification(
        ok=not problems,
        problems=tuple(problems),
        signed=envelope.signature is not None,
        key_fingerprint=key_fingerprint,
        drill_id=drill_id if isinstance(drill_id, str) else None,
        outcome=outcome if isinstance(outcome, str) else None,
        json_path=json_path,
        html_path=html_path,
    )


def _pair(path: Path) -> tuple[Path, Path]:
    if path.suffix not in (".json", ".html"):
        raise ReportUnreadable(f"{path} is not a drill report: give its .json or .html file")
    return path.with_suffix(".json"), path.with_suffix(".html")


def _parse(data: bytes, where: Path, problems: list[str]) -> _Envelope | None:
    """The envelope's fields when data is an envelope laid out as kafka-dr writes it and its
    report matches report_sha256; None (with the problem noted) when it cannot be read."""
    try:
        raw = json.loads(data.decode())
    except (UnicodeDecodeError, ValueError) as exc:
        problems.append(f"{where}: not a JSON document ({exc})")
        return None
    if not isinstance(raw, dict) or raw.get("schema") != ENVELOPE_SCHEMA:
        problems.append(f"{where}: not a drill evidence envelope (schema {ENVELOPE_SCHEMA})")
        return None
    envelope = _fields(raw)
    if envelope is None:
        problems.append(f"{where}: a field of the envelope is missing or of the wrong type")
        return None
    try:
        relaid = dump_envelope(raw)
        payload_sha256 = sha256_hex(canonical(envelope.report))
    except (ValueError, EvidenceError):
        problems.append(f"{where}: holds a value JSON cannot carry (NaN or infinity)")
        return None
    if relaid != data:
        problems.append(f"{where}: not laid out as kafka-dr writes it (the file was edited)")
    if payload_sha256 != envelope.report_sha256:
        problems.append(f"{where}: the report does not match report_sha256 (it was changed)")
    if envelope.report.get("schema") != SCHEMA:
        problems.append(f"{where}: the report's schema is not {SCHEMA}")
    return envelope


def _fields(raw: dict[str, Any]) -> _Envelope | None:
    report, signature = raw.get("report"), raw.get("signature")
    texts = [raw.get(k) for k in ("report_sha256", "html_sha256", "signature_status")]
    if not isinstance(report, dict) or not all(isinstance(t, str) for t in texts):
        return None
    if not all(_SHA256.fullmatch(str(t)) for t in texts[:2]):
        return None
    if signature is not None and not (
        isinstance(signature, dict) and all(isinstance(v, str) for v in signature.values())
    ):
        return None
    return _Envelope(report, str(texts[0]), str(texts[1]), str(texts[2]), signature)


def _check_signature(envelope: _Envelope, where: Path, problems: list[str]) -> str | None:
    """The signing key's fingerprint when the envelope is signed (noting any problem)."""
    drill = str(envelope.report.get("drill"))
    signature = envelope.signature
    if signature is None:
        if envelope.status != signature_status(drill, None):
            problems.append(f"{where}: signature_status does not match an unsigned report")
        return None
    raw_key = signing.strict_b64decode(str(signature.get("public_key")))
    value = signing.strict_b64decode(str(signature.get("value")))
    fingerprint = signing.fingerprint(raw_key) if raw_key is not None else None
    if signature.get("algorithm") != signing.ALGORITHM or set(signature) != {
        "algorithm",
        "public_key",
        "key_fingerprint",
        "value",
    }:
        problems.append(f"{where}: the signature is not an {signing.ALGORITHM} signature")
    if raw_key is None or len(raw_key) != _RAW_KEY_BYTES:
        problems.append(f"{where}: the signature's public_key is not a raw Ed25519 key")
        return None
    if signature.get("key_fingerprint") != fingerprint:
        problems.append(f"{where}: key_fingerprint is not the fingerprint of public_key")
    if envelope.status != signature_status(drill, fingerprint):
        problems.append(f"{where}: signature_status does not match the signature")
    message = signed_message(canonical(envelope.report), envelope.html_sha256)
    if value is None or len(value) != _SIGNATURE_BYTES:
        problems.append(f"{where}: the signature's value is not an Ed25519 signature")
    elif not signing.signature_valid(raw_key, value, message):
        problems.append(f"{where}: the signature does not match the report and its page")
    return fingerprint


def _check_expected_key(
    envelope: _Envelope,
    expected: Ed25519PublicKey | None,
    where: Path,
    problems: list[str],
) -> None:
    if expected is None:
        return
    wanted = signing.raw_public_key(expected)
    if envelope.signature is None:
        problems.append(f"{where}: unsigned, but a public key was given to check it against")
        return
    actual = signing.strict_b64decode(str(envelope.signature.get("public_key")))
    if actual != wanted:
        problems.append(
            f"{where}: signed by another key than the one given "
            f"(given {signing.fingerprint(wanted)})"
        )


def _check_page(envelope: _Envelope, html_path: Path, where: Path, problems: list[str]) -> None:
    try:
        page = html_path.read_bytes()
    except FileNotFoundError:
        problems.append(f"{html_path}: missing (the page of {where.name})")
        return
    except OSError as exc:
        problems.append(f"{html_path}: cannot be read ({exc.strerror})")
        return
    if sha256_hex(page) != envelope.html_sha256:
        problems.append(f"{html_path}: its sha256 is not html_sha256 of {where.name} (changed)")
    named = _embedded_report_sha256(page)
    if named != envelope.report_sha256:
        problems.append(
            f"{html_path}: names report sha256 {named or 'none'}, not report_sha256 of {where.name}"
        )


class _MetaFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "meta" and values.get("name") == REPORT_SHA256_META:
            self.found.append(values.get("content") or "")


def _embedded_report_sha256(page: bytes) -> str | None:
    """The report sha256 the page names in its head's meta tag (None when it names none, or
    two). Only the head is read: the body is long, and bound by html_sha256 anyway."""
    finder = _MetaFinder()
    finder.feed(page.split(b"</head>", 1)[0].decode(errors="replace"))
    finder.close()
    return finder.found[0] if len(finder.found) == 1 else None
