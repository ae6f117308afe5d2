"""Verifying and reading an encrypted backup: stored checksums without the key, GCM and
plaintext checksums with it."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from handmade import CLUSTER_ID, JOB, T0, encode, entry, reseal_in_place

from dr.backup.catalog import (
    Manifest,
    SegmentRef,
    manifest_key,
    metadata_key,
    new_backup_id,
    segment_key,
    write_manifest,
)
from dr.backup.copy import BackupError
from dr.backup.restore_read import DamagedSegment, load_checked
from dr.backup.runner import check_encryption_kept
from dr.backup.verify import verify_backup
from dr.storage import EncryptedStore, EncryptionError, Keyring, LocalStore, put_encrypted

KEY = os.urandom(32)
WHERE = "storage.lab.encryption.keys"


@dataclass(frozen=True)
class Encrypted:
    plain: LocalStore  # the same directory, opened without the keys
    store: EncryptedStore
    manifest: Manifest

    def keyed(self, key: bytes) -> EncryptedStore:
        return EncryptedStore(self.plain, Keyring("k1", {"k1": key}, WHERE))


def sealed_segment(store: EncryptedStore, start: int, end: int) -> SegmentRef:
    data, count = encode(
        range(start, end), topic="orders", partition=0, start=start, end=end, timestamp_ms=1
    )
    key = segment_key(JOB, "orders", 0, start, "vTXbZr5tQdu8x8Lq8VdPbw")
    stored = put_encrypted(store, key, data)
    return SegmentRef(
        key=key,
        start_offset=start,
        end_offset=end,
        records=count,
        bytes=len(stored),
        sha256=hashlib.sha256(stored).hexdigest(),
        first_timestamp=1,
        last_timestamp=1,
        plain_sha256=hashlib.sha256(data).hexdigest(),
    )


@pytest.fixture
def backup(tmp_path: Path) -> Encrypted:
    plain = LocalStore(tmp_path / "store")
    store = EncryptedStore(plain, Keyring("k1", {"k1": KEY}, WHERE))
    segments = (sealed_segment(store, 0, 5), sealed_segment(store, 5, 9))
    backup_id = new_backup_id(JOB, T0)
    metadata = json.dumps({"format": 1, "topics": {}}).encode()
    stored_metadata = put_encrypted(store, metadata_key(JOB, backup_id), metadata)
    manifest = Manifest(
        backup_id=backup_id,
        job=JOB,
        cluster="primary",
        cluster_id=CLUSTER_ID,
        started_at=T0.isoformat(),
        finished_at=T0.isoformat(),
        parent=None,
        compression="zstd",
        records=9,
        bytes=sum(s.bytes for s in segments),
        metadata_key=metadata_key(JOB, backup_id),
        metadata_sha256=hashlib.sha256(stored_metadata).hexdigest(),
        metadata_plain_sha256=hashlib.sha256(metadata).hexdigest(),
        partitions=(entry("orders", 0, segments, topic_id="vTXbZr5tQdu8x8Lq8VdPbw"),),
        sequence=1,
    )
    return Encrypted(plain, store, write_manifest(store, manifest))


def problems(store: LocalStore | EncryptedStore, manifest: Manifest, deep: bool) -> list[str]:
    return [str(p) for p in verify_backup(store, manifest, deep=deep).problems]


def test_the_manifest_records_stored_and_plaintext_checksums_and_stays_readable(
    backup: Encrypted,
) -> None:
    raw = json.loads(backup.plain.get_bytes(manifest_key(JOB, backup.manifest.backup_id)))
    segment = raw["partitions"][0]["segments"][0]

    assert segment["sha256"] != segment["plain_sha256"]
    assert raw["metadata_plain_sha256"] == backup.manifest.metadata_plain_sha256
    assert backup.plain.get_bytes(segment["key"]).startswith(b"KDRENC")


def test_an_encrypted_backup_verifies_without_the_key_and_deeply_with_it(
    backup: Encrypted,
) -> None:
    assert problems(backup.plain, backup.manifest, deep=False) == []
    assert problems(backup.store, backup.manifest, deep=False) == []
    assert problems(backup.store, backup.manifest, deep=True) == []


def test_a_flipped_ciphertext_byte_is_found_without_the_key(backup: Encrypted) -> None:
    key = backup.manifest.partitions[0].segments[1].key
    data = bytearray(backup.plain.get_bytes(key))
    data[-30] ^= 0x01
    backup.plain.put_bytes(key, bytes(data))

    assert problems(backup.plain, backup.manifest, deep=False) == [
        f"{key}: checksum mismatch (the object was altered)"
    ]


def test_a_deep_verify_without_the_key_names_the_key_it_needs(backup: Encrypted) -> None:
    found = problems(backup.plain, backup.manifest, deep=True)

    assert len(found) == 3  # the metadata and both segments
    assert all("is encrypted with key 'k1'" in p for p in found)


def test_a_deep_verify_with_the_wrong_key_fails_authentication_of_each_object(
    backup: Encrypted,
) -> None:
    found = problems(backup.keyed(os.urandom(32)), backup.manifest, deep=True)
    seg = backup.manifest.partitions[0].segments[0].key

    assert len(found) == 3
    assert (
        f"{seg}: failed authentication with key 'k1': wrong key, or the object was "
        in "\n".join(found)
    )


def test_a_swap_with_the_checksums_rewritten_to_match_is_caught_only_with_the_key(
    backup: Encrypted,
) -> None:
    """Someone without the key moves segment A over segment B and makes the manifest agree:
    the stored checksums cannot tell; GCM, bound to each object's key, does."""
    a, b = backup.manifest.partitions[0].segments
    backup.plain.put_bytes(b.key, backup.plain.get_bytes(a.key))
    forged_b = replace(b, sha256=a.sha256, bytes=a.bytes, plain_sha256=a.plain_sha256)
    part = replace(backup.manifest.partitions[0], segments=(a, forged_b))
    forged = reseal_in_place(backup.plain, replace(backup.manifest, partitions=(part,)))
    # Its sequence entry still names the old checksum: re-point it too.
    entry_key = f"{JOB}/sequence/000000000001.json"
    backup.plain.put_bytes(
        entry_key,
        json.dumps({"backup_id": forged.backup_id, "manifest_sha256": forged.sha256}).encode(),
    )

    assert problems(backup.plain, forged, deep=False) == []
    assert problems(backup.store, forged, deep=True) == [
        f"{b.key}: failed authentication with key 'k1': wrong key, or the object was altered "
        "or moved"
    ]
    with pytest.raises(EncryptionError, match="failed authentication"):
        load_checked(backup.store, part, forged_b)


