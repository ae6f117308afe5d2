"""The encryption envelope: round trip, tampering, swaps, wrong and missing keys, rotation;
the documented decryption snippet; the store that seals backup objects."""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag

from dr.storage import EncryptedStore, EncryptionError, Keyring, LocalStore, open_stored
from dr.storage.crypt import header_key_id, is_encrypted, seal, unseal
from dr.storage.encrypted import expects_encryption, get_stored, put_encrypted

K1, K2 = os.urandom(32), os.urandom(32)
WHERE = "storage.lab.encryption.keys"
SEG = "orders/data/orders/vTXbZr5tQdu8x8Lq8VdPbw/0/00000000000000000000.seg"
OTHER = "orders/data/orders/vTXbZr5tQdu8x8Lq8VdPbw/0/00000000000000000100.seg"
PLAINTEXT = b"KDRSEG\x00\x01" + b"records of the partition " * 40
DOC = Path(__file__).resolve().parents[2] / "docs" / "backup-format.md"


def ring(current: str = "k1", **keys: bytes) -> Keyring:
    return Keyring(current, keys or {"k1": K1}, WHERE)


def test_a_sealed_object_opens_to_its_plaintext() -> None:
    sealed = seal(ring(), SEG, PLAINTEXT)

    assert is_encrypted(sealed)
    assert PLAINTEXT[8:40] not in sealed
    assert unseal(ring(), SEG, sealed) == PLAINTEXT


def test_each_object_gets_a_fresh_nonce() -> None:
    assert seal(ring(), SEG, PLAINTEXT) != seal(ring(), SEG, PLAINTEXT)


@pytest.mark.parametrize("where", [-1, -20, 30], ids=["tag", "ciphertext", "nonce"])
def test_a_flipped_byte_fails_authentication_naming_object_and_key(where: int) -> None:
    sealed = bytearray(seal(ring(), SEG, PLAINTEXT))
    sealed[where] ^= 0x01

    with pytest.raises(EncryptionError) as caught:
        unseal(ring(), SEG, bytes(sealed))

    assert str(caught.value) == (
        f"object '{SEG}' failed authentication with key 'k1': wrong key, or the object was "
        "altered or moved"
    )


def test_an_object_stored_under_another_key_fails_authentication() -> None:
    a = seal(ring(), SEG, PLAINTEXT)

    with pytest.raises(EncryptionError, match=f"object '{re.escape(OTHER)}' failed auth"):
        unseal(ring(), OTHER, a)  # A's bytes under B's key: a swap


def test_a_header_rewritten_to_name_another_listed_key_fails_authentication() -> None:
    both = ring("k1", k1=K1, k2=K1)  # even the same key bytes: the id is authenticated
    sealed = seal(both, SEG, PLAINTEXT).replace(b"k1", b"k2", 1)

    with pytest.raises(EncryptionError, match="failed authentication with key 'k2'"):
        unseal(both, SEG, sealed)


def test_the_wrong_key_is_a_clean_one_line_error() -> None:
    sealed = seal(ring(), SEG, PLAINTEXT)

    with pytest.raises(EncryptionError) as caught:
        unseal(ring(k1=os.urandom(32)), SEG, sealed)

    assert "failed authentication with key 'k1': wrong key" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_key_id_the_settings_do_not_list_is_named_with_where_to_list_it() -> None:
    sealed = seal(ring("k2", k2=K2), SEG, PLAINTEXT)

    with pytest.raises(EncryptionError) as caught:
        unseal(ring(), SEG, sealed)

    assert str(caught.value) == (
        f"object '{SEG}' is encrypted with key 'k2', which {WHERE} does not list"
    )


def test_after_rotation_old_objects_open_with_the_old_key_and_new_ones_with_the_current() -> None:
    old = seal(ring("k1", k1=K1), SEG, b"before rotation")
    rotated = ring("k2", k1=K1, k2=K2)
    new = seal(rotated, OTHER, b"after rotation")

    assert (header_key_id(old), header_key_id(new)) == ("k1", "k2")
    assert unseal(rotated, SEG, old) == b"before rotation"
    assert unseal(rotated, OTHER, new) == b"after rotation"
    with pytest.raises(EncryptionError, match="key 'k2', which"):
        unseal(ring("k1", k1=K1), OTHER, new)  # a host still on the old settings


def test_a_cut_object_is_an_error_not_a_crash() -> None:
    sealed = seal(ring(), SEG, PLAINTEXT)

    with pytest.raises(EncryptionError, match="cut short"):
        unseal(ring(), SEG, sealed[:20])


def test_the_keyring_refuses_a_current_key_it_does_not_hold_and_short_keys() -> None:
    with pytest.raises(EncryptionError, match="does not list the current key 'k9'"):
        Keyring("k9", {"k1": K1}, WHERE)
    with pytest.raises(EncryptionError, match=r"keys\.k1 is not a 256-bit key"):
        Keyring("k1", {"k1": K1[:16]}, WHERE)


