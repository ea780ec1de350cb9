"""Writing the audit log: one record for every request, allowed, denied or failed.

A record that describes a state change is appended inside the transaction that makes the
change (``append(entry, session=s)``): both commit or neither does. Other records get a
transaction of their own, on a connection kept for them (:mod:`facegate.audit.standalone`).
Every ``checkpoint_every`` records, and on the server's timer, the head is signed
(:mod:`facegate.audit.signing`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from facegate.audit import chain
from facegate.audit.signing import Signer
from facegate.audit.standalone import StandaloneWriter
from facegate.audit.tables import AuditCheckpoint, AuditRecord

DEFAULT_CHECKPOINT_EVERY = 1000

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


def values_of(entry: Entry, at: datetime) -> dict[str, Any]:
    """The hashed fields of a record for ``entry``, as stored."""
    values = {**entry.__dict__}
    values["roles"] = json.dumps(sorted(entry.roles))
    values["policies"] = json.dumps(list(entry.policies))
    values["face_ids"] = json.dumps(list(entry.face_ids))
    values["detail"] = json.dumps(entry.detail, sort_keys=True, default=str)
    values["reasons"] = entry.reasons[:4000]
    for name, value in values.items():
        # PostgreSQL text cannot hold NUL (a parameter name sent with one is echoed in the
        # reasons): U+FFFD stands for it, on every database, before the record is hashed
        if isinstance(value, str) and "\x00" in value:
            values[name] = value.replace("\x00", "\ufffd")
    # UTC before it is stored: SQLite keeps the clock time without its offset
    values["at"] = at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
    return values


# The seqs appended while a front door's request runs (its threads share the list): the door
# records a refusal that no other path recorded. None outside a request.
_WRITTEN: ContextVar[list[int] | None] = ContextVar("facegate_audit_written", default=None)


@contextmanager
def records_written() -> Iterator[list[int]]:
    """The seqs of the records appended in this context while it is open, including from
    threads started in it (``asyncio.to_thread`` copies the context, not the list)."""
    written: list[int] = []
    token = _WRITTEN.set(written)
    try:
        yield written
    finally:
        _WRITTEN.reset(token)


class AuditLog:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        signer: Signer | None = None,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
    ):
        self.sessions = sessions
        self.signer = signer
        self.checkpoint_every = checkpoint_every
        engine = sessions.kw.get("bind")
        self.standalone = (
            StandaloneWriter(engine)
            if engine is not None and engine.dialect.name in ("postgresql", "sqlite")
            else None
        )

    def append(
        self, entry: Entry, at: datetime | None = None, session: Session | None = None
    ) -> int:
        """Chain ``entry``; inside ``session``'s transaction when given, else in a transaction
        of its own, committed on return. Returns its seq."""
        values = values_of(entry, at or datetime.now(UTC))
        if session is not None:
            seq = self._append(session, values)
        elif self.standalone is not None:
            seq, digest = self.standalone.append(values)
            if self.signer is not None and seq % self.checkpoint_every == 0:
                with self.sessions.begin() as s:  # the record is committed: sign it after
                    self._sign(s, seq, digest)
        else:
            with self.sessions.begin() as s:
                seq = self._append(s, values)
        written = _WRITTEN.get()
        if written is not None:
            written.append(seq)
        return seq

    def close(self) -> None:
        """Close the connection kept for records in their own transaction."""
        if self.standalone is not None:
            self.standalone.close()

    def _append(self, s: Session, values: dict[str, Any]) -> int:
        seq, digest = chain.append(s, values)
        if self.signer is not None and seq % self.checkpoint_every == 0:
            self._sign(s, seq, digest)
        return seq

    def _sign(self, s: Session, seq: int, digest: str) -> None:
        assert self.signer is not None
        at = datetime.now(UTC)
        s.add(
            AuditCheckpoint(
                seq=seq,
                hash=digest,
                at=at,
                key_id=self.signer.key_id,
                signature=self.signer.sign(seq, digest, chain.timestamp(at)),
            )
        )

    def checkpoint(self) -> dict[str, Any] | None:
        """Sign the head now if records came after the last checkpoint (the server's timer)."""
        if self.signer is None:
            return None
        with self.sessions.begin() as s:
            seq, digest = chain.head(s, lock=True)
            last = s.scalar(select(func.max(AuditCheckpoint.seq))) or 0
            if seq == 0 or seq <= last:
                return None
            self._sign(s, seq, digest)
        return {"seq": seq, "hash": digest}

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


# What a change calls as the last step of its transaction, with (session, answer): the audit
# record of the change commits with it (a :class:`Recorder` is one). Every state-changing
# method takes one, never optional: a change and its record commit together.
Record = Callable[[Session, dict[str, Any]], None]


class Recorder:
    """Appends one entry, inside the transaction of the change it describes.

    A store method that changes state calls ``record(session, answer)`` as the last thing in
    its transaction; ``fill`` copies what the answer says (results, face ids) into the entry.
    :meth:`finish` writes the entry in a transaction of its own if nothing recorded it (reads,
    denials, failures): every request leaves exactly one record, or two when a change
    committed and something failed after it.
    """

    def __init__(
        self,
        audit: AuditLog,
        entry: Entry,
        fill: Callable[[Entry, dict[str, Any]], None] | None = None,
    ):
        self.audit = audit
        self.entry = entry
        self.fill = fill
        self.started = time.perf_counter()
        self.done = False
        # Other writes that belong with the record (a search's usage counts).
        self.also: list[Callable[[Session], None]] = []
        # The answer of a request that changed nothing (a read, a repeated IndexFaces): what
        # :meth:`finish` records it returned.
        self.answer: dict[str, Any] | None = None

    def _latency(self) -> None:
        self.entry.latency_ms = round((time.perf_counter() - self.started) * 1000, 3)

    def __call__(self, session: Session, answer: dict[str, Any] | None = None) -> None:
        if self.fill is not None and answer is not None:
            self.fill(self.entry, answer)
        self._latency()
        for write in self.also:
            write(session)
        self.audit.append(self.entry, session=session)
        self.done = True

    def finish(self, failed: bool = False) -> None:
        """Write the entry in its own transaction unless a change already recorded it.

        ``failed``: something went wrong after the change was recorded (its commit, or
        work after it): a second record says so.
        """
        if self.done and not failed:
            return
        first = not self.done
        if self.done:
            self.entry.decision = "error"
        elif self.fill is not None and self.answer is not None:
            self.fill(self.entry, self.answer)
        self._latency()
        if not (first and self.also):
            self.audit.append(self.entry)
            return
        with self.audit.sessions.begin() as s:
            for write in self.also:
                write(s)
            self.audit.append(self.entry, session=s)
