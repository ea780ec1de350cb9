"""Reading the audit log a page at a time: whose records a reader sees, and the pages of
``/v1/audit/records`` (oldest first, after a seq) and of the console's log (newest first,
before or after a seq).

The filters are :func:`facegate.audit.export.selection`'s; the scope rule is AUDIT-ACCESS's:
an organization's auditors read their own organization's records, the operator reads every
record (or one organization's, when they choose it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import Session, sessionmaker

from facegate.audit.tables import AuditRecord

T = TypeVar("T")
Query = Select[AuditRecord]


class Reader(Protocol):
    """Who reads the log (a policy principal is one)."""

    @property
    def operator(self) -> bool: ...

    @property
    def organization(self) -> str: ...


def scope(reader: Reader, organization: str | None = None) -> str | None:
    """Whose records ``reader`` reads: an auditor their own organization's; the operator
    ``organization``'s when given, else every organization's (None)."""
    if reader.operator:
        return organization or None
    return reader.organization


@dataclass(frozen=True)
class Page(Generic[T]):
    """Records of one page, and where the pages beside it start (None: there is none)."""

    records: list[T]
    older: int | None = None  # the seq to read before for the next older page
    newer: int | None = None  # the seq to read after for the next newer page


def oldest_first(
    sessions: sessionmaker[Session],
    query: Query,
    shape: Callable[[AuditRecord], T],
    *,
    after: int = 0,
    limit: int,
) -> Page[T]:
    """Up to ``limit`` records after seq ``after`` in sequence order; a full page says where
    the next one starts (``newer``: its last seq)."""
    with sessions() as s:
        rows = s.scalars(
            query.where(AuditRecord.seq > after).order_by(AuditRecord.seq).limit(limit)
        ).all()
        return Page([shape(r) for r in rows], newer=rows[-1].seq if len(rows) == limit else None)


def newest_first(
    sessions: sessionmaker[Session],
    query: Query,
    shape: Callable[[AuditRecord], T],
    *,
    before: int | None = None,
    after: int | None = None,
    size: int,
) -> Page[T]:
    """A page of ``size`` records, newest first: the newest before seq ``before`` (the
    newest of all without it), or the oldest ``size`` after seq ``after``; with the seqs
    the older and the newer pages start from, when there are such records."""
    with sessions() as s:
        if after is not None:  # the page of newer records: read upwards, shown newest first
            rows = s.scalars(
                query.where(AuditRecord.seq > after).order_by(AuditRecord.seq).limit(size + 1)
            ).all()
            more_newer, rows = len(rows) > size, rows[:size][::-1]
            more_older = (
                bool(rows)
                and s.scalar(query.where(AuditRecord.seq < rows[-1].seq).limit(1)) is not None
            )
        else:
            paged = query.where(AuditRecord.seq < before) if before else query
            rows = s.scalars(paged.order_by(AuditRecord.seq.desc()).limit(size + 1)).all()
            more_older, rows = len(rows) > size, rows[:size]
            more_newer = before is not None
        return Page(
            [shape(r) for r in rows],
            older=rows[-1].seq if rows and more_older else None,
            newer=rows[0].seq if rows and more_newer else None,
        )


def record_at(
    sessions: sessionmaker[Session], query: Query, seq: int, shape: Callable[[AuditRecord], T]
) -> T | None:
    """Record ``seq``, if it is one of ``query``'s (None when it is not, or is missing)."""
    with sessions() as s:
        row = s.scalars(query.where(AuditRecord.seq == seq)).first()
        return None if row is None else shape(row)
