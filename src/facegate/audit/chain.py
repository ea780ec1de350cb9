"""The hash chain: how a record is encoded and hashed, and how it is appended.

A record's hash is ``SHA-256(prev_hash + "\\n" + canonical)`` in hex, where ``canonical`` is
the UTF-8 JSON of the record's fields in :data:`HASHED_FIELDS` (sorted keys, no spaces,
times as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``). The sequence number is not hashed: it is the
record's position, which the chain of previous hashes fixes. The first record's previous hash
is :data:`GENESIS`. Anyone can recompute this from an export (see docs/audit.md).

Appending goes through the head (``audit_head``: the last seq, its hash and the hash before
it). On SQLite the writer reads it, writes the record with the next number and moves the head
only if it is still where it was read (compare-and-set). On PostgreSQL one statement claims the
next number (the row lock is held to the commit), hashes the record on the server by the same
rule and writes it. Either way two writers can never both extend the chain from one head.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
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


_HEADS = cast(Table, AuditHead.__table__)
_RECORDS = cast(Table, AuditRecord.__table__)
# Core statements, built once: the append path runs on every request.
_READ_HEAD = select(_HEADS.c.seq, _HEADS.c.hash).where(_HEADS.c.id == 1)
_READ_HEAD_LOCKED = _READ_HEAD.with_for_update()
_MOVE_HEAD = (
    update(_HEADS)
    .where(_HEADS.c.id == 1, _HEADS.c.seq == bindparam("b_old"))
    .values(seq=bindparam("b_new"), hash=bindparam("b_hash"), prev_hash=bindparam("b_prev"))
)
_INSERT_RECORD = insert(_RECORDS)
_FIELD_COLUMNS = [c.name for c in _RECORDS.columns if c.name not in ("seq", "prev_hash", "hash")]
# PostgreSQL: one statement, one round trip. The update claims the next number (the row lock
# is held to the commit, so no other writer can extend the chain from the same head), keeps
# the previous hash and computes the new one on the server: SHA-256 over the previous hash
# and ``b_tail`` ("\n" + the canonical encoding, made here), the rule of record_hash. The
# insert writes the record with what the update returned. Driver SQL (psycopg's named
# parameters), which psycopg prepares on the server after a few runs on a connection.
APPEND_PG = (
    "WITH moved AS (UPDATE audit_head SET seq = seq + 1, prev_hash = hash, "
    "hash = encode(sha256(convert_to(hash, 'UTF8') || %(b_tail)s), 'hex') "
    "WHERE id = 1 RETURNING seq, prev_hash, hash) "
    f"INSERT INTO audit_records (seq, prev_hash, hash, {', '.join(_FIELD_COLUMNS)}) "
    "VALUES ((SELECT seq FROM moved), (SELECT prev_hash FROM moved), (SELECT hash FROM moved), "
    f"{', '.join(f'%({c})s' for c in _FIELD_COLUMNS)}) "
    "RETURNING seq, prev_hash, hash"
)
# After a lost connection: was the record written? (``at`` is indexed and microsecond-exact.)
FIND_PG = "SELECT seq, prev_hash, hash FROM audit_records WHERE at = %(at)s"


def head(s: Session, *, lock: bool = False) -> tuple[int, str]:
    """The chain's (last seq, last hash); (0, GENESIS) for an empty log."""
    row = s.connection().execute(_READ_HEAD_LOCKED if lock else _READ_HEAD).first()
    if row is None:  # created by migration 0003; its absence is damage, not an empty log
        raise ChainConflict("The audit log's head row is missing.")
    return int(row[0]), row[1]


def pg_parameters(values: dict[str, Any]) -> dict[str, Any]:
    """The parameters of :data:`APPEND_PG` for a record with ``values``."""
    params = {name: values.get(name) for name in _FIELD_COLUMNS}
    params["b_tail"] = b"\n" + canonical(values)
    return params


def pg_appended(row: Any, params: dict[str, Any]) -> tuple[int, str]:
    """(seq, hash) of what :data:`APPEND_PG` returned, checked against the hash made here."""
    if row is None or row[0] is None:
        raise ChainConflict("The audit log's head row is missing.")
    if not pg_written(row, params):
        raise ChainConflict("The database hashed an audit record differently from the chain rule.")
    return int(row[0]), row[2]


def pg_written(row: Any, params: dict[str, Any]) -> bool:
    """Whether ``row`` (seq, prev_hash, hash) is the record of ``params``."""
    return hashlib.sha256(row[1].encode() + params["b_tail"]).hexdigest() == row[2]


_ALL_COLUMNS = [c.name for c in _RECORDS.columns]
_INSERT_SQLITE = (
    f"INSERT INTO audit_records ({', '.join(_ALL_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _ALL_COLUMNS)})"
)


def sqlite_processors(dialect: Any) -> list[Any]:
    """How SQLAlchemy turns each record column's value into what SQLite stores."""
    return [c.type.bind_processor(dialect) for c in _RECORDS.columns]


def sqlite_append_alone(
    driver: Any, processors: list[Any], values: dict[str, Any]
) -> tuple[int, str]:
    """SQLite: a record alone in its transaction, on ``driver`` (a sqlite3 connection in
    autocommit mode, ``isolation_level=None``), committed on return. ``BEGIN IMMEDIATE`` takes
    the database's write lock first, so the head cannot move between its read and the write.
    Values are stored as SQLAlchemy stores them (``processors``: :func:`sqlite_processors`),
    so the record reads back, and hashes, exactly as one written through a session."""
    driver.execute("BEGIN IMMEDIATE")
    try:
        row = driver.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
        if row is None:
            raise ChainConflict("The audit log's head row is missing.")
        seq, prev = int(row[0]) + 1, row[1]
        digest = record_hash(prev, values)
        driver.execute(
            "UPDATE audit_head SET seq = ?, hash = ?, prev_hash = ? WHERE id = 1",
            (seq, digest, prev),
        )
        record = {**values, "seq": seq, "prev_hash": prev, "hash": digest}
        driver.execute(
            _INSERT_SQLITE,
            [
                process(record[name]) if process is not None else record[name]
                for name, process in zip(_ALL_COLUMNS, processors, strict=True)
            ],
        )
        driver.execute("COMMIT")
    except BaseException:
        if driver.in_transaction:
            driver.execute("ROLLBACK")
        raise
    return seq, digest


def append(s: Session, values: dict[str, Any]) -> tuple[int, str]:
    """Add a record with ``values`` (its hashed fields) to the chain inside ``s``'s transaction.

    Returns (seq, hash). The caller commits; until then nothing is visible, and a rollback
    takes the record with the change it describes.
    """
    connection = s.connection()  # Core on the session's transaction: no ORM work per record
    if connection.dialect.name == "postgresql":
        params = pg_parameters(values)
        return pg_appended(connection.exec_driver_sql(APPEND_PG, params).first(), params)
    for _ in range(APPEND_ATTEMPTS):
        seq, prev = head(s, lock=True)
        digest = record_hash(prev, values)
        moved = connection.execute(
            _MOVE_HEAD, {"b_old": seq, "b_new": seq + 1, "b_hash": digest, "b_prev": prev}
        ).rowcount
        if moved == 1:
            connection.execute(
                _INSERT_RECORD, {**values, "seq": seq + 1, "prev_hash": prev, "hash": digest}
            )
            return seq + 1, digest
    raise ChainConflict("The audit log's head kept moving; the record was not written.")
