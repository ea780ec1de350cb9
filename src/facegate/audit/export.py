"""Exporting the audit log as JSON Lines that verify on their own.

The first line is a header (what this is, the range, the public key and its id, how hashes
are computed); then one line per record (every column, times in the canonical form); then the
signed checkpoints that fall in the range. ``facegate audit verify --export FILE`` (or any
implementation of docs/audit.md) checks it without the server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from facegate.audit import chain
from facegate.audit.signing import Signer
from facegate.audit.tables import AuditCheckpoint, AuditRecord
from facegate.audit.verify import BATCH

FORMAT = "facegate-audit-export/1"


def record_dict(record: AuditRecord) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "record", "seq": record.seq}
    for name, value in chain.fields_of(record).items():
        out[name] = chain.timestamp(value) if isinstance(value, datetime) else value
    out["prev_hash"] = record.prev_hash
    out["hash"] = record.hash
    return out


def _records(
    sessions: sessionmaker[Session],
    since: datetime | None,
    until: datetime | None,
    organization: str | None,
) -> Iterator[AuditRecord]:
    after = 0
    while True:
        with sessions() as s:
            query = select(AuditRecord).where(AuditRecord.seq > after)
            if since is not None:
                query = query.where(AuditRecord.at >= since)
            if until is not None:
                query = query.where(AuditRecord.at < until)
            if organization is not None:
                query = query.where(AuditRecord.organization == organization)
            batch = s.scalars(query.order_by(AuditRecord.seq).limit(BATCH)).all()
        if not batch:
            return
        yield from batch
        after = batch[-1].seq


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
        first = record.seq if first is None else first
        last = record.seq
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


def export_file(sessions: sessionmaker[Session], signer: Signer, path: Path, **kw: Any) -> dict:
    with open(path, "w", encoding="utf-8") as handle:
        return export(sessions, signer, handle, **kw)
