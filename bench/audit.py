"""Benchmark of the audit log (``facegate.audit``): its cost per request and its verification.

Every request leaves one hash-chained record (``AuditLog.append``), so the chain's cost is
paid by every request, and an outsider's check of the log (``verify_database``, or
``verify_export`` on an export) has to walk every record. On SQLite (a file in a temporary
directory on the local disk, opened with ``open_database`` as the service does: WAL,
``synchronous=FULL``) and on PostgreSQL (a fresh database made with ``CREATE DATABASE`` on the
server at ``--postgres-url`` and dropped at the end; skipped, and said so, if the server is
unreachable) it measures:

1. **Added latency per request**, the two ways the service writes a record, single-threaded,
   with ``time.perf_counter_ns`` around each whole transaction (commit included), after a
   warm-up, the three scenarios interleaved in blocks so background load falls on all alike:

   * ``tx_without`` / ``tx_with``: a small state change (one row inserted into a scratch table
     this script creates, as IndexFaces inserts a face row) in ``sessions.begin()``, without
     and with ``audit.append(entry, session=s)`` inside it. The commit (one fsync) is shared,
     so the added cost is the append (SQLite: the head read and compare-and-set and the
     record's insert; PostgreSQL: the one statement ``chain.APPEND_PG``) and the larger
     commit; reported as the difference of the means (with its standard error) and of the
     p50s and p99s, and as the ``append`` call alone timed inside the transaction;
   * ``own_tx``: ``audit.append(entry)`` in a transaction of its own (reads, denials), commit
     and fsync included, all of which a read request adds: on the connection the AuditLog
     keeps for such records (``audit.standalone``), as in the service.

   Entries are realistic SearchFacesByImage records (principal, use case, policy version,
   deciding policies, thresholds, 5 face ids, request id, latency, a small detail), the
   AuditLog signs a checkpoint every 1000 records (the default), so signing is included at
   its natural rate (the checkpoint appends are also listed on their own).
   A concurrent run follows: ``--threads`` threads each appending in their own transactions
   for ``--concurrent-seconds``: throughput, p50/p99, errors, and ``verify_database`` after.

2. **Verification of a 1,000,000-record log**. The log is built fast, not by a million
   commits: realistic mixed records (searches, detections, enrollments, deletions, denials)
   are chained in Python with ``chain.record_hash`` and inserted with ``executemany`` in
   batches of 10,000, with an Ed25519 checkpoint signed every 1000 records by the Signer and
   the ``audit_head`` row moved with each batch; then ``--tail-appends`` records are added
   through ``AuditLog.append`` (own transactions), so the real append continues a bulk-built
   chain and signs the next checkpoint itself. Timed end to end: ``verify_database`` (SQL
   reads in batches, every hash recomputed, every checkpoint signature checked),
   ``export_file`` of the whole log and ``verify_export`` of that file, each with the peak
   RSS during it (``VmHWM`` reset through ``/proc/self/clear_refs`` before each phase). A
   breakdown on a sample of records shows where verification time goes (the rows as
   ``verify_database`` reads them, the same rows as ORM objects and as Core tuples for
   comparison, canonical encoding, SHA-256, the walk, checkpoint signatures). On PostgreSQL
   the build stops at 100,000 records if the first 100,000 project a 1M build over
   ``--pg-build-budget`` seconds; the output says which size was measured. PostgreSQL gets
   ``VACUUM ANALYZE`` after the build (what autovacuum would have done to a log that grew
   over months); both databases are read warm (the build leaves them in the page cache:
   nothing is dropped).

Targets: under 1 ms added per request (in a state change's transaction: the mean and the
p99 difference; in a transaction of its own: the p99), on each database; verifying a million
records in under 60 s. The machine's load average is recorded; ``machine_busy`` is true when
the 1-minute average was above 1.5 at the start or the end (other processes then competed for
the two CPUs, which inflates wall-time tails; the cpu_* figures are the thread's own CPU time).

Run it (about 9 minutes on 2 idle cores, 14 on busy ones):

    .venv/bin/python bench/audit.py                    # writes bench/results/audit.json
    .venv/bin/python bench/audit.py --records 100000 --appends 1000 --output PATH
    .venv/bin/python bench/audit.py --skip-postgres
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime
import gc
import hashlib
import importlib.metadata
import itertools
import json
import math
import os
import platform
import random
import resource
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from facegate.audit import chain, verify
from facegate.audit.export import export_file
from facegate.audit.log import DEFAULT_CHECKPOINT_EVERY, AuditLog, Entry, values_of
from facegate.audit.signing import (
    Signer,
    checkpoint_message,
    load_or_create_signer,
    load_public,
    verify_signature,
)
from facegate.audit.tables import AuditCheckpoint, AuditHead, AuditRecord
from facegate.db.engine import open_database

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
DEFAULT_OUTPUT = RESULTS / "audit.json"
POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

TARGET_ADDED_MS = 1.0
TARGET_VERIFY_S = 60.0
TARGET_VERIFY_RECORDS = 1_000_000
BUSY_LOAD = 1.5
BUILD_BATCH = 10_000
PG_PROBE_RECORDS = 100_000
POLICY_VERSION = "75794427a983ebfc"
LOG_START = datetime.datetime(2026, 1, 5, 7, 0, tzinfo=datetime.UTC)

ORGANIZATIONS = (
    ("northwind-photos", "commercial", "photo_organization"),
    ("city-archive", "government", "media_archive"),
    ("harbor-clinic", "commercial", "access_control"),
    ("state-police", "law_enforcement", "missing_persons"),
    ("univ-vision-lab", "research", "research_evaluation"),
)


# --------------------------------------------------------------------------- helpers


def log(message: str) -> None:
    """Progress on stderr (stdout carries the summary table)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def latency_summary(samples_ns: Sequence[int]) -> dict[str, Any]:
    """p50, p90, p99, p99.9, mean and max of per-call latencies in milliseconds."""
    ms = np.asarray(samples_ns, dtype=np.float64) / 1e6
    p50, p90, p99, p999 = np.percentile(ms, [50, 90, 99, 99.9])
    return {
        "p50_ms": round(float(p50), 4),
        "p90_ms": round(float(p90), 4),
        "p99_ms": round(float(p99), 4),
        "p99_9_ms": round(float(p999), 4),
        "mean_ms": round(float(ms.mean()), 4),
        "max_ms": round(float(ms.max()), 4),
        "n": int(ms.size),
    }


