"""Opaque, tamper-proof pagination tokens.

A token is base64url(JSON payload) + "." + base64url(HMAC-SHA256). The payload names the
organization, collection and listing it belongs to, so a token can neither be forged nor
replayed against another listing; either is ``InvalidPaginationTokenException``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from facegate.errors import InvalidPaginationTokenException


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    def __init__(self, master_key: bytes):
        self._key = hmac.new(master_key, b"facegate pagination tokens", hashlib.sha256).digest()

    def issue(self, scope: dict[str, Any], position: Any) -> str:
        body = json.dumps({"s": scope, "p": position}, separators=(",", ":")).encode()
        mac = hmac.new(self._key, body, hashlib.sha256).digest()
        return f"{_b64(body)}.{_b64(mac)}"

    def read(self, token: str, scope: dict[str, Any]) -> Any:
        """The position stored in ``token``, if it is genuine and belongs to ``scope``."""
        try:
            body_text, mac_text = token.split(".")
            body, mac = _unb64(body_text), _unb64(mac_text)
        except ValueError:
            raise InvalidPaginationTokenException("The pagination token is malformed.") from None
        expected = hmac.new(self._key, body, hashlib.sha256).digest()
        if not hmac.compare_digest(mac, expected):
            raise InvalidPaginationTokenException(
                "The pagination token is not one facegate issued."
            )
        payload = json.loads(body)
        if payload.get("s") != scope:
            raise InvalidPaginationTokenException(
                "The pagination token belongs to another listing; start again without NextToken."
            )
        return payload["p"]
