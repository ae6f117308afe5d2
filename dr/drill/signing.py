"""Ed25519 keys that sign drill reports: making one, loading it, signing and checking.

The private key only ever lives in the PEM file `kafka-dr drill keygen` writes and in the
config value that reads it (``${file:PATH}``); no message here quotes a key, because the
text of a key that failed to load may still be a secret.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import SecretStr

from dr.errors import DrError

ALGORITHM = "ed25519"


class SigningKeyError(DrError):
    """A drill's signing_key (or a public key given to verify a report) is not usable."""


def generate_signing_key() -> tuple[bytes, bytes]:
    """A new Ed25519 key pair as (private PEM in PKCS8, unencrypted; public PEM)."""
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return private_pem, public_pem(key.public_key())


def load_signing_key(secret: SecretStr, *, drill: str) -> Ed25519PrivateKey:
    """The Ed25519 private key in secret (a PEM); raises SigningKeyError naming
    ``drills.<drill>.signing_key`` (never the key) when it is not one."""
    where = f"drills.{drill}.signing_key"
    try:
        key = serialization.load_pem_private_key(secret.get_secret_value().encode(), None)
    except TypeError:  # raised for an encrypted key loaded without a password
        raise SigningKeyError(
            f"{where} is an encrypted PEM: give an unencrypted Ed25519 key "
            "(`kafka-dr drill keygen` makes one)"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise SigningKeyError(
            f"{where} is not a PEM private key: give an Ed25519 key in PEM (PKCS8) "
            "(`kafka-dr drill keygen` makes one)"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(
            f"{where} is a {type(key).__name__.removeprefix('_')} key, not Ed25519: "
            "`kafka-dr drill keygen` makes one"
        )
    return key


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    """The Ed25519 public key of pem: a public key PEM, or a private key PEM whose public half
    is taken; raises SigningKeyError when it is neither."""
    try:
        public = serialization.load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm):
        try:
            private = serialization.load_pem_private_key(pem, None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise SigningKeyError(
                "the public key given is not an Ed25519 public or private key in PEM"
            ) from None
        public = private.public_key()
    if not isinstance(public, Ed25519PublicKey):
        raise SigningKeyError("the public key given is not an Ed25519 key")
    return public


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    """The key's 32 raw bytes."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_pem(key: Ed25519PublicKey) -> bytes:
    """The key as a PEM (SubjectPublicKeyInfo)."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def fingerprint(raw_key: bytes) -> str:
    """A key's short name: the first 16 hex digits of the sha256 of its raw bytes."""
    return hashlib.sha256(raw_key).hexdigest()[:16]


def b64(data: bytes) -> str:
    """data in base64 (standard alphabet, padded)."""
    return base64.b64encode(data).decode("ascii")


def sign(key: Ed25519PrivateKey, message: bytes) -> str:
    """The signature of message, in base64."""
    return b64(key.sign(message))


def signature_valid(raw_key: bytes, signature: bytes, message: bytes) -> bool:
    """True when signature is the Ed25519 signature of message by the raw 32-byte key."""
    try:
        Ed25519PublicKey.from_public_bytes(raw_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def strict_b64decode(text: str) -> bytes | None:
    """The bytes text encodes when it is base64 written exactly as b64encode writes it, else
    None. Strict, because a loose decoder ignores unused trailing bits: two different texts
    would then carry one signature, and an edited byte would go unnoticed."""
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        return None
    return data if b64(data) == text else None
