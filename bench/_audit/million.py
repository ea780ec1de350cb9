"""Part 2 of bench/audit.py: a large log (a million records by default) built fast, then
verified, exported and the export verified, each a timed phase."""

from __future__ import annotations

import argparse
import datetime
import random
import time
from typing import Any

from sqlalchemy import insert, text, update
from sqlalchemy.orm import Session, sessionmaker

from _audit.backends import Backend
from _audit.breakdown import breakdown
from _audit.latency import latency_summary
from _audit.phases import Phase, report_of, timed
from _audit.records import LOG_START, mixed_entry, search_entry
from _common import log, time_each
from facegate.audit import chain, verify
from facegate.audit.export import export_file
from facegate.audit.log import DEFAULT_CHECKPOINT_EVERY, AuditLog, values_of
from facegate.audit.signing import Signer
from facegate.audit.tables import AuditCheckpoint, AuditHead, AuditRecord

BUILD_BATCH = 10_000
PG_PROBE_RECORDS = 100_000


def build_log(
    sessions: sessionmaker[Session],
    signer: Signer,
    records: int,
    every: int,
    budget_s: float | None,
) -> dict[str, Any]:
    """Chain ``records`` mixed records in Python and bulk-insert them (see the docstring)."""
    engine = sessions.kw["bind"]
    records_table = AuditRecord.__table__
    checkpoints_table = AuditCheckpoint.__table__
    head_table = AuditHead.__table__
    rng = random.Random(1_000_000)
    prev, seq, target = chain.GENESIS, 0, records
    made_s = insert_s = 0.0
    note = None
    t_start = time.perf_counter()
    while seq < target:
        t0 = time.perf_counter()
        rows: list[dict[str, Any]] = []
        checkpoints: list[dict[str, Any]] = []
        for _ in range(min(BUILD_BATCH, target - seq)):
            seq += 1
            # About one record every 3 s on average: a million over a month.
            at = LOG_START + datetime.timedelta(milliseconds=seq * 2600 + rng.randint(0, 999))
            values = values_of(mixed_entry(rng, seq), at)
            digest = chain.record_hash(prev, values)
            rows.append({**values, "seq": seq, "prev_hash": prev, "hash": digest})
            prev = digest
            if seq % every == 0:
                signed_at = at + datetime.timedelta(milliseconds=3)
                checkpoints.append(
                    {
                        "seq": seq,
                        "hash": digest,
                        "at": signed_at,
                        "key_id": signer.key_id,
                        "signature": signer.sign(seq, digest, chain.timestamp(signed_at)),
                    }
                )
        t1 = time.perf_counter()
        with engine.begin() as connection:
            connection.execute(insert(records_table), rows)
            if checkpoints:
                connection.execute(insert(checkpoints_table), checkpoints)
            connection.execute(
                update(head_table)
                .where(head_table.c.id == 1)
                .values(seq=seq, hash=prev, prev_hash=rows[-1]["prev_hash"])
            )
        t2 = time.perf_counter()
        made_s += t1 - t0
        insert_s += t2 - t1
        if budget_s is not None and seq == PG_PROBE_RECORDS and target > PG_PROBE_RECORDS:
            projected = (t2 - t_start) * target / PG_PROBE_RECORDS
            if projected > budget_s:
                note = (
                    f"the first {PG_PROBE_RECORDS:,} records took {t2 - t_start:.0f} s: "
                    f"{target:,} would take about {projected:.0f} s (over the {budget_s:.0f} s "
                    f"budget), so the log was built to {PG_PROBE_RECORDS:,} records"
                )
                target = seq
    total = time.perf_counter() - t_start
    return {
        "records": seq,
        "requested_records": records,
        "checkpoints": seq // every,
        "seconds": round(total, 1),
        "records_per_s": round(seq / total),
        "python_chain_and_sign_s": round(made_s, 1),
        "insert_s": round(insert_s, 1),
        "batch": BUILD_BATCH,
        "reduced": note,
    }


def tail_appends(audit: AuditLog, count: int) -> dict[str, Any]:
    """``count`` real appends (own transactions) on top of the bulk-built log."""
    rng = random.Random(77)
    entries = [search_entry(rng, i) for i in range(count)]
    return latency_summary(time_each(audit.append, entries))


def verification(
    report: verify.Report, phase: Phase, records: int, checkpoints: int
) -> dict[str, Any]:
    """A verification's report and phase; as expected when every one of ``records`` records
    and ``checkpoints`` checkpoints verified."""
    out = {**report_of(report), **phase.to_dict()}
    out["records_per_s"] = round(report.records / phase.seconds)
    out["as_expected"] = (
        report.ok and report.records == records and report.checkpoints_verified == checkpoints
    )
    return out


def million_run(
    backend: Backend, signer: Signer, args: argparse.Namespace, records: int
) -> dict[str, Any]:
    sessions = backend.fresh("million")
    every = DEFAULT_CHECKPOINT_EVERY
    budget = args.pg_build_budget if backend.name == "postgresql" else None
    log(f"{backend.name}: building a {records:,}-record log")
    build, build_phase = timed("build", lambda: build_log(sessions, signer, records, every, budget))
    build["rss_before_mb"] = build_phase.rss_before_mb
    build["peak_rss_mb"] = build_phase.peak_rss_mb
    if build["reduced"]:
        log(f"{backend.name}: {build['reduced']}")
    engine = sessions.kw["bind"]
    if backend.name == "postgresql":
        t0 = time.perf_counter()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE audit_records"))
            connection.execute(text("VACUUM ANALYZE audit_checkpoints"))
        build["vacuum_analyze_s"] = round(time.perf_counter() - t0, 1)
        with engine.connect() as connection:
            size = connection.execute(
                text("SELECT pg_database_size(current_database())")
            ).scalar_one()
    else:
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        size = (backend.workdir / "million.db").stat().st_size
    build["database_mb"] = round(size / 2**20, 1)

    log(f"{backend.name}: {args.tail_appends} appends through AuditLog on top of it")
    audit = AuditLog(sessions, signer, checkpoint_every=every)
    tail = tail_appends(audit, args.tail_appends)
    with sessions() as s:
        total, _ = chain.head(s)
    checkpoints = total // every

    log(f"{backend.name}: verify_database on {total:,} records")
    report, verify_phase = timed(
        "verify_database", lambda: verify.verify_database(sessions, signer.public_pem)
    )
    verified = verification(report, verify_phase, total, checkpoints)
    if not verified["as_expected"]:
        log(f"{backend.name}: VERIFICATION FAILED: {report.to_dict()}")

    log(f"{backend.name}: breakdown on {args.breakdown_sample:,} records")
    parts = breakdown(sessions, signer.public_pem, args.breakdown_sample, total)

    path = backend.workdir / f"{backend.name}-export.jsonl"
    log(f"{backend.name}: export_file")
    exported, export_phase = timed("export", lambda: export_file(sessions, signer, path))
    export_out = {**exported, **export_phase.to_dict()}
    export_out["file_mb"] = round(path.stat().st_size / 2**20, 1)
    export_out["records_per_s"] = round(exported["records"] / export_phase.seconds)
    log(f"{backend.name}: verify_export")
    export_report, vx_phase = timed("verify_export", lambda: verify.verify_export(path))
    verify_export_out = verification(export_report, vx_phase, total, checkpoints)
    path.unlink()
    audit.close()
    engine.dispose()
    return {
        "build": build,
        "tail_appends_own_tx": tail,
        "records": total,
        "verify_database": verified,
        "verify_breakdown": parts,
        "export_file": export_out,
        "verify_export": verify_export_out,
    }
