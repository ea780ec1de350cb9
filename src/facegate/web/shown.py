"""Secrets a result page shows once: a new key's secret, a new sign-in's password.

Kept in the memory of the server process that made them, on the application's state (one
:class:`ShownOnce` per application, :func:`shown_once_of`), for the console user who made
them, until their page is shown or :data:`SHOWN_FOR` seconds have passed; then they are
gone for good. At most :data:`MAX_WAITING` wait at once (the oldest goes first).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from typing import Any

from starlette.requests import Request

SHOWN_FOR = 600  # seconds a new secret waits for its one showing
MAX_WAITING = 1000  # secrets waiting at once, beyond which the oldest is dropped


class ShownOnce:
    """Secrets for a result page to show once, for the user who made them."""

    def __init__(self, ttl: float = SHOWN_FOR, size: int = MAX_WAITING):
        self.ttl = ttl
        self.size = size
        self._items: OrderedDict[str, tuple[int, float, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, user_id: int, item: dict[str, Any]) -> str:
        """Keep ``item`` for ``user_id``; the token of its one showing."""
        token, now = secrets.token_urlsafe(24), time.monotonic()
        with self._lock:
            while self._items:  # oldest first: drop the expired ones
                _user, at, _item = next(iter(self._items.values()))
                if now - at <= self.ttl:
                    break
                self._items.popitem(last=False)
            while len(self._items) >= self.size:
                self._items.popitem(last=False)
            self._items[token] = (user_id, now, item)
        return token

    def take(self, user_id: int, token: str) -> dict[str, Any] | None:
        """The item kept for ``user_id`` under ``token``, once (None when it is not theirs,
        was shown already or waited too long)."""
        with self._lock:
            found = self._items.get(token)
            if found is None or found[0] != user_id:
                return None
            del self._items[token]
        return found[2] if time.monotonic() - found[1] <= self.ttl else None


def shown_once_of(request: Request) -> ShownOnce:
    """The application's secrets waiting to be shown (made with the first one)."""
    state = request.app.state
    shown: ShownOnce | None = getattr(state, "shown_once", None)
    if shown is None:  # pages run on the event loop: no other request makes one meanwhile
        shown = state.shown_once = ShownOnce()
    return shown
