"""Exporting the audit log as JSON Lines that verify on their own.

The first line is a header (what this is, the range, the public key and its id, how hashes
are computed); then one line per record (every column, times in the canonical form); then the
signed checkpoints that fall in the range. ``facegate audit verify --export FILE`` (or any
implementation of docs/audit.md) checks it without the server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import RowMapping, Select, select
from sqlalchemy.orm import Session, sessionmaker

from facegate.audit import chain
from facegate.audit.signing import Signer
from facegate.audit.tables import AuditCheckpoint, AuditRecord
from facegate.audit.verify import BATCH

FORMAT = "facegate-audit-export/1"
FILENAME = "facegate-audit.jsonl"  # the name a download is saved under
MEDIA_TYPE = "application/x-ndjson"


def record_dict(record: Any) -> dict[str, Any]:
    """An export line for a record (an ORM object or a plain row mapping)."""
    get = record.__getitem__ if isinstance(record, Mapping) else record.__getattribute__
    out: dict[str, Any] = {"type": "record", "seq": get("seq")}
    for name in chain.HASHED_FIELDS:
        value = get(name)
        out[name] = chain.timestamp(value) if isinstance(value, datetime) else value
    out["prev_hash"] = get("prev_hash")
    out["hash"] = get("hash")
    return out


def selection(
    *,
    organization: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    operation: str | None = None,
    decision: str | None = None,
    rule: str | None = None,
) -> Select[AuditRecord]:
    """The records matching the filters of the API and the console (in no order): one
    organization's, written in [since, until), of an operation, with a decision, decided by
    a policy of ``rule`` (its id or the prefix of its ids)."""
    query = select(AuditRecord)
    if organization:
        query = query.where(AuditRecord.organization == organization)
    if since:
        query = query.where(AuditRecord.at >= since)
    if until:
        query = query.where(AuditRecord.at < until)
    if operation:
        query = query.where(AuditRecord.operation == operation)
    if decision:
        query = query.where(AuditRecord.decision == decision)
    if rule:
        query = query.where(AuditRecord.policies.contains(f'"{rule}'))
    return query


def _records(
    sessions: sessionmaker[Session],
    since: datetime | None,
    until: datetime | None,
    organization: str | None,
) -> Iterator[RowMapping]:
    """The records to export, in sequence order, read in batches as plain rows."""
    table = AuditRecord.__table__
    after = 0
    while True:
        query = select(table).where(table.c.seq > after)
        if since is not None:
            query = query.where(table.c.at >= since)
        if until is not None:
            query = query.where(table.c.at < until)
        if organization is not None:
            query = query.where(table.c.organization == organization)
        with sessions() as s:
            batch = (
                s.connection().execute(query.order_by(table.c.seq).limit(BATCH)).mappings().all()
            )
        if not batch:
            return
        yield from batch
        after = batch[-1]["seq"]


@dataclass
class Tally:
    """What an export wrote, filled as its lines are made."""

    records: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    checkpoints: int = 0


def lines(
    sessions: sessionmaker[Session],
    signer: Signer,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    organization: str | None = None,
    tally: Tally | None = None,
) -> Iterator[str]:
    """The export's lines (each ending in a newline), read from the database batch by batch:
    memory stays flat however long the log is.

    With ``organization`` (an auditor's export) only that organization's records are written:
    such an export is a selection, so its chain does not link and it is marked ``partial``.
    """
    tally = tally if tally is not None else Tally()
    header = {
        "type": "header",
        "format": FORMAT,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "organization": organization,
        "partial": organization is not None,
        "public_key": signer.public_pem,
        "key_id": signer.key_id,
        "hash": "sha256(prev_hash + '\\n' + canonical JSON of the hashed fields), hex",
        "hashed_fields": list(chain.HASHED_FIELDS),
        "genesis": chain.GENESIS,
    }
    yield json.dumps(header) + "\n"
    for record in _records(sessions, since, until, organization):
        yield json.dumps(record_dict(record), ensure_ascii=False) + "\n"
        if tally.first_seq is None:
            tally.first_seq = record["seq"]
        tally.last_seq = record["seq"]
        tally.records += 1
    if tally.first_seq is None or tally.last_seq is None:
        return
    with sessions() as s:
        found = s.scalars(
            select(AuditCheckpoint)
            .where(AuditCheckpoint.seq >= tally.first_seq, AuditCheckpoint.seq <= tally.last_seq)
            .order_by(AuditCheckpoint.seq)
        ).all()
    for c in found:
        item = {
            "type": "checkpoint",
            "seq": c.seq,
            "hash": c.hash,
            "at": chain.timestamp(c.at),
            "key_id": c.key_id,
            "signature": c.signature,
        }
        yield json.dumps(item) + "\n"
        tally.checkpoints += 1


def export(
    sessions: sessionmaker[Session],
    signer: Signer,
    out: IO[str],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    organization: str | None = None,
) -> dict[str, Any]:
    """Write the records in [since, until) (and their checkpoints) to ``out`` (see
    :func:`lines`); returns how many of each were written."""
    tally = Tally()
    for line in lines(
        sessions, signer, since=since, until=until, organization=organization, tally=tally
    ):
        out.write(line)
    return asdict(tally)


def download(audit: Any, chunk_chars: int = 1 << 16, **kw: Any) -> Iterator[str]:
    """The export of ``audit`` (the server's AuditLog) in chunks of about ``chunk_chars``, for
    a streamed download (the API's and the console's). ``kw``: since, until, organization, as
    :func:`lines`. Nothing is read until the first chunk is asked for."""
    assert audit.signer is not None
    pending: list[str] = []
    size = 0
    for line in lines(audit.sessions, audit.signer, **kw):
        pending.append(line)
        size += len(line)
        if size >= chunk_chars:
            yield "".join(pending)
            pending, size = [], 0
    if pending:
        yield "".join(pending)


def export_file(sessions: sessionmaker[Session], signer: Signer, path: Path, **kw: Any) -> dict:
    with open(path, "w", encoding="utf-8") as handle:
        return export(sessions, signer, handle, **kw)
