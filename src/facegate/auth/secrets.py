"""API key secrets at rest: sealed with a server master key (Fernet), never stored in clear.

SigV4 verification needs each key's secret itself (an HMAC key), so secrets cannot be hashed
like passwords; they are encrypted with a master key instead. The master key comes from the
``FACEGATE_MASTER_KEY`` environment variable when set, else from ``<data dir>/master.key``,
which is created owner-only (0600) on first use.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

MASTER_KEY_FILE = "master.key"
_ACCESS_KEY_PREFIX = "FG"
_ACCESS_KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_ACCESS_KEY_RANDOM_CHARS = 18
_SECRET_RANDOM_BYTES = 30


def load_or_create_master_key(data_dir: Path, env_value: str | None) -> bytes:
    """The master key: ``env_value`` when given, else ``data_dir/master.key`` (created if missing).

    Raises ``ValueError`` when the key is not a valid Fernet key or when the existing key file
    is readable or writable by group or others.
    """
    if env_value is not None:
        return _validated(env_value.strip().encode("ascii", "replace"), "FACEGATE_MASTER_KEY")
    path = data_dir / MASTER_KEY_FILE
    try:
        return _create_key_file(path)
    except FileExistsError:
        return _read_key_file(path)


def _validated(key: bytes, source: str) -> bytes:
    """``key`` if it is a Fernet key (urlsafe base64 of 32 bytes), else a ValueError."""
    try:
        Fernet(key)
    except ValueError:
        raise ValueError(
            f"{source} is not a valid master key: it must be 32 random bytes in urlsafe base64 "
            "(44 characters), e.g. the output of "
            '`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key())"`.'
        ) from None
    return key


def _create_key_file(path: Path) -> bytes:
    """Create ``path`` with a new key, owner-only from the start; FileExistsError if present."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(key + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return key


def _read_key_file(path: Path) -> bytes:
    """Read an existing key file, refusing one that group or others may access."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ValueError(
            f"The master key file {path} has mode {mode:04o}, which lets other users access "
            f"it; restrict it with `chmod 600 {path}`."
        )
    return _validated(path.read_bytes().strip(), f"The master key file {path}")


class SecretBox:
    """Seals and opens API key secrets (and other data kept encrypted) with the master key."""

    def __init__(self, master_key: bytes) -> None:
        """Use ``master_key`` (a Fernet key, as from :func:`load_or_create_master_key`)."""
        self._fernet = Fernet(master_key)

    def seal(self, secret: str) -> bytes:
        """Encrypt and authenticate ``secret``; the result is a Fernet token."""
        return self._fernet.encrypt(secret.encode("utf-8"))

    def open(self, token: bytes) -> str:
        """Decrypt a token from :meth:`seal`; ValueError if the key is wrong or it was altered."""
        try:
            return self._fernet.decrypt(token).decode("utf-8")
        except InvalidToken:
            raise ValueError(
                "The sealed secret cannot be opened: it was sealed with a different master key "
                "or has been altered."
            ) from None

    def seal_bytes(self, data: bytes) -> bytes:
        """Encrypt and authenticate ``data`` (face crops, held-back results)."""
        return self._fernet.encrypt(data)

    def open_bytes(self, token: bytes) -> bytes:
        """Decrypt a token from :meth:`seal_bytes`; ValueError if it cannot be opened."""
        try:
            return self._fernet.decrypt(token)
        except InvalidToken:
            raise ValueError("The sealed data cannot be opened with this master key.") from None


def new_access_key_id() -> str:
    """A new access key id: ``FG`` and 18 random uppercase base32 characters (20 in all)."""
    chosen = (secrets.choice(_ACCESS_KEY_ALPHABET) for _ in range(_ACCESS_KEY_RANDOM_CHARS))
    return _ACCESS_KEY_PREFIX + "".join(chosen)


def new_secret_access_key() -> str:
    """A new secret access key: 40 urlsafe base64 characters (240 random bits)."""
    return secrets.token_urlsafe(_SECRET_RANDOM_BYTES)
