"""What the parts of :class:`facegate.footage.consent.Footage` share: sessions and a clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from facegate.db import utcnow


class FootageCore:
    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime] = utcnow):
        self.sessions = sessions
        self.clock = clock
