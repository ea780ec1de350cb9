"""Writing decision records: one for every request, allowed, denied or failed.

This version writes each record in its own transaction. (The accountability work makes the
log hash-chained and signed, and writes a state change and its record together.)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from facegate.audit.tables import AuditRecord

log = logging.getLogger("facegate.audit")


@dataclass
class Entry:
    operation: str
    decision: str  # allow, deny, error
    organization: str = ""
    sector: str = ""
    access_key_id: str = ""
    member: str = ""
    roles: Iterable[str] = ()
    use_case_id: int | None = None
    purpose: str = ""
    resource: str = ""
    policy_version: str = ""
    policies: Iterable[str] = ()
    reasons: str = ""
    error_type: str = ""
    case_reference: str = ""
    warrant_reference: str = ""
    requested_threshold: float | None = None
    effective_threshold: float | None = None
    result_count: int | None = None
    face_ids: Iterable[str] = ()
    review_id: str = ""
    request_id: str = ""
    latency_ms: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def entry_for(principal: Any, operation: str, **fields: Any) -> Entry:
    """A record of ``operation`` by ``principal`` (a policy Principal), denied until updated."""
    return Entry(
        operation=operation,
        decision=fields.pop("decision", "deny"),
        organization=principal.organization,
        sector=principal.sector,
        access_key_id=principal.access_key_id,
        member=principal.member,
        roles=principal.roles,
        use_case_id=principal.use_case_id,
        purpose=principal.purpose,
        **fields,
    )


class AuditLog:
    def __init__(self, sessions: sessionmaker[Session]):
        self.sessions = sessions

    def append(self, entry: Entry, at: datetime | None = None) -> int:
        values = {**entry.__dict__}
        values["roles"] = json.dumps(sorted(entry.roles))
        values["policies"] = json.dumps(list(entry.policies))
        values["face_ids"] = json.dumps(list(entry.face_ids))
        values["detail"] = json.dumps(entry.detail, sort_keys=True, default=str)
        values["reasons"] = entry.reasons[:4000]
        with self.sessions.begin() as s:
            record = AuditRecord(at=at or datetime.now(UTC), **values)
            s.add(record)
            s.flush()
            return record.seq

    def records(self, limit: int = 100, **where: Any) -> list[dict[str, Any]]:
        """The newest records first, optionally filtered by column equality."""
        with self.sessions() as s:
            query = select(AuditRecord)
            for column, value in where.items():
                query = query.where(getattr(AuditRecord, column) == value)
            rows = s.scalars(query.order_by(AuditRecord.seq.desc()).limit(limit)).all()
            return [
                {
                    c.name: (
                        json.loads(getattr(r, c.name))
                        if c.name in ("roles", "policies", "face_ids", "detail")
                        else getattr(r, c.name)
                    )
                    for c in AuditRecord.__table__.columns
                }
                for r in rows
            ]