def cpu_summary(samples_ns: Sequence[int]) -> dict[str, float]:
    """p50, p99 and mean of the thread's CPU time per call, milliseconds."""
    ms = np.asarray(samples_ns, dtype=np.float64) / 1e6
    p50, p99 = np.percentile(ms, [50, 99])
    return {
        "cpu_p50_ms": round(float(p50), 4),
        "cpu_p99_ms": round(float(p99), 4),
        "cpu_mean_ms": round(float(ms.mean()), 4),
    }


def _status_kb(key: str) -> int | None:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS; False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def rss_mb() -> float:
    kb = _status_kb("VmRSS")
    return round((kb or 0) / 1024, 1)


def peak_rss_mb() -> float:
    kb = _status_kb("VmHWM")
    if kb is None:  # not Linux: the process's peak since it started
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(kb / 1024, 1)


@dataclass
class Phase:
    """Wall time, CPU time and peak RSS of one timed phase."""

    name: str
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    rss_before_mb: float = 0.0
    peak_rss_mb: float = 0.0
    peak_reset: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 2),
            "cpu_seconds": round(self.cpu_seconds, 2),
            "rss_before_mb": self.rss_before_mb,
            "peak_rss_mb": self.peak_rss_mb,
            "peak_rss_is_for_this_phase": self.peak_reset,
        }