def test_a_restore_reads_an_encrypted_segment_and_refuses_the_wrong_key(
    backup: Encrypted,
) -> None:
    part = backup.manifest.partitions[0]
    seg = part.segments[0]

    checked = load_checked(backup.store, part, seg)
    assert [r[0] for r in checked.records] == [0, 1, 2, 3, 4]
    with pytest.raises(EncryptionError) as caught:
        load_checked(backup.keyed(os.urandom(32)), part, seg)
    assert str(caught.value) == (
        f"object '{seg.key}' failed authentication with key 'k1': wrong key, or the object "
        "was altered or moved"
    )
    with pytest.raises(EncryptionError, match="is encrypted with key 'k1'"):
        load_checked(backup.plain, part, seg)


def test_a_restore_refuses_a_segment_whose_plaintext_is_not_the_one_recorded(
    backup: Encrypted,
) -> None:
    part = backup.manifest.partitions[0]
    seg = replace(part.segments[0], plain_sha256="0" * 64)

    with pytest.raises(DamagedSegment, match="decrypts to other bytes than were stored"):
        load_checked(backup.store, part, seg)


def test_a_run_without_keys_refuses_to_continue_an_encrypted_job(backup: Encrypted) -> None:
    with pytest.raises(BackupError) as caught:
        check_encryption_kept(backup.plain, backup.manifest, job=JOB, storage="lab")

    assert str(caught.value) == (
        f"job '{JOB}': its latest backup {backup.manifest.backup_id} is encrypted, and "
        "storage.lab has no encryption keys: this run would store records unencrypted "
        "(restore storage.lab.encryption, or back up into another store)"
    )
    check_encryption_kept(backup.store, backup.manifest, job=JOB, storage="lab")
    plain = replace(backup.manifest, metadata_plain_sha256=None)
    check_encryption_kept(backup.plain, plain, job=JOB, storage="lab")
