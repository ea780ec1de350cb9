"""Exporting the audit log as JSON Lines that verify on their own.

The first line is a header (what this is, the range, the public key and its id, how hashes
are computed); then one line per record (every column, times in the canonical form); then the
signed checkpoints that fall in the range. ``facegate audit verify --export FILE`` (or any
implementation of docs/audit.md) checks it without the server.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Select, select
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
) -> Select[tuple[AuditRecord]]:
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
) -> Iterator[Mapping[str, Any]]:
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


def export(
    sessions: sessionmaker[Session],
    signer: Signer,
    out: IO[str],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    organization: str | None = None,
) -> dict[str, Any]:
    """Write the records in [since, until) (and their checkpoints) to ``out``.

    With ``organization`` (an auditor's export) only that organization's records are written:
    such an export is a selection, so its chain does not link and it is marked ``partial``.
    """
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
    out.write(json.dumps(header) + "\n")
    first = last = None
    count = 0
    for record in _records(sessions, since, until, organization):
        out.write(json.dumps(record_dict(record), ensure_ascii=False) + "\n")
        first = record["seq"] if first is None else first
        last = record["seq"]
        count += 1
    checkpoints = 0
    if first is not None and last is not None:
        with sessions() as s:
            for c in s.scalars(
                select(AuditCheckpoint)
                .where(AuditCheckpoint.seq >= first, AuditCheckpoint.seq <= last)
                .order_by(AuditCheckpoint.seq)
            ):
                item = {
                    "type": "checkpoint",
                    "seq": c.seq,
                    "hash": c.hash,
                    "at": chain.timestamp(c.at),
                    "key_id": c.key_id,
                    "signature": c.signature,
                }
                out.write(json.dumps(item) + "\n")
                checkpoints += 1
    return {"records": count, "first_seq": first, "last_seq": last, "checkpoints": checkpoints}


def export_text(audit: Any, **kw: Any) -> str:
    """The export of ``audit`` (the server's AuditLog) as one text: the API's and the
    console's download. ``kw``: since, until, organization, as :func:`export`."""
    assert audit.signer is not None
    buffer = io.StringIO()
    export(audit.sessions, audit.signer, buffer, **kw)
    return buffer.getvalue()


def export_file(sessions: sessionmaker[Session], signer: Signer, path: Path, **kw: Any) -> dict:
    with open(path, "w", encoding="utf-8") as handle:
        return export(sessions, signer, handle, **kw)