def release_memory() -> None:
    """Collect garbage and hand freed heap back to the OS, so RSS starts near what is live."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def timed(name: str, work: Callable[[], Any]) -> tuple[Any, Phase]:
    """Run ``work`` after a collection, with the peak-RSS mark reset; its result and Phase."""
    release_memory()
    phase = Phase(name, rss_before_mb=rss_mb(), peak_reset=reset_peak_rss())
    c0, t0 = time.process_time(), time.perf_counter()
    result = work()
    phase.seconds = time.perf_counter() - t0
    phase.cpu_seconds = time.process_time() - c0
    phase.peak_rss_mb = peak_rss_mb()
    return result, phase


# --------------------------------------------------------------------------- records


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def search_entry(rng: random.Random, i: int) -> Entry:
    """An allowed SearchFacesByImage with 5 results, as the service records it."""
    organization, sector, purpose = ORGANIZATIONS[i % len(ORGANIZATIONS)]
    collection = f"{organization}-gallery-{i % 7}"
    return Entry(
        operation="SearchFacesByImage",
        decision="allow",
        organization=organization,
        sector=sector,
        access_key_id=f"FGKEY{(i * 7919) % 40:015d}",
        member="",
        roles=("analyst", "viewer"),
        use_case_id=3 + i % len(ORGANIZATIONS),
        purpose=purpose,
        resource=f"collection/{collection}",
        policy_version=POLICY_VERSION,
        policies=("BASELINE", "TENANT", "THRESHOLD-FLOOR"),
        reasons="",
        requested_threshold=80.0,
        effective_threshold=99.0 if sector == "law_enforcement" else 80.0,
        result_count=5,
        face_ids=[_uuid(rng) for _ in range(5)],
        request_id=_uuid(rng),
        latency_ms=round(rng.uniform(60.0, 420.0), 3),
        detail={
            "collection": collection,
            "max_faces": 5,
            "quality_filter": "AUTO",
            "faces_in_image": rng.randint(1, 4),
            "searched_face": {"confidence": round(rng.uniform(95, 100), 4)},
        },
    )


def mixed_entry(rng: random.Random, i: int) -> Entry:
    """A record of the million-record log: mostly searches, some other operations."""
    entry = search_entry(rng, i)
    kind = i % 20
    if kind in (1, 2):
        entry.operation, entry.resource = "DetectFaces", ""
        entry.policies, entry.face_ids = ("BASELINE",), []
        entry.requested_threshold = entry.effective_threshold = None
        entry.detail = {"faces_in_image": rng.randint(0, 6), "attributes": "DEFAULT"}
    elif kind == 3:
        entry.operation, entry.face_ids = "IndexFaces", [_uuid(rng)]
        entry.policies, entry.result_count = ("BASELINE", "TENANT", "ENROLLMENT-BASIS"), 1
        entry.requested_threshold = entry.effective_threshold = None
        entry.detail = {"legal_basis": "consent", "external_image_id": f"img-{i}"}
    elif kind == 4:
        entry.operation, entry.result_count = "DeleteFaces", 2
        entry.face_ids = [_uuid(rng), _uuid(rng)]
        entry.policies, entry.detail = ("BASELINE", "TENANT"), {}
    elif kind == 5:
        entry.decision, entry.result_count, entry.face_ids = "deny", None, []
        entry.policies = ("SURVEILLANCE-LIMITS.searches-per-hour",)
        entry.reasons = "The use case's hourly search cap (500) is reached; ask the operator."
        entry.error_type = "LimitExceededException"
    elif kind == 6:
        entry.result_count = rng.randint(0, 4)
        entry.face_ids = list(entry.face_ids)[: entry.result_count]
    if entry.sector == "law_enforcement" and entry.operation == "SearchFacesByImage":
        entry.case_reference = f"C-{2026000 + i % 997}"
        entry.policies = (*entry.policies, "CASE-REFERENCE", "HUMAN-REVIEW")
        entry.review_id = _uuid(rng) if entry.decision == "allow" else ""
    return entry


# --------------------------------------------------------------------------- databases


@dataclass
class Backend:
    """One storage backend: how to make a fresh database, and what to clean up."""

    name: str  # sqlite, postgresql
    workdir: Path
    admin: Engine | None = None
    made: list[str] = field(default_factory=list)
    engines: list[Engine] = field(default_factory=list)
    server_version: str = ""

    def fresh(self, label: str) -> sessionmaker[Session]:
        """A new, migrated database (open_database, as the service opens it)."""
        if self.name == "sqlite":
            url = f"sqlite:///{self.workdir / f'{label}.db'}"
        else:
            assert self.admin is not None
            name = f"facegate_bench_audit_{uuid.uuid4().hex[:10]}_{label}"
            with self.admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            self.made.append(name)
            url = self.admin.url.set(database=name).render_as_string(hide_password=False)
        sessions = open_database(url)
        self.engines.append(sessions.kw["bind"])
        return sessions

    def close(self) -> None:
        for engine in self.engines:
            engine.dispose()
        if self.admin is not None:
            with self.admin.connect() as connection:
                for name in self.made:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            self.admin.dispose()


def postgres_backend(url: str, workdir: Path) -> tuple[Backend | None, str]:
    """A PostgreSQL backend, or None and why not."""
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            version = connection.execute(text("SHOW server_version")).scalar_one()
            fsync = connection.execute(text("SHOW fsync")).scalar_one()
            commit = connection.execute(text("SHOW synchronous_commit")).scalar_one()
    except OperationalError as exc:
        admin.dispose()
        reason = str(exc).splitlines()[0]
        return None, f"PostgreSQL unreachable at {url}: {reason}"
    backend = Backend("postgresql", workdir, admin=admin)
    backend.server_version = f"{version} (fsync={fsync}, synchronous_commit={commit})"
    return backend, ""


# --------------------------------------------------------------------------- 1. latency


def scratch_table(engine: Engine) -> Table:
    """A table for the state change the record describes (not part of facegate's schema)."""
    meta = MetaData()
    table = Table(
        "bench_scratch",
        meta,
        Column("id", Integer, primary_key=True),
        Column("at", DateTime(timezone=True)),
        Column("collection", String(128)),
        Column("note", String(200)),
    )
    meta.create_all(engine)
    return table


@dataclass
class Samples:
    wall: list[int] = field(default_factory=list)
    cpu: list[int] = field(default_factory=list)
    inner: list[int] = field(default_factory=list)  # the append call alone (tx_with)
    checkpoint_wall: list[int] = field(default_factory=list)


def added(without: Samples, with_: Samples) -> dict[str, float]:
    """with minus without: means (and the standard error), p50s, p99s; the call alone."""
    a = np.asarray(without.wall, dtype=np.float64) / 1e6
    b = np.asarray(with_.wall, dtype=np.float64) / 1e6
    stderr = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    p50a, p99a = np.percentile(a, [50, 99])
    p50b, p99b = np.percentile(b, [50, 99])
    call = latency_summary(with_.inner)
    cpu = (statistics.fmean(with_.cpu) - statistics.fmean(without.cpu)) / 1e6
    return {
        "mean_ms": round(float(b.mean() - a.mean()), 4),
        "mean_stderr_ms": round(stderr, 4),
        "p50_ms": round(float(p50b - p50a), 4),
        "p99_ms": round(float(p99b - p99a), 4),
        "cpu_mean_ms": round(cpu, 4),
        "append_call_p50_ms": call["p50_ms"],
        "append_call_p99_ms": call["p99_ms"],
    }


def latency_run(
    sessions: sessionmaker[Session], signer: Signer, args: argparse.Namespace
) -> tuple[AuditLog, dict[str, Any]]:
    """Scenarios tx_without, tx_with and own_tx (and the what-ifs), interleaved in blocks."""
    audit = AuditLog(sessions, signer)  # checkpoint_every: the default, 1000
    table = scratch_table(sessions.kw["bind"])
    rng = random.Random(5)
    counter = itertools.count()
    row = {"collection": "northwind-photos-gallery-1", "note": "x" * 120}
    append_in_tx = Callable[[Entry, Session], int]

    def tx(append: append_in_tx | None, out: Samples | None) -> None:
        entry = search_entry(rng, next(counter))
        seq = a0 = a1 = 0
        c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
        with sessions.begin() as s:
            s.execute(insert(table).values(at=datetime.datetime.now(datetime.UTC), **row))
            if append is not None:
                a0 = time.perf_counter_ns()
                seq = append(entry, s)
                a1 = time.perf_counter_ns()
        t1, c1 = time.perf_counter_ns(), time.thread_time_ns()
        if out is not None:
            out.wall.append(t1 - t0)
            out.cpu.append(c1 - c0)
            if append is not None:
                out.inner.append(a1 - a0)
                if seq % audit.checkpoint_every == 0:
                    out.checkpoint_wall.append(t1 - t0)

    def own(append: Callable[[Entry], int], out: Samples | None) -> None:
        entry = search_entry(rng, next(counter))
        c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
        seq = append(entry)
        t1, c1 = time.perf_counter_ns(), time.thread_time_ns()
        if out is not None:
            out.wall.append(t1 - t0)
            out.cpu.append(c1 - c0)
            if seq % audit.checkpoint_every == 0:
                out.checkpoint_wall.append(t1 - t0)

    scenarios: dict[str, tuple[Callable[[Samples | None], None], Samples]] = {
        "tx_without": (lambda out: tx(None, out), Samples()),
        "tx_with": (lambda out: tx(lambda e, s: audit.append(e, session=s), out), Samples()),
        "own_tx": (lambda out: own(audit.append, out), Samples()),
    }
    for run, _ in scenarios.values():
        for _ in range(args.warmup):
            run(None)
    per_block = max(1, args.appends // args.rounds)
    for _ in range(args.rounds):
        for run, out in scenarios.values():
            for _ in range(per_block):
                run(out)

    results: dict[str, Any] = {}
    for name, (_, out) in scenarios.items():
        results[name] = {**latency_summary(out.wall), **cpu_summary(out.cpu)}
        if out.inner:
            results[name]["append_call_inside_tx"] = latency_summary(out.inner)
        if out.checkpoint_wall:
            results[name]["checkpoint_appends_ms"] = [
                round(x / 1e6, 3) for x in out.checkpoint_wall
            ]
    samples = {name: out for name, (_, out) in scenarios.items()}
    results["in_transaction_added"] = added(samples["tx_without"], samples["tx_with"])
    results["own_transaction_added"] = {
        key: results["own_tx"][key] for key in ("p50_ms", "p99_ms", "mean_ms")
    }
    report, phase = timed("verify", lambda: verify.verify_database(sessions, signer.public_pem))
    results["verify_after"] = {
        "ok": report.ok,
        "records": report.records,
        "checkpoints_verified": report.checkpoints_verified,
        "first_problem": report.to_dict()["first_problem"],
        "seconds": round(phase.seconds, 2),
    }
    return audit, results


def concurrent_run(
    audit: AuditLog, threads: int, seconds: float, public_pem: str
) -> dict[str, Any]:
    """``threads`` threads appending in their own transactions; then verify the chain."""
    with audit.sessions() as s:
        before = chain.head(s)[0]
    start = threading.Barrier(threads + 1)
    lock = threading.Lock()
    samples: list[int] = []
    errors: dict[str, int] = {}
    first_error: list[str] = []
    seqs: list[int] = []
    deadline = [0.0]

    def worker(index: int) -> None:
        rng = random.Random(100 + index)
        mine: list[int] = []
        my_seqs: list[int] = []
        start.wait()
        i = 0
        while time.perf_counter() < deadline[0]:
            entry = search_entry(rng, index * 1_000_000 + i)
            i += 1
            t0 = time.perf_counter_ns()
            try:
                my_seqs.append(audit.append(entry))
            except Exception as exc:  # counted and reported: the run must show failures
                with lock:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    if not first_error:
                        first_error.append(f"{type(exc).__name__}: {exc}"[:500])
                continue
            mine.append(time.perf_counter_ns() - t0)
        with lock:
            samples.extend(mine)
            seqs.extend(my_seqs)

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    deadline[0] = time.perf_counter() + seconds
    t0 = time.perf_counter()
    start.wait()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - t0
    report, phase = timed("verify", lambda: verify.verify_database(audit.sessions, public_pem))
    with audit.sessions() as s:
        after = chain.head(s)[0]
    distinct = len(set(seqs)) == len(seqs)
    expected = list(range(before + 1, after + 1))
    return {
        "threads": threads,
        "seconds": round(elapsed, 2),
        "appends": len(samples),
        "appends_per_s": round(len(samples) / elapsed, 1),
        **latency_summary(samples or [0]),
        "errors": errors,
        "first_error": first_error[0] if first_error else None,
        "seqs_distinct_and_contiguous": distinct and sorted(seqs) == expected,
        "verify_after": {
            "ok": report.ok,
            "records": report.records,
            "checkpoints_verified": report.checkpoints_verified,
            "first_problem": report.to_dict()["first_problem"],
            "seconds": round(phase.seconds, 2),
        },
    }


# --------------------------------------------------------------------------- 2. a million


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
    samples = []
    for i in range(count):
        entry = search_entry(rng, i)
        t0 = time.perf_counter_ns()
        audit.append(entry)
        samples.append(time.perf_counter_ns() - t0)
    return latency_summary(samples)


def breakdown(
    sessions: sessionmaker[Session], public_pem: str, sample: int, total_records: int
) -> dict[str, Any]:
    """Where verify_database's time goes, per record, measured on the first ``sample``."""
    gc.collect()
    t0 = time.perf_counter()
    rows = list(itertools.islice(verify._db_rows(sessions), sample))
    db_rows_s = time.perf_counter() - t0
    n = len(rows)

    t0 = time.perf_counter()
    after, read = 0, 0
    while read < n:
        with sessions() as s:
            objects = s.scalars(
                select(AuditRecord)
                .where(AuditRecord.seq > after)
                .order_by(AuditRecord.seq)
                .limit(verify.BATCH)
            ).all()
            fields = [chain.fields_of(o) for o in objects]
        if not objects:
            break
        read += len(fields)
        after = objects[-1].seq
    orm_s = time.perf_counter() - t0

    columns = [AuditRecord.seq, AuditRecord.prev_hash, AuditRecord.hash] + [
        getattr(AuditRecord, name) for name in chain.HASHED_FIELDS
    ]
    t0 = time.perf_counter()
    after, read = 0, 0
    while read < n:
        with sessions() as s:
            batch = s.execute(
                select(*columns)
                .where(AuditRecord.seq > after)
                .order_by(AuditRecord.seq)
                .limit(verify.BATCH)
            ).all()
        if not batch:
            break
        read += len(batch)
        after = batch[-1][0]
    core_s = time.perf_counter() - t0

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


def report_of(report: verify.Report) -> dict[str, Any]:
    out = report.to_dict()
    out.pop("problems")
    out.pop("head_hash")
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
    verified = report_of(report)
    verified.update(verify_phase.to_dict())
    verified["records_per_s"] = round(report.records / verify_phase.seconds)
    verified["as_expected"] = (
        report.ok and report.records == total and report.checkpoints_verified == checkpoints
    )
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
    verify_export_out = {**report_of(export_report), **vx_phase.to_dict()}
    verify_export_out["records_per_s"] = round(export_report.records / vx_phase.seconds)
    verify_export_out["as_expected"] = (
        export_report.ok
        and export_report.records == total
        and export_report.checkpoints_verified == checkpoints
    )
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


# --------------------------------------------------------------------------- report


def environment(backends: dict[str, Backend | None]) -> dict[str, Any]:
    pg = backends.get("postgresql")
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "sqlalchemy_version": importlib.metadata.version("sqlalchemy"),
        "psycopg_version": importlib.metadata.version("psycopg"),
        "cryptography_version": importlib.metadata.version("cryptography"),
        "sqlite_library_version": sqlite3.sqlite_version,
        "postgresql_server": pg.server_version if pg else None,
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "processor": platform.processor() or platform.machine(),
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "load_average_1_5_15_at_start": load_average(),
    }


def targets(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "added_latency": f"< {TARGET_ADDED_MS:g} ms per request: in a state change's "
        "transaction, the difference of the means and of the p99s (with minus without); "
        "in a transaction of its own, the p99 of the whole append (commit included)",
        "verification": f"verify_database on {TARGET_VERIFY_RECORDS:,} records in "
        f"< {TARGET_VERIFY_S:g} s",
    }
    passes = []
    for name, r in results.items():
        if "skipped" in r:
            out[name] = {"skipped": r["skipped"]}
            continue
        lat = r["latency"]
        inside, own = lat["in_transaction_added"], lat["own_transaction_added"]
        entry: dict[str, Any] = {
            "in_transaction": {
                "mean_added_ms": inside["mean_ms"],
                "p99_added_ms": inside["p99_ms"],
                "pass": inside["mean_ms"] < TARGET_ADDED_MS and inside["p99_ms"] < TARGET_ADDED_MS,
            },
            "own_transaction": {
                "p50_ms": own["p50_ms"],
                "p99_ms": own["p99_ms"],
                "pass": own["p99_ms"] < TARGET_ADDED_MS,
            },
        }
        million = r["million"]
        verified = million["verify_database"]
        seconds = verified["seconds"]
        if million["records"] >= TARGET_VERIFY_RECORDS:
            entry["verify_1m"] = {
                "records": million["records"],
                "seconds": seconds,
                "pass": seconds < TARGET_VERIFY_S and verified["as_expected"],
            }
        else:
            projected = round(seconds * TARGET_VERIFY_RECORDS / million["records"], 1)
            entry["verify_1m"] = {
                "records": million["records"],
                "seconds": seconds,
                "projected_1m_seconds": projected,
                "pass": None,
                "note": "not measured on 1M records (see build.reduced); projected linearly",
            }
        for item in entry.values():
            if item.get("pass") is not None:
                passes.append(item["pass"])
        entry["pass"] = all(x["pass"] is not False for x in entry.values())
        out[name] = entry
    out["pass"] = all(passes)
    return out


def summary_table(results: dict[str, dict[str, Any]]) -> str:
    head = (
        f"{'db':<11} {'scenario':<26} {'p50':>8} {'p99':>8} {'p99.9':>8} {'mean':>8} "
        f"{'cpu50':>7} {'n':>6}"
    )
    lines = ["added latency per request, ms (wall; cpu50: the thread's CPU time)", head]
    lines.append("-" * len(head))
    for name, r in results.items():
        if "skipped" in r:
            lines.append(f"{name:<11} skipped: {r['skipped']}")
            continue
        lat = r["latency"]
        rows = [
            ("tx_without (insert 1 row)", lat["tx_without"]),
            ("tx_with (+ append)", lat["tx_with"]),
            ("  append call inside tx", lat["tx_with"]["append_call_inside_tx"]),
            ("own_tx (append + commit)", lat["own_tx"]),
        ]
        for label, s in rows:
            cpu = f"{s['cpu_p50_ms']:>7.3f}" if "cpu_p50_ms" in s else f"{'':>7}"
            lines.append(
                f"{name:<11} {label:<26} {s['p50_ms']:>8.3f} {s['p99_ms']:>8.3f} "
                f"{s['p99_9_ms']:>8.3f} {s['mean_ms']:>8.3f} {cpu} {s['n']:>6}"
            )
        differences = [("added in tx (with-without)", lat["in_transaction_added"])]
        for label, d in differences:
            lines.append(
                f"{name:<11} {label:<26} {d['p50_ms']:>8.3f} {d['p99_ms']:>8.3f} {'':>8} "
                f"{d['mean_ms']:>8.3f}  (mean +/- {d['mean_stderr_ms']:.3f}; cpu mean "
                f"{d['cpu_mean_ms']:+.3f})"
            )
        c = r["concurrent"]
        label = f"{c['threads']} threads, own tx"
        lines.append(
            f"{name:<11} {label:<26} {c['p50_ms']:>8.3f} "
            f"{c['p99_ms']:>8.3f} {c['p99_9_ms']:>8.3f} {c['mean_ms']:>8.3f} {'':>7} "
            f"{c['appends']:>6}  {c['appends_per_s']:.0f}/s, errors {c['errors'] or 0}, "
            f"verifies {c['verify_after']['ok']}"
        )
    lines.append("")
    head = (
        f"{'db':<11} {'records':>9} {'build s':>8} {'verify s':>9} {'rec/s':>8} {'peak MB':>8} "
        f"{'export s':>9} {'vexport s':>10} {'peak MB':>8}  ok"
    )
    lines += ["verification of the whole log", head, "-" * len(head)]
    for name, r in results.items():
        if "skipped" in r:
            continue
        m = r["million"]
        v, x, vx = m["verify_database"], m["export_file"], m["verify_export"]
        lines.append(
            f"{name:<11} {m['records']:>9,} {m['build']['seconds']:>8.1f} {v['seconds']:>9.1f} "
            f"{v['records_per_s']:>8,} {v['peak_rss_mb']:>8.0f} {x['seconds']:>9.1f} "
            f"{vx['seconds']:>10.1f} {vx['peak_rss_mb']:>8.0f}  "
            f"{v['as_expected'] and vx['as_expected']}"
        )
        per = m["verify_breakdown"]["per_record_us"]
        lines.append(
            f"{'':<11} per record (us): read {per['read_as_verify_database_reads']} (as ORM "
            f"objects {per['orm_objects_same_rows']}, Core tuples {per['core_tuples_same_rows']}), "
            f"canonical {per['canonical_encoding']}, sha256 {per['sha256']}, walk incl. hash "
            f"{per['verify_rows_walk_incl_hash']}"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--appends", type=int, default=6_000, help="timed calls per scenario")
    p.add_argument("--warmup", type=int, default=500, help="untimed calls per scenario")
    p.add_argument("--rounds", type=int, default=20, help="interleaved blocks")
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--concurrent-seconds", type=float, default=6.0)
    p.add_argument("--records", type=int, default=TARGET_VERIFY_RECORDS, help="log size")
    p.add_argument(
        "--pg-build-budget",
        type=float,
        default=600.0,
        help="seconds a PostgreSQL build of --records may take, projected from 100k",
    )
    p.add_argument("--tail-appends", type=int, default=1_000)
    p.add_argument("--breakdown-sample", type=int, default=100_000)
    p.add_argument("--postgres-url", default=POSTGRES_ADMIN_URL)
    p.add_argument("--skip-postgres", action="store_true")
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    return p.parse_args(argv)


def run_backend(backend: Backend, signer: Signer, args: argparse.Namespace) -> dict[str, Any]:
    sessions = backend.fresh("latency")
    log(f"{backend.name}: added latency, 3 scenarios x {args.appends} (+{args.warmup} warm-up)")
    audit, latency = latency_run(sessions, signer, args)
    log(f"{backend.name}: {args.threads} threads for {args.concurrent_seconds} s")
    concurrent = concurrent_run(audit, args.threads, args.concurrent_seconds, signer.public_pem)
    if not latency["verify_after"]["ok"]:
        log(f"{backend.name}: CHAIN FAILED TO VERIFY after the latency run: {latency}")
    if not concurrent["verify_after"]["ok"]:
        log(f"{backend.name}: CHAIN FAILED TO VERIFY after the concurrent run: {concurrent}")
    audit.close()
    sessions.kw["bind"].dispose()
    million = million_run(backend, signer, args, args.records)
    return {"latency": latency, "concurrent": concurrent, "million": million}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="facegate-bench-audit-"))
    backends: dict[str, Backend | None] = {"sqlite": Backend("sqlite", workdir)}
    skipped: dict[str, str] = {}
    if args.skip_postgres:
        skipped["postgresql"] = "--skip-postgres"
    else:
        backends["postgresql"], why = postgres_backend(args.postgres_url, workdir)
        if backends["postgresql"] is None:
            skipped["postgresql"] = why
            log(why)
    env = environment(backends)
    results: dict[str, dict[str, Any]] = {}
    try:
        signer = load_or_create_signer(workdir, None)
        for name in ("sqlite", "postgresql"):
            backend = backends.get(name)
            if backend is None:
                results[name] = {"skipped": skipped.get(name, "not run")}
                continue
            results[name] = run_backend(backend, signer, args)
    finally:
        for backend in backends.values():
            if backend is not None:
                backend.close()
        shutil.rmtree(workdir, ignore_errors=True)

    env["load_average_1_5_15_at_end"] = load_average()
    busy = max(env["load_average_1_5_15_at_start"][0], env["load_average_1_5_15_at_end"][0])
    env["machine_busy"] = busy > BUSY_LOAD
    if env["machine_busy"]:
        env["machine_busy_note"] = (
            f"1-minute load average above {BUSY_LOAD} on {os.cpu_count()} CPUs: other "
            "processes competed for the CPUs, so wall-time tails (p99, p99.9, max) include "
            "preemption; p50 and the cpu_* figures are the least affected."
        )
    report = {
        "benchmark": "audit log: added latency per request and verification of a "
        "1,000,000-record log (facegate.audit)",
        "environment": env,
        "method": {
            "latency": "time.perf_counter_ns around each whole transaction (commit "
            "included), one at a time, one thread, garbage collector on; scenarios "
            f"tx_without, tx_with and own_tx interleaved in {args.rounds} blocks of "
            f"{max(1, args.appends // args.rounds)} after {args.warmup} warm-up calls each; "
            f"AuditLog checkpoint_every {DEFAULT_CHECKPOINT_EVERY} (Ed25519 signature in "
            "the transaction of every 1000th record)",
            "state_change": "INSERT of one row (id, timestamp, two short strings) into "
            "bench_scratch, a table this script creates in the same database",
            "entry": "SearchFacesByImage, allowed: organization, sector, key, roles, use case, "
            "purpose, collection, policy version, 3 deciding policies, requested and "
            "effective thresholds, 5 face ids, request id, latency, a 5-key detail",
            "concurrent": f"{args.threads} threads, AuditLog.append in own transactions for "
            f"{args.concurrent_seconds} s on the latency database, then verify_database",
            "million": f"mixed records chained with chain.record_hash and inserted with "
            f"executemany in batches of {BUILD_BATCH}, checkpoints signed every "
            f"{DEFAULT_CHECKPOINT_EVERY}, audit_head moved per batch; then "
            f"{args.tail_appends} AuditLog.append calls; then verify_database, a breakdown "
            f"on the first {args.breakdown_sample:,} records, export_file and verify_export; "
            "peak RSS per phase from VmHWM reset via /proc/self/clear_refs; databases warm "
            "in the page cache",
            "sqlite": "a file in a temporary directory on the local disk, open_database "
            "(WAL, synchronous=FULL, foreign keys, busy_timeout 10 s)",
            "postgresql": "a fresh database on the local server, open_database (pool_pre_ping,"
            " READ COMMITTED); VACUUM ANALYZE after the bulk build",
        },
        "results": results,
        "targets": targets(results),
        "total_s": round(time.perf_counter() - started, 1),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(summary_table(results))
    print()
    t = report["targets"]
    for name in results:
        item = t[name]
        if "skipped" in item:
            print(f"{name}: skipped ({item['skipped']})")
            continue
        verdicts = ", ".join(
            f"{key} {'PASS' if v['pass'] else ('n/a' if v['pass'] is None else 'FAIL')}"
            for key, v in item.items()
            if isinstance(v, dict)
        )
        print(f"{name}: {verdicts}")
    print(
        f"machine_busy {env['machine_busy']} (load {env['load_average_1_5_15_at_start']} -> "
        f"{env['load_average_1_5_15_at_end']}); wrote {args.output} in {report['total_s']} s"
    )
    ok = all(
        r["latency"]["verify_after"]["ok"]
        and r["concurrent"]["verify_after"]["ok"]
        and r["million"]["verify_database"]["as_expected"]
        and r["million"]["verify_export"]["as_expected"]
        for r in results.values()
        if "skipped" not in r
    )
    if not ok:
        print("a chain did not verify as expected: see the JSON", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