def test_key_bytes_never_show_in_a_keyrings_repr() -> None:
    assert K1.hex() not in repr(ring()) and str(K1) not in repr(ring())


# -- the decryption snippet of docs/backup-format.md --------------------------------------


def doc_snippet() -> dict[str, Any]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("### Decrypting an object", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    return namespace


def test_the_documented_snippet_decrypts_what_kafka_dr_seals(tmp_path: Path) -> None:
    snippet = doc_snippet()
    key_file = tmp_path / "k2"
    key_file.write_text(base64.b64encode(K2).decode() + "\n")
    keys = {"k1": K1, "k2": snippet["read_key"](str(key_file))}
    sealed = seal(ring("k2", k1=K1, k2=K2), SEG, PLAINTEXT)

    assert snippet["decrypt"](SEG, sealed, keys) == PLAINTEXT
    assert snippet["decrypt"](SEG, PLAINTEXT, keys) == PLAINTEXT  # a plain object
    with pytest.raises(InvalidTag):
        snippet["decrypt"](OTHER, sealed, keys)


# -- the store ---------------------------------------------------------------------------


def test_an_encrypted_store_seals_backup_objects_and_reads_them_back(tmp_path: Path) -> None:
    plain = LocalStore(tmp_path)
    store = EncryptedStore(plain, ring())

    stored = put_encrypted(store, SEG, PLAINTEXT)

    assert plain.get_bytes(SEG) == stored == get_stored(store, SEG)
    assert is_encrypted(stored)
    assert store.get_bytes(SEG) == PLAINTEXT
    assert open_stored(store, SEG, stored) == PLAINTEXT


def test_other_objects_of_an_encrypted_store_stay_plain(tmp_path: Path) -> None:
    plain = LocalStore(tmp_path)
    store = EncryptedStore(plain, ring())

    store.put_bytes("orders/manifests/x.json", b"{}")
    assert store.put_if_absent("orders/locks/backup.00000001", b"{}")

    assert plain.get_bytes("orders/manifests/x.json") == b"{}"
    assert store.get_bytes("orders/locks/backup.00000001") == b"{}"


def test_objects_stored_before_encryption_stay_readable_unless_refused(tmp_path: Path) -> None:
    plain = LocalStore(tmp_path)
    plain.put_bytes(SEG, PLAINTEXT)

    assert EncryptedStore(plain, ring()).get_bytes(SEG) == PLAINTEXT
    strict = EncryptedStore(plain, ring(), allow_unencrypted_reads=False)
    with pytest.raises(EncryptionError) as caught:
        strict.get_bytes(SEG)
    assert str(caught.value) == (
        f"object '{SEG}' is not encrypted, and storage.lab.encryption.allow_unencrypted_reads "
        "is false"
    )
    plain.put_bytes("orders/manifests/x.json", b"{}")
    assert strict.get_bytes("orders/manifests/x.json") == b"{}"  # manifests are never sealed


def test_a_store_without_keys_names_the_key_an_encrypted_object_needs(tmp_path: Path) -> None:
    plain = LocalStore(tmp_path)
    put_encrypted(EncryptedStore(plain, ring("k2", k2=K2)), SEG, PLAINTEXT)

    with pytest.raises(
        EncryptionError, match=f"object '{re.escape(SEG)}' is encrypted with key 'k2'"
    ):
        open_stored(plain, SEG, get_stored(plain, SEG))


def with_key_id(sealed: bytes, key_id: bytes) -> bytes:
    """The sealed object with its header's key id replaced (as anyone who may write to the
    store can do)."""
    old_len = sealed[8]
    return sealed[:8] + bytes([len(key_id)]) + key_id + sealed[9 + old_len :]


def test_a_forged_key_id_with_control_characters_stays_on_one_printable_line(
    tmp_path: Path,
) -> None:
    forged = with_key_id(seal(ring(), SEG, PLAINTEXT), b"k1\n\x1b[2J\xff")
    plain = LocalStore(tmp_path)

    with pytest.raises(EncryptionError) as unlisted:
        unseal(ring(), SEG, forged)
    with pytest.raises(EncryptionError) as keyless:
        open_stored(plain, SEG, forged)

    shown = "'k1\\x0a\\x1b[2J\\xff'"
    for caught in (unlisted, keyless):
        assert shown in caught.value.message
        assert caught.value.message.isprintable()
    assert header_key_id(forged) == "k1\\x0a\\x1b[2J\\xff"


@pytest.mark.parametrize(
    ("key", "sealed"),
    [
        (SEG, True),
        ("orders/data/orders/0/00000000000000000000.seg", True),
        ("orders/metadata/orders-20240501T120000000000Z.json", True),
        ("orders/manifests/orders-20240501T120000000000Z.json", False),
        ("orders/sequence/000000000001.json", False),
        ("orders/locks/backup.00000001", False),
    ],
)
def test_only_segments_and_metadata_are_expected_encrypted(key: str, sealed: bool) -> None:
    assert expects_encryption(key) is sealed
