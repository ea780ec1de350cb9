"""The hash chain: how a record is encoded and hashed, and how it is appended.

A record's hash is ``SHA-256(prev_hash + "\\n" + canonical)`` in hex, where ``canonical`` is
the UTF-8 JSON of the record's fields in :data:`HASHED_FIELDS` (sorted keys, no spaces,
times as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``). The sequence number is not hashed: it is the
record's position, which the chain of previous hashes fixes. The first record's previous hash
is :data:`GENESIS`. Anyone can recompute this from an export (see docs/audit.md).

Appending reads the head (``audit_head``, locked with ``FOR UPDATE`` on PostgreSQL), writes
the record with the next number, and moves the head only if it is still where it was read
(compare-and-set): two writers can never both extend the chain from one head.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.orm import Session

from facegate.audit.tables import AuditHead, AuditRecord

GENESIS = "0" * 64
HASHED_FIELDS = (
    "at",
    "organization",
    "sector",
    "access_key_id",
    "member",
    "roles",
    "use_case_id",
    "purpose",
    "operation",
    "resource",
    "decision",
    "policy_version",
    "policies",
    "reasons",
    "error_type",
    "case_reference",
    "warrant_reference",
    "requested_threshold",
    "effective_threshold",
    "result_count",
    "face_ids",
    "review_id",
    "request_id",
    "latency_ms",
    "detail",
)
FLOAT_FIELDS = frozenset({"requested_threshold", "effective_threshold", "latency_ms"})
INT_FIELDS = frozenset({"use_case_id", "result_count"})
APPEND_ATTEMPTS = 20


class ChainConflict(Exception):
    """The head moved under an append too many times (a defect or extreme contention)."""


def timestamp(moment: datetime) -> str:
    """The canonical form of a time: UTC, microseconds, ``Z``."""
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(fields: dict[str, Any]) -> bytes:
    """The canonical encoding of a record's hashed fields."""
    values = {}
    for name in HASHED_FIELDS:
        value = fields.get(name)
        if value is None:
            pass
        elif isinstance(value, datetime):
            value = timestamp(value)
        elif name == "at":  # text from an export or a raw query: the same instant, one form
            value = timestamp(datetime.fromisoformat(str(value).replace("Z", "+00:00")))
        elif name in FLOAT_FIELDS:  # 80 and 80.0 are one value, whatever the database returns
            value = float(value)
        elif name in INT_FIELDS:
            value = int(value)
        values[name] = value
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(fields)).hexdigest()


def fields_of(record: AuditRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in HASHED_FIELDS}


_HEADS = AuditHead.__table__
_RECORDS = AuditRecord.__table__
# Core statements, built once: the append path runs on every request.
_READ_HEAD = select(_HEADS.c.seq, _HEADS.c.hash).where(_HEADS.c.id == 1)
_READ_HEAD_LOCKED = _READ_HEAD.with_for_update()
_MOVE_HEAD = (
    update(_HEADS)
    .where(_HEADS.c.id == 1, _HEADS.c.seq == bindparam("b_old"))
    .values(seq=bindparam("b_new"), hash=bindparam("b_hash"))
)
_INSERT_RECORD = insert(_RECORDS)
# PostgreSQL: two round trips instead of three. The first claims the next number (the row
# lock is held to the commit, so the head cannot move under it) and returns the previous
# hash; the second writes the record and the new head hash in one statement.
_CLAIM_PG = text("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
_RECORD_COLUMNS = [c.name for c in _RECORDS.columns]
_INSERT_AND_MOVE_PG = text(
    "WITH moved AS (UPDATE audit_head SET hash = :b_hash WHERE id = 1) "
    f"INSERT INTO audit_records ({', '.join(_RECORD_COLUMNS)}) "
    f"VALUES ({', '.join(':' + c for c in _RECORD_COLUMNS)})"
)


def head(s: Session, *, lock: bool = False) -> tuple[int, str]:
    """The chain's (last seq, last hash); (0, GENESIS) for an empty log."""
    row = s.connection().execute(_READ_HEAD_LOCKED if lock else _READ_HEAD).first()
    if row is None:  # created by migration 0003; its absence is damage, not an empty log
        raise ChainConflict("The audit log's head row is missing.")
    return int(row[0]), row[1]


def append(s: Session, values: dict[str, Any]) -> tuple[int, str]:
    """Add a record with ``values`` (its hashed fields) to the chain inside ``s``'s transaction.

    Returns (seq, hash). The caller commits; until then nothing is visible, and a rollback
    takes the record with the change it describes.
    """
    connection = s.connection()  # Core on the session's transaction: no ORM work per record
    if connection.dialect.name == "postgresql":
        claimed = connection.execute(_CLAIM_PG).first()
        if claimed is None:
            raise ChainConflict("The audit log's head row is missing.")
        seq, prev = int(claimed[0]), claimed[1]
        digest = record_hash(prev, values)
        connection.execute(
            _INSERT_AND_MOVE_PG,
            {**values, "seq": seq, "prev_hash": prev, "hash": digest, "b_hash": digest},
        )
        return seq, digest
    for _ in range(APPEND_ATTEMPTS):
        seq, prev = head(s, lock=True)
        digest = record_hash(prev, values)
        moved = connection.execute(
            _MOVE_HEAD, {"b_old": seq, "b_new": seq + 1, "b_hash": digest}
        ).rowcount
        if moved == 1:
            connection.execute(
                _INSERT_RECORD, {**values, "seq": seq + 1, "prev_hash": prev, "hash": digest}
            )
            return seq + 1, digest
    raise ChainConflict("The audit log's head kept moving; the record was not written.")
