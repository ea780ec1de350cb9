"""Where verify_database's time goes on bench/audit.py's large log, per record: reading the
rows, canonical encoding, SHA-256, the walk, checkpoint signatures."""

from __future__ import annotations

import gc
import hashlib
import itertools
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, sessionmaker

from _common import time_one
from facegate.audit import chain, verify
from facegate.audit.signing import checkpoint_message, load_public, verify_signature
from facegate.audit.tables import AuditRecord


def next_batch(query: Select[Any], after: int) -> Select[Any]:
    """The records after seq ``after``, in order, a batch of ``verify.BATCH``."""
    return query.where(AuditRecord.seq > after).order_by(AuditRecord.seq).limit(verify.BATCH)


def read_batches(
    sessions: sessionmaker[Session],
    n: int,
    batch_after: Callable[[Session, int], list[Any]],
    seq_of: Callable[[Any], int],
) -> None:
    """Read at least ``n`` records (all, if fewer), a batch of ``verify.BATCH`` at a time, each
    batch in its own session and after the last one read (``seq_of`` its last item)."""
    after, read = 0, 0
    while read < n:
        with sessions() as s:
            batch = batch_after(s, after)
        if not batch:
            break
        read += len(batch)
        after = seq_of(batch[-1])


def breakdown(
    sessions: sessionmaker[Session], public_pem: str, sample: int, total_records: int
) -> dict[str, Any]:
    """Where verify_database's time goes, per record, measured on the first ``sample``."""
    gc.collect()
    t0 = time.perf_counter()
    rows = list(itertools.islice(verify._db_rows(sessions), sample))
    db_rows_s = time.perf_counter() - t0
    n = len(rows)

    def orm_objects(s: Session, after: int) -> list[Any]:
        objects = s.scalars(next_batch(select(AuditRecord), after)).all()
        [chain.fields_of(o) for o in objects]  # the fields, as hashing would read them
        return list(objects)

    columns = [AuditRecord.seq, AuditRecord.prev_hash, AuditRecord.hash] + [
        getattr(AuditRecord, name) for name in chain.HASHED_FIELDS
    ]

    def core_tuples(s: Session, after: int) -> list[Any]:
        return list(s.execute(next_batch(select(*columns), after)).all())

    orm_ns, _ = time_one(lambda: read_batches(sessions, n, orm_objects, lambda o: o.seq))
    core_ns, _ = time_one(lambda: read_batches(sessions, n, core_tuples, lambda row: row[0]))
    orm_s, core_s = orm_ns / 1e9, core_ns / 1e9

    t0 = time.perf_counter()
    encoded = [chain.canonical(r.fields) for r in rows]
    canonical_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for r, body in zip(rows, encoded, strict=True):
        hashlib.sha256(r.prev_hash.encode() + b"\n" + body).hexdigest()
    sha_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    mismatched = sum(not r.content_ok for r in rows)
    record_hash_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    walked = verify.verify_rows(rows)
    walk_s = time.perf_counter() - t0
    del rows, encoded

    checkpoints = verify.db_checkpoints(sessions)
    public = load_public(public_pem)
    t0 = time.perf_counter()
    good = sum(
        verify_signature(
            public,
            c["signature"],
            checkpoint_message(c["seq"], c["hash"], c["at"], c["key_id"]),
        )
        for c in checkpoints
    )
    sig_s = time.perf_counter() - t0

    def per(seconds: float) -> float:
        return round(seconds / max(n, 1) * 1e6, 2)

    read_us, hash_us = per(db_rows_s), per(record_hash_s)
    return {
        "sample_records": n,
        "per_record_us": {
            "read_as_verify_database_reads": read_us,
            "orm_objects_same_rows": per(orm_s),
            "core_tuples_same_rows": per(core_s),
            "canonical_encoding": per(canonical_s),
            "sha256": per(sha_s),
            "record_hash_total": hash_us,
            "verify_rows_walk_incl_hash": per(walk_s),
        },
        "checkpoint_signatures": {
            "checkpoints": len(checkpoints),
            "verified": good,
            "seconds": round(sig_s, 3),
            "us_each": round(sig_s / max(len(checkpoints), 1) * 1e6, 1),
        },
        "projected_for_log_s": {
            "records": total_records,
            "read": round(read_us * total_records / 1e6, 1),
            "record_hash": round(hash_us * total_records / 1e6, 1),
            "walk_incl_hash": round(per(walk_s) * total_records / 1e6, 1),
        },
        "sample_hash_mismatches": mismatched,
        "sample_walk_ok": walked.ok,
    }
