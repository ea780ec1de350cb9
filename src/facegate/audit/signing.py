"""Signed checkpoints: the server signs the chain's head with an Ed25519 key.

The private key is ``<data dir>/audit-signing.key`` (PKCS#8 PEM, created owner-only on first
use) or ``FACEGATE_AUDIT_SIGNING_KEY`` (the PEM text). The public key is published at
``GET /v1/audit/public-key`` and in every export and report; its id is the first 16 hex digits
of the SHA-256 of its raw 32 bytes. A checkpoint signs the canonical JSON of
``{"seq", "hash", "at", "key_id"}``, so whoever holds an exported log and the public key can
check that the log up to ``seq`` is the one the server signed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

KEY_FILE = "audit-signing.key"


def checkpoint_message(seq: int, hash_hex: str, at: str, key_id: str) -> bytes:
    body = {"at": at, "hash": hash_hex, "key_id": key_id, "seq": seq}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def key_id_of(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public: Ed25519PublicKey) -> str:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public(pem: str) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("The public key is not an Ed25519 key.")
    return key


def verify_signature(public: Ed25519PublicKey, signature_b64: str, message: bytes) -> bool:
    try:
        public.verify(base64.b64decode(signature_b64), message)
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True)
class Signer:
    private: Ed25519PrivateKey

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def key_id(self) -> str:
        return key_id_of(self.public)

    @property
    def public_pem(self) -> str:
        return public_pem(self.public)

    def sign(self, seq: int, hash_hex: str, at: str) -> str:
        message = checkpoint_message(seq, hash_hex, at, self.key_id)
        return base64.b64encode(self.private.sign(message)).decode()


def load_or_create_signer(data_dir: Path, env_value: str | None) -> Signer:
    """The server's signing key: from ``env_value`` (PEM), else the key file (made if absent)."""
    if env_value:
        return Signer(_private_from_pem(env_value.encode(), "FACEGATE_AUDIT_SIGNING_KEY"))
    path = data_dir / KEY_FILE
    if path.exists():
        if path.stat().st_mode & 0o077:
            raise ValueError(f"{path} must be readable by its owner only (chmod 600).")
        return Signer(_private_from_pem(path.read_bytes(), str(path)))
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())
    return Signer(private)


def _private_from_pem(pem: bytes, source: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except ValueError as exc:
        raise ValueError(f"{source} is not a PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{source} is not an Ed25519 private key.")
    return key
