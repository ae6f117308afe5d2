"""Client-side encryption of stored objects: the envelope, and the keys that open it.

An encrypted object (format 1) is ``KDRENC``, a uint16 version, a uint8 key-id length, the
key id (ASCII), a fresh 96-bit nonce and the AES-256-GCM ciphertext with its 16-byte tag. The
associated data is the header (magic, version, key id) followed by the object's key in UTF-8:
an object moved to another key, or whose header names another key id, fails authentication.
docs/backup-format.md describes the layout byte by byte.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dr.errors import DrError

MAGIC = b"KDRENC"
VERSION = 1
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
_PREFIX = struct.Struct(">6sHB")  # magic, version, key id length


class EncryptionError(DrError):
    """An encrypted object cannot be opened: unknown key id, wrong key, altered or moved."""


@dataclass(frozen=True)
class Keyring:
    """The keys of one store: ``current`` encrypts new objects, every key listed opens them.

    ``where`` is the config path of the keys (``storage.lab.encryption.keys``), for messages;
    the key bytes never appear in one (nor in repr).
    """

    current: str
    keys: Mapping[str, bytes] = field(repr=False)
    where: str = "storage.encryption.keys"

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise EncryptionError(f"{self.where} does not list the current key '{self.current}'")
        for key_id, key in self.keys.items():
            if len(key) != KEY_BYTES:
                raise EncryptionError(f"{self.where}.{key_id} is not a 256-bit key")
            key_id.encode("ascii")  # ids are ASCII in the header; the config checks it too


def is_encrypted(data: bytes) -> bool:
    """True when data starts like an encrypted object (the ``KDRENC`` magic)."""
    return data[: len(MAGIC)] == MAGIC


def header_key_id(data: bytes) -> str | None:
    """The key id an encrypted object's header names; None when data is not one or is cut."""
    if not is_encrypted(data) or len(data) < _PREFIX.size:
        return None
    _, _, id_len = _PREFIX.unpack_from(data)
    raw = data[_PREFIX.size : _PREFIX.size + id_len]
    if len(raw) != id_len:
        return None
    return shown_key_id(raw)


def shown_key_id(raw: bytes) -> str:
    """The key id of a header as a message may show it: anything but printable ASCII escaped
    (a header is written by whoever can write to the store: a newline or a terminal escape in
    it must not reach an error line). A listed id is printable ASCII, so it reads unchanged."""
    text = raw.decode("ascii", errors="backslashreplace")
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def seal(keyring: Keyring, object_key: str, plaintext: bytes) -> bytes:
    """The encrypted object to store under object_key, with the current key and a new nonce."""
    key_id = keyring.current.encode("ascii")
    header = _PREFIX.pack(MAGIC, VERSION, len(key_id)) + key_id
    nonce = os.urandom(NONCE_BYTES)
    aad = header + object_key.encode("utf-8")
    return header + nonce + AESGCM(keyring.keys[keyring.current]).encrypt(nonce, plaintext, aad)


def unseal(keyring: Keyring, object_key: str, data: bytes) -> bytes:
    """The plaintext of the encrypted object stored under object_key; raises EncryptionError
    naming the object and the key id (unknown id, wrong key, altered or moved object)."""
    if not is_encrypted(data) or len(data) < _PREFIX.size:
        raise EncryptionError(f"object '{object_key}' is not an encrypted object")
    _, version, id_len = _PREFIX.unpack_from(data)
    if version != VERSION:
        raise EncryptionError(
            f"object '{object_key}' is encrypted in format {version}, which this version of "
            f"kafka-dr cannot read (it reads format {VERSION})"
        )
    header_len = _PREFIX.size + id_len
    if len(data) < header_len + NONCE_BYTES + TAG_BYTES:
        raise EncryptionError(
            f"object '{object_key}' is cut short: the encrypted object ends early"
        )
    key_id = shown_key_id(data[_PREFIX.size : header_len])
    key = keyring.keys.get(key_id)
    if key is None:
        raise EncryptionError(
            f"object '{object_key}' is encrypted with key '{key_id}', which {keyring.where} "
            "does not list"
        )
    nonce = data[header_len : header_len + NONCE_BYTES]
    aad = data[:header_len] + object_key.encode("utf-8")
    try:
        return AESGCM(key).decrypt(nonce, data[header_len + NONCE_BYTES :], aad)
    except InvalidTag:
        raise EncryptionError(
            f"object '{object_key}' failed authentication with key '{key_id}': wrong key, or "
            "the object was altered or moved"
        ) from None
