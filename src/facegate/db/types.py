"""Time in the database: every instant facegate stores is in UTC.

:class:`UTCDateTime` writes UTC and reads an aware UTC datetime on every database: SQLite keeps
no zone, so without it a value came back naive (and each reader had to remember to say "this
was UTC"). :func:`utcnow` and :func:`aware` are the one copy of those helpers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime (a naive one was stored, or given, as UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that is always UTC: aware values are converted to UTC when
    written, and values read back are aware UTC datetimes (SQLite returns them naive). The
    DDL is unchanged (``TIMESTAMP WITH TIME ZONE`` on PostgreSQL, ``DATETIME`` on SQLite)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.astimezone(UTC)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return aware(value)
