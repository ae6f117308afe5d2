"""The drill evidence: the JSON envelope and its HTML page, signed, written and verified."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from drill_sample import sample_report
from pydantic import SecretStr

from dr.drill.evidence import EvidenceError, build_evidence, write_report
from dr.drill.signing import SigningKeyError, generate_signing_key
from dr.drill.verify import ReportUnreadable, verify_report
from dr.storage.local import LocalStore

PRIVATE_PEM, PUBLIC_PEM = generate_signing_key()
KEY = SecretStr(PRIVATE_PEM.decode())
STEM = "drill-20261201T040000Z-7f3a"


def write_signed(report_dir: Path, **changes: object) -> Path:
    files = write_report(
        sample_report(**changes), signing_key=KEY, report_dir=report_dir, store=None
    )
    assert files.json_path is not None
    return files.json_path


def write_unsigned(report_dir: Path) -> Path:
    files = write_report(sample_report(), signing_key=None, report_dir=report_dir, store=None)
    assert files.json_path is not None
    return files.json_path


def test_a_signed_report_verifies_from_its_json_and_from_its_page(tmp_path: Path) -> None:
    json_path = write_signed(tmp_path)

    for given in (json_path, json_path.with_suffix(".html")):
        result = verify_report(given, public_key_pem=PUBLIC_PEM)
        assert result.problems == ()
        assert result.ok and result.signed
        assert result.drill_id == "20261201T040000Z-7f3a"
        assert result.outcome == "failed"
        assert result.json_path == json_path


def test_the_envelope_holds_the_report_its_digests_and_an_ed25519_signature(
    tmp_path: Path,
) -> None:
    json_path = write_signed(tmp_path)
    envelope = json.loads(json_path.read_text())
    payload = json.loads(json.dumps(sample_report().to_dict()))
    canonical = json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()
    raw_key = base64.b64decode(envelope["signature"]["public_key"])

    assert envelope["schema"] == "kafka-dr.drill-evidence/1"
    assert envelope["report"] == payload
    assert envelope["report_sha256"] == hashlib.sha256(canonical).hexdigest()
    page = json_path.with_suffix(".html").read_bytes()
    assert envelope["html_sha256"] == hashlib.sha256(page).hexdigest()
    assert envelope["signature"]["algorithm"] == "ed25519"
    assert len(raw_key) == 32
    assert envelope["signature"]["key_fingerprint"] == hashlib.sha256(raw_key).hexdigest()[:16]
    assert (
        envelope["signature_status"]
        == f"signed: ed25519 key {envelope['signature']['key_fingerprint']}"
    )


def test_an_unsigned_report_says_so_and_still_verifies_as_intact(tmp_path: Path) -> None:
    json_path = write_unsigned(tmp_path)
    envelope = json.loads(json_path.read_text())
    page = json_path.with_suffix(".html").read_text()

    assert envelope["signature"] is None
    assert envelope["signature_status"] == "unsigned: no drills.nightly.signing_key configured"
    assert "unsigned: no drills.nightly.signing_key configured" in page
    result = verify_report(json_path)
    assert result.ok and not result.signed and result.key_fingerprint is None


def test_an_unsigned_report_fails_when_a_public_key_is_expected(tmp_path: Path) -> None:
    result = verify_report(write_unsigned(tmp_path), public_key_pem=PUBLIC_PEM)

    assert not result.ok
    assert any("unsigned, but a public key was given" in p for p in result.problems)


def test_a_report_signed_by_another_key_fails_against_the_expected_one(tmp_path: Path) -> None:
    other_private, _ = generate_signing_key()
    files = write_report(
        sample_report(),
        signing_key=SecretStr(other_private.decode()),
        report_dir=tmp_path,
        store=None,
    )
    assert files.json_path is not None

    assert verify_report(files.json_path).ok  # intact, signed by a key of its own
    result = verify_report(files.json_path, public_key_pem=PUBLIC_PEM)
    assert not result.ok
    assert any("signed by another key" in p for p in result.problems)


def test_the_expected_key_may_be_given_as_the_private_key_file(tmp_path: Path) -> None:
    assert verify_report(write_signed(tmp_path), public_key_pem=PRIVATE_PEM).ok


def one_byte_changes(data: bytes, positions: Iterator[int]) -> Iterator[tuple[int, bytes]]:
    """data with one byte changed at each position: its lowest bit flipped, and where it is
    JSON whitespace or a letter, also changed into an equivalent a lenient reader accepts
    (another whitespace, the other case)."""
    for pos in positions:
        original = data[pos]
        replacements = {original ^ 0x01}
        if chr(original) in " \n":
            replacements |= {ord("\t"), ord("\r"), ord(" ") if original != ord(" ") else 10}
        if chr(original).isalpha():
            replacements.add(ord(chr(original).swapcase()))
        for new in replacements - {original}:
            yield pos, data[:pos] + bytes([new]) + data[pos + 1 :]


def test_one_changed_byte_anywhere_in_the_json_is_found(tmp_path: Path) -> None:
    json_path = write_signed(tmp_path, history=(), past_drills=())  # smaller: fewer bytes
    data = json_path.read_bytes()
    head = range(0, 700)  # the envelope's own fields and the signature, every byte
    spaces = [i for i, b in enumerate(data) if b in b" \n"][::13]
    rest = range(700, len(data), 37)
    positions = sorted({*head, *spaces, *rest, len(data) - 1})
    assert len(positions) > 1000

    for pos, changed in one_byte_changes(data, iter(positions)):
        json_path.write_bytes(changed)
        result = verify_report(json_path, public_key_pem=None)
        assert not result.ok, f"byte {pos} changed to {changed[pos]!r} went unnoticed"
        assert all(p.startswith(str(json_path)) or ".html" in p for p in result.problems)


def test_one_changed_byte_anywhere_in_the_page_is_found(tmp_path: Path) -> None:
    json_path = write_signed(tmp_path, history=())
    html_path = json_path.with_suffix(".html")
    page = html_path.read_bytes()
    body = page.index(b"<body>")
    meta = page.index(b"kafka-dr-report-sha256")
    svg = page.index(b"<svg")
    targeted = [*range(meta, meta + 100), *range(body, body + 400), *range(svg, svg + 200)]
    positions = sorted({*targeted, *range(0, len(page), 263), len(page) - 1})

    for pos, changed in one_byte_changes(page, iter(positions)):
        html_path.write_bytes(changed)
        result = verify_report(json_path)
        assert not result.ok, f"byte {pos} of the page changed unnoticed"
        assert any(p.startswith(str(html_path)) for p in result.problems)


def test_a_signature_byte_that_only_changes_unused_base64_bits_is_found(tmp_path: Path) -> None:
    json_path = write_signed(tmp_path)
    data = json_path.read_bytes()
    value = json.loads(data)["signature"]["value"]
    assert value.endswith("==")  # 64 bytes: the last character carries 4 unused bits
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = value[-3]
    twin = alphabet[alphabet.index(last) ^ 0x01]
    assert base64.b64decode(value[:-3] + twin + "==") == base64.b64decode(value)
    json_path.write_bytes(data.replace(value.encode(), (value[:-3] + twin + "==").encode()))

    problems = verify_report(json_path).problems
    assert problems == (f"{json_path}: the signature's value is not an Ed25519 signature",)


def test_a_changed_value_re_laid_out_by_hand_is_still_found(tmp_path: Path) -> None:
    json_path = write_signed(tmp_path)
    envelope = json.loads(json_path.read_text())
    envelope["report"]["outcome"] = "passed"
    json_path.write_text(json.dumps(envelope, indent=2, ensure_ascii=False) + "\n")

    problems = verify_report(json_path).problems
    assert any("does not match report_sha256" in p for p in problems)


def test_a_digest_edited_into_something_else_than_hex_is_a_problem(tmp_path: Path) -> None:
    json_path = write_signed(tmp_path)
    envelope = json.loads(json_path.read_text())
    envelope["html_sha256"] = "é" * 64
    json_path.write_text(json.dumps(envelope, indent=2, ensure_ascii=False) + "\n")

    problems = verify_report(json_path).problems
    assert problems == (f"{json_path}: a field of the envelope is missing or of the wrong type",)


def test_a_missing_page_is_a_problem_of_the_report(tmp_path: Path) -> None:
    json_path = write_signed(tmp_path)
    json_path.with_suffix(".html").unlink()

    result = verify_report(json_path)
    assert not result.ok
    assert result.problems == (
        f"{json_path.with_suffix('.html')}: missing (the page of {STEM}.json)",
    )


def test_a_page_without_its_json_cannot_be_verified(tmp_path: Path) -> None:
    json_path = write_signed(tmp_path)
    json_path.unlink()

    with pytest.raises(ReportUnreadable, match="cannot read drill report") as caught:
        verify_report(json_path.with_suffix(".html"))
    assert caught.value.exit_code == 2


def test_a_file_that_is_neither_json_nor_html_is_not_a_report(tmp_path: Path) -> None:
    with pytest.raises(ReportUnreadable, match="not a drill report"):
        verify_report(tmp_path / "drill-x.txt")


def test_a_json_that_is_not_an_envelope_is_tampered_not_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "drill-x.json"
    path.write_text('{"schema": "something else"}')

    result = verify_report(path)
    assert not result.ok and result.drill_id is None
    assert result.problems == (
        f"{path}: not a drill evidence envelope (schema kafka-dr.drill-evidence/1)",
    )


def test_a_renamed_pair_still_verifies_and_tells_which_drill_it_holds(tmp_path: Path) -> None:
    json_path = write_signed(tmp_path)
    renamed = tmp_path / "downloaded.json"
    json_path.rename(renamed)
    json_path.with_suffix(".html").rename(renamed.with_suffix(".html"))

    result = verify_report(renamed)
    assert result.ok and result.drill_id == "20261201T040000Z-7f3a"


def private_pem_of(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.mark.parametrize(
    "pem",
    [
        private_pem_of(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        private_pem_of(ec.generate_private_key(ec.SECP256R1())),
        b"-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5IGF0IGFsbCwgc2VjcmV0IHRob3VnaA==\n"
        b"-----END PRIVATE KEY-----\n",
        b"hunter2-a-password-pasted-where-the-key-goes",
        PUBLIC_PEM,
        b"",
    ],
    ids=["rsa", "ec", "garbage-pem", "password", "public-key", "empty-file"],
)
def test_a_signing_key_that_is_not_ed25519_names_signing_key_and_never_the_key(
    pem: bytes, tmp_path: Path
) -> None:
    with pytest.raises(SigningKeyError) as caught:
        write_report(
            sample_report(), signing_key=SecretStr(pem.decode()), report_dir=tmp_path, store=None
        )

    message = str(caught.value)
    assert "drills.nightly.signing_key" in message
    assert "\n" not in message
    for line in pem.decode().splitlines():
        if "-----" not in line:
            assert line not in message
    assert list(tmp_path.iterdir()) == []


def test_the_private_key_is_in_no_file_written(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    write_report(sample_report(), signing_key=KEY, report_dir=tmp_path / "dir", store=store)
    key = serialization.load_pem_private_key(PRIVATE_PEM, None)
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    secrets = [PRIVATE_PEM.splitlines()[1], base64.b64encode(raw), raw.hex().encode(), raw]

    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) == 4
    for path in written:
        data = path.read_bytes()
        assert not any(secret in data for secret in secrets), path


def test_write_report_puts_the_same_files_in_the_store_under_drills(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    files = write_report(sample_report(), signing_key=KEY, report_dir=tmp_path / "dir", store=store)

    assert files.json_key == f"drills/{STEM}.json"
    assert files.html_key == f"drills/{STEM}.html"
    assert files.store_url == store.url
    assert files.json_path == tmp_path / "dir" / f"{STEM}.json"
    assert files.html_path is not None and files.json_path is not None
    assert store.get_bytes(files.json_key) == files.json_path.read_bytes()
    assert store.get_bytes(files.html_key) == files.html_path.read_bytes()
    assert files.signed and files.key_fingerprint is not None
    assert files.report_sha256 == json.loads(files.json_path.read_text())["report_sha256"]


def test_write_report_to_the_store_alone_writes_no_directory(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    files = write_report(sample_report(), signing_key=None, report_dir=None, store=store)

    assert files.json_path is None and files.html_path is None
    assert [o.key for o in store.list("drills/")] == [f"drills/{STEM}.html", f"drills/{STEM}.json"]


def test_write_report_creates_the_report_directory_and_leaves_no_temporary(tmp_path: Path) -> None:
    report_dir = tmp_path / "a" / "b"
    write_report(sample_report(), signing_key=None, report_dir=report_dir, store=None)

    assert sorted(p.name for p in report_dir.iterdir()) == [f"{STEM}.html", f"{STEM}.json"]
    assert (report_dir / f"{STEM}.json").stat().st_mode & 0o777 == 0o644


def test_write_report_needs_a_directory_or_a_store() -> None:
    with pytest.raises(
        EvidenceError, match=r"drills\.nightly\.report_dir or drills\.nightly\.storage"
    ):
        write_report(sample_report(), signing_key=None, report_dir=None, store=None)


def test_a_drill_id_that_cannot_name_a_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EvidenceError, match="cannot name a file"):
        write_report(
            sample_report(drill_id="../../etc/x"), signing_key=None, report_dir=tmp_path, store=None
        )


def test_a_value_with_no_json_form_is_refused() -> None:
    with pytest.raises(EvidenceError, match="JSON cannot carry"):
        build_evidence(sample_report(config_sha256=float("nan")), signing_key=None)


def test_the_same_report_signed_twice_carries_the_same_report_sha256() -> None:
    first = build_evidence(sample_report(), signing_key=KEY)
    second = build_evidence(sample_report(), signing_key=KEY)

    assert first.report_sha256 == second.report_sha256
    assert first.key_fingerprint == second.key_fingerprint
