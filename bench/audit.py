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

Its parts are in bench/_audit/ (records, backends, phases, latency, million, breakdown,
report); the helpers it shares with the other benchmarks in bench/_common.py.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _audit.backends import POSTGRES_ADMIN_URL, Backend, postgres_backend
from _audit.latency import concurrent_run, latency_run
from _audit.million import million_run
from _audit.report import (
    BUSY_NOTE,
    TARGET_VERIFY_RECORDS,
    audit_environment,
    method,
    print_summary,
    targets,
)
from _common import add_output_option, end_environment, log, output_path, workdir, write_results
from facegate.audit.signing import Signer, load_or_create_signer


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
    add_output_option(p, "audit.json")
    args = p.parse_args(argv)
    args.output = output_path(args, "audit.json")
    return args


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


def run_all(args: argparse.Namespace, folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The environment, and each database's results (or why it was skipped)."""
    backends: dict[str, Backend | None] = {"sqlite": Backend("sqlite", folder)}
    skipped: dict[str, str] = {}
    if args.skip_postgres:
        skipped["postgresql"] = "--skip-postgres"
    else:
        backends["postgresql"], why = postgres_backend(args.postgres_url, folder)
        if backends["postgresql"] is None:
            skipped["postgresql"] = why
            log(why)
    env = audit_environment(backends)
    results: dict[str, dict[str, Any]] = {}
    try:
        signer = load_or_create_signer(folder, None)
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
    return env, results


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    with workdir("audit") as folder:
        env, results = run_all(args, folder)
    end_environment(env, BUSY_NOTE)
    report = {
        "benchmark": "audit log: added latency per request and verification of a "
        "1,000,000-record log (facegate.audit)",
        "environment": env,
        "method": method(args),
        "results": results,
        "targets": targets(results),
        "total_s": round(time.perf_counter() - started, 1),
    }
    write_results(args.output, report)
    print_summary(report, args.output)
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
