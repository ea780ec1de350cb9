"""Part 1 of bench/audit.py: the latency an audit record adds to a request, single-threaded
(in a state change's transaction, and in a transaction of its own), then under threads."""

from __future__ import annotations

import argparse
import datetime
import itertools
import math
import random
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Column, DateTime, Engine, Integer, MetaData, String, Table, insert
from sqlalchemy.orm import Session, sessionmaker

from _audit.phases import verified_after
from _audit.records import search_entry
from _common import WallCpu, interleave, percentile, summarize, time_one
from facegate.audit import chain
from facegate.audit.log import AuditLog, Entry
from facegate.audit.signing import Signer

LATENCY = ("p50", "p90", "p99", "p99_9", "mean", "max")


def latency_summary(samples_ns: Sequence[int]) -> dict[str, Any]:
    """p50, p90, p99, p99.9, mean and max of per-call latencies in milliseconds."""
    return summarize(samples_ns, "ms", LATENCY, per=1e6)


def cpu_summary(samples_ns: Sequence[int]) -> dict[str, Any]:
    """p50, p99 and mean of the thread's CPU time per call, milliseconds."""
    return summarize(samples_ns, "ms", ("p50", "p99", "mean"), per=1e6, count=None, prefix="cpu_")


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
class Samples(WallCpu):
    inner: list[int] = field(default_factory=list)  # the append call alone (tx_with)
    checkpoint_wall: list[int] = field(default_factory=list)

    def checkpoint(self, seq: int, every: int) -> None:
        """Keep the last call's wall time apart too when it signed a checkpoint."""
        if seq % every == 0:
            self.checkpoint_wall.append(self.wall[-1])


def added(without: Samples, with_: Samples) -> dict[str, float]:
    """with minus without: means (and the standard error), p50s, p99s; the call alone."""
    a = np.asarray(without.wall, dtype=np.float64) / 1e6
    b = np.asarray(with_.wall, dtype=np.float64) / 1e6
    stderr = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    call = latency_summary(with_.inner)
    cpu = (statistics.fmean(with_.cpu) - statistics.fmean(without.cpu)) / 1e6
    return {
        "mean_ms": round(float(b.mean() - a.mean()), 4),
        "mean_stderr_ms": round(stderr, 4),
        "p50_ms": round(percentile(b, 50) - percentile(a, 50), 4),
        "p99_ms": round(percentile(b, 99) - percentile(a, 99), 4),
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

    def tx(append: append_in_tx | None, out: Samples) -> None:
        entry = search_entry(rng, next(counter))

        def change() -> int:
            with sessions.begin() as s:
                s.execute(insert(table).values(at=datetime.datetime.now(datetime.UTC), **row))
                if append is None:
                    return 0
                elapsed, seq = time_one(lambda: append(entry, s))
                out.inner.append(elapsed)
                return seq

        seq = out.measure(change)
        if append is not None:
            out.checkpoint(seq, audit.checkpoint_every)

    def own(append: Callable[[Entry], int], out: Samples) -> None:
        entry = search_entry(rng, next(counter))
        out.checkpoint(out.measure(lambda: append(entry)), audit.checkpoint_every)

    scenarios: dict[str, tuple[Callable[[Samples], None], Samples]] = {
        "tx_without": (lambda out: tx(None, out), Samples()),
        "tx_with": (lambda out: tx(lambda e, s: audit.append(e, session=s), out), Samples()),
        "own_tx": (lambda out: own(audit.append, out), Samples()),
    }
    for run, _ in scenarios.values():
        discarded = Samples()
        for _ in range(args.warmup):
            run(discarded)
    per_block = max(1, args.appends // args.rounds)

    def block(run: Callable[[Samples], None], out: Samples) -> Callable[[], None]:
        def run_block() -> None:
            for _ in range(per_block):
                run(out)

        return run_block

    interleave([block(run, out) for run, out in scenarios.values()], args.rounds)

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
    results["verify_after"] = verified_after(sessions, signer.public_pem)
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
    verify_after = verified_after(audit.sessions, public_pem)
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
        "verify_after": verify_after,
    }
