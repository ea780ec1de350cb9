"""Benchmark of facegate's vector index (``facegate.gallery.index.VectorIndex``).

For each collection size (default 10k, 100k and 1M faces) and each index kind (exact =
IndexFlatL2, hnsw = IndexHNSWFlat M=32 efConstruction=200) it measures:

* build time (``VectorIndex.build``), save and load time, file size;
* memory per face: the serialized size / N, and the RSS growth while building / N;
* search latency p50/p99/mean in ms for k=1 and k=10, one query at a time through
  ``VectorIndex.search`` (as the service calls it: Python checks, lock and FAISS);
* recall of HNSW against exact search on the same queries: recall@1 (same top id),
  recall@10 (overlap of the top 10) and, for both kinds, "same person @1";
* an efSearch sweep (16 to 2048) of HNSW recall and latency, at every size;
* how much farther HNSW's top hit is than the true nearest when they differ;
* the issue's target (1M faces: p99 < 10 ms with recall@1 >= 0.99), pass/fail.

FAISS runs single-threaded (``faiss.omp_set_num_threads(1)``, builds included, unless
``--build-threads``): the service runs one search per worker process.

Data: synthetic dlib-like descriptors. N/5 "people": a centre = common mean (the mean of the
real dlib descriptors in bench/reference-descriptors.npz) + a person offset drawn from a
Gaussian with a decaying variance spectrum (variance of component i proportional to
(i+1)^-decay, default decay 0.5, in a random orthonormal basis), scaled so two different
people are ~0.85 apart; each stored face and each query is centre + isotropic noise
(sigma 0.025 per dimension, so two photos of one person are ~0.4 apart). Stored: 5 samples
per person; queries: 1,000 held-out 6th samples of random stored people. The measured
distance statistics are written to the results so the realism can be checked: they match
the real descriptors in the repository (norm ~1.4-1.6, component RMS 0.13, per-dimension
std ~0.05, same person ~0.35-0.4, different people ~0.7-1.1).

"recall@1" is strict: HNSW's top id equals exact search's top id. With five photos per
person at nearly equal distances from a query, a miss is usually another photo of the right
person; "same person @1" (top hit is one of the query person's photos) is also reported.

Run it (the default takes about 30 minutes, most of it the 1M HNSW build, and stays under
~4 GB on 2 cores):

    .venv/bin/python bench/search.py                 # writes bench/results/search.json
    .venv/bin/python bench/search.py --quick         # 10k and 100k, search-quick.json
    .venv/bin/python bench/search.py --sizes 10k,300k --output PATH

bench/_common.py holds the helpers it shares with the other benchmarks.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from _common import (
    BENCH,
    add_output_option,
    end_environment,
    environment,
    log,
    output_path,
    rss_bytes,
    rusage_peak_mb,
    summarize,
    time_one,
    workdir,
    write_results,
)
from facegate.gallery.index import (
    DEFAULT_EF_SEARCH,
    HNSW_EF_CONSTRUCTION,
    HNSW_M,
    VectorIndex,
)

OUTPUT = "search.json"
QUICK_OUTPUT = "search-quick.json"
REFERENCE = BENCH / "reference-descriptors.npz"

DIM = 128
SAMPLES_PER_PERSON = 5
WITHIN_SIGMA = 0.025  # per dimension: same-person distance ~ 0.025 * sqrt(2 * 128) = 0.40
BETWEEN_DISTANCE = 0.85  # mean distance between two different people's samples
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000, 100_000)
EF_SWEEP = (16, 32, 64, 128, 256, 512, 1024, 2048)  # the issue asked for 16-128: too few at 1M
RECALL_TARGET = 0.99
P99_TARGET_MS = 10.0
TARGET_SIZE = 1_000_000
NEVER = 1 << 62  # approximate_from that keeps an index exact


# --------------------------------------------------------------------------- helpers


def parse_size(text: str) -> int:
    """'10k' -> 10000, '1M' -> 1000000, '2500' -> 2500."""
    text = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    number = text[:-1] if scale > 1 else text
    return int(float(number) * scale)


def label(n: int) -> str:
    """10000 -> '10k', 1000000 -> '1M'."""
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def latency_summary(samples_ns: Sequence[int]) -> dict[str, Any]:
    """p50, p99, mean and max of per-query latencies in ms."""
    return summarize(samples_ns, "ms", ("p50", "p99", "mean", "max"), per=1e6, count="queries")


# --------------------------------------------------------------------------- data


@dataclass
class Dataset:
    """Stored faces (ids 1..N, person = (id - 1) // 5) and held-out queries."""

    ids: np.ndarray
    vectors: np.ndarray
    queries: np.ndarray
    query_person: np.ndarray


def common_mean(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """The mean of the real dlib descriptors in the repository, else a stand-in."""
    if REFERENCE.exists():
        return np.load(REFERENCE)["vectors"].astype(np.float64).mean(axis=0), str(REFERENCE.name)
    return rng.normal(0.0, 0.12, DIM), "synthetic (reference descriptors not found)"


def person_basis(rng: np.random.Generator, decay: float) -> np.ndarray:
    """A (DIM, DIM) map from N(0, I) to person offsets with the chosen variance spectrum."""
    variances = (np.arange(DIM) + 1.0) ** -decay
    total = BETWEEN_DISTANCE**2 / 2 - DIM * WITHIN_SIGMA**2
    variances *= total / variances.sum()
    rotation, _ = np.linalg.qr(rng.normal(size=(DIM, DIM)))
    return (np.sqrt(variances)[:, None] * rotation.T).astype(np.float32)


def make_dataset(n: int, n_queries: int, decay: float, seed: int) -> Dataset:
    """n stored faces of n/5 people plus n_queries held-out samples of random stored people."""
    rng = np.random.default_rng(seed)
    mean, _ = common_mean(np.random.default_rng(seed))
    basis = person_basis(np.random.default_rng(seed + 1), decay)
    people = n // SAMPLES_PER_PERSON
    centres = rng.standard_normal((people, DIM), dtype=np.float32) @ basis
    centres += mean.astype(np.float32)
    vectors = np.repeat(centres, SAMPLES_PER_PERSON, axis=0)
    vectors += rng.standard_normal(vectors.shape, dtype=np.float32) * np.float32(WITHIN_SIGMA)
    query_person = rng.integers(0, people, n_queries)
    queries = centres[query_person] + rng.standard_normal(
        (n_queries, DIM), dtype=np.float32
    ) * np.float32(WITHIN_SIGMA)
    ids = np.arange(1, vectors.shape[0] + 1, dtype=np.int64)
    return Dataset(ids, vectors, queries.astype(np.float32), query_person)


def data_stats(data: Dataset, seed: int) -> dict[str, float]:
    """Norms and distances of the generated data, to compare with real dlib descriptors."""
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, data.vectors.shape[0], 2000)
    a, b = data.vectors[pick], data.vectors[rng.integers(0, data.vectors.shape[0], 2000)]
    own = data.vectors[data.query_person * SAMPLES_PER_PERSON]
    return {
        "norm_mean": round(float(np.linalg.norm(data.vectors[pick], axis=1).mean()), 3),
        "component_rms": round(float(np.sqrt((data.vectors[pick] ** 2).mean())), 4),
        "per_dim_std_mean": round(float(data.vectors[pick].std(axis=0).mean()), 4),
        "different_person_distance_mean": round(float(np.linalg.norm(a - b, axis=1).mean()), 3),
        "same_person_distance_mean": round(
            float(np.linalg.norm(data.queries - own, axis=1).mean()), 3
        ),
    }


# --------------------------------------------------------------------------- measurements


@dataclass
class Found:
    """What one pass of queries returned: (n, k) ids (-1 padded) and top-1 distances."""

    ids: np.ndarray
    top1_distance: np.ndarray


def search_latencies(
    index: VectorIndex, queries: np.ndarray, k: int
) -> tuple[dict[str, float], Found]:
    """One query at a time: latency summary and what was found."""
    for q in queries[:20]:
        index.search(q, k)  # warm-up
    found = Found(np.full((queries.shape[0], k), -1, np.int64), np.full(queries.shape[0], np.inf))
    samples = []
    for i, q in enumerate(queries):
        start = time.perf_counter_ns()
        ids, dist = index.search(q, k)
        samples.append(time.perf_counter_ns() - start)
        found.ids[i, : ids.size] = ids
        found.top1_distance[i] = dist[0] if dist.size else np.inf
    return latency_summary(samples), found


def distance_excess(found: Found, truth: Found) -> dict[str, float]:
    """How much farther HNSW's top hit is than the true nearest (0 when it is the nearest)."""
    excess = found.top1_distance / np.maximum(truth.top1_distance, 1e-12) - 1.0
    misses = excess[found.ids[:, 0] != truth.ids[:, 0]]
    return {
        "top1_distance_excess_p99": round(float(np.percentile(excess, 99)), 4),
        "top1_distance_excess_max": round(float(excess.max()), 4),
        "top1_distance_excess_median_of_misses": round(float(np.median(misses)), 4)
        if misses.size
        else 0.0,
    }


def same_person_rate(found: Found, query_person: np.ndarray) -> float:
    """Share of queries whose top hit is a sample of the query's own person."""
    person = (found.ids[:, 0] - 1) // SAMPLES_PER_PERSON
    return round(float(np.mean(person == query_person)), 4)


def recall_at_1(found: Found, truth: Found) -> float:
    """Share of queries whose top id equals the exact search's top id."""
    return round(float(np.mean(found.ids[:, 0] == truth.ids[:, 0])), 4)


def recall_at_k(found: Found, truth: Found) -> float:
    """Mean overlap of the top-k id sets."""
    pairs = zip(found.ids, truth.ids, strict=True)
    hits = [len(set(f) & set(t)) / len(t) for f, t in pairs]
    return round(float(np.mean(hits)), 4)


def build_index(data: Dataset, kind: str, build_threads: int) -> VectorIndex:
    """VectorIndex.build of the stored faces with FAISS at ``build_threads`` meanwhile."""
    faiss.omp_set_num_threads(build_threads)
    try:
        return VectorIndex.build(
            data.ids,
            data.vectors,
            approximate_from=1 if kind == "hnsw" else NEVER,
            ef_search=DEFAULT_EF_SEARCH,
        )
    finally:
        faiss.omp_set_num_threads(1)


def build_save_load(
    data: Dataset, folder: Path, kind: str, build_threads: int
) -> tuple[VectorIndex, dict[str, Any]]:
    """Build, save, drop and reload one index; returns the loaded index and the numbers."""
    gc.collect()
    before = rss_bytes()
    build_ns, index = time_one(lambda: build_index(data, kind, build_threads))
    grown = rss_bytes() - before
    path = folder / f"{kind}.faiss"
    save_ns, _ = time_one(functools.partial(index.save, path))
    del index
    gc.collect()
    load_ns, loaded = time_one(lambda: VectorIndex.load(path))
    size = path.stat().st_size
    path.unlink()
    n = data.ids.size
    return loaded, {
        "build_s": round(build_ns / 1e9, 3),
        "save_s": round(save_ns / 1e9, 3),
        "load_s": round(load_ns / 1e9, 3),
        "file_bytes": size,
        "bytes_per_face_serialized": round(size / n, 1),
        "bytes_per_face_rss_growth": round(grown / n, 1),
    }


def bench_exact(
    data: Dataset, folder: Path, build_threads: int
) -> tuple[dict[str, Any], dict[int, Found]]:
    """Exact index numbers and its k=1/k=10 results (the ground truth)."""
    log(f"exact {label(data.ids.size)}: build, save, load")
    index, out = build_save_load(data, folder, "exact", build_threads)
    truth = {}
    for k in (1, 10):
        log(f"exact {label(data.ids.size)}: {data.queries.shape[0]} searches k={k}")
        out[f"k{k}"], truth[k] = search_latencies(index, data.queries, k)
    out["same_person_at_1"] = same_person_rate(truth[1], data.query_person)
    return out, truth


def bench_hnsw(
    data: Dataset, folder: Path, truth: dict[int, Found], args: argparse.Namespace
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """HNSW numbers at the default efSearch, then the efSearch sweep."""
    log(f"hnsw {label(data.ids.size)}: build (M={HNSW_M}, efC={HNSW_EF_CONSTRUCTION}), save, load")
    index, out = build_save_load(data, folder, "hnsw", args.build_threads)
    out["ef_search"] = DEFAULT_EF_SEARCH
    log(f"hnsw {label(data.ids.size)}: searches at efSearch={DEFAULT_EF_SEARCH}")
    out["k1"], found1 = search_latencies(index, data.queries, 1)
    out["k10"], found10 = search_latencies(index, data.queries, 10)
    out["recall_at_1"] = recall_at_1(found1, truth[1])
    out["recall_at_10"] = recall_at_k(found10, truth[10])
    out["same_person_at_1"] = same_person_rate(found1, data.query_person)
    out.update(distance_excess(found1, truth[1]))
    ef_sweep = args.ef_sweep
    sweep = [sweep_point(index, data, truth, ef) for ef in ef_sweep]
    return out, sweep


def sweep_point(
    index: VectorIndex, data: Dataset, truth: dict[int, Found], ef: int
) -> dict[str, Any]:
    """Recall and latency of HNSW at one efSearch."""
    log(f"hnsw {label(data.ids.size)}: efSearch={ef}")
    index.ef_search = ef
    k1, found1 = search_latencies(index, data.queries, 1)
    k10, found10 = search_latencies(index, data.queries, 10)
    index.ef_search = DEFAULT_EF_SEARCH
    return {
        "ef_search": ef,
        "recall_at_1": recall_at_1(found1, truth[1]),
        "recall_at_10": recall_at_k(found10, truth[10]),
        "same_person_at_1": same_person_rate(found1, data.query_person),
        **distance_excess(found1, truth[1]),
        "k1_p50_ms": k1["p50_ms"],
        "k1_p99_ms": k1["p99_ms"],
        "k10_p99_ms": k10["p99_ms"],
    }


def bench_size(n: int, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Everything for one collection size."""
    log(f"size {label(n)}: generating data")
    gen_ns, data = time_one(lambda: make_dataset(n, args.queries, args.decay, args.seed))
    exact, truth = bench_exact(data, folder, args.build_threads)
    gc.collect()
    hnsw, sweep = bench_hnsw(data, folder, truth, args)
    result = {
        "n": n,
        "people": n // SAMPLES_PER_PERSON,
        "queries": int(data.queries.shape[0]),
        "data_generation_s": round(gen_ns / 1e9, 2),
        "data": data_stats(data, args.seed),
        "exact": exact,
        "hnsw": hnsw,
        "ef_sweep": sweep,
        "smallest_ef_reaching_recall_at_1": smallest_ef(sweep, "recall_at_1"),
        "smallest_ef_reaching_same_person_at_1": smallest_ef(sweep, "same_person_at_1"),
        "peak_rss_mb_so_far": rusage_peak_mb(),
    }
    del data
    gc.collect()
    return result


def smallest_ef(sweep: Sequence[dict[str, Any]], metric: str) -> int | None:
    """The smallest swept efSearch whose ``metric`` reaches the recall target, if any."""
    point = best_point(sweep, metric)
    return point["ef_search"] if point else None


# --------------------------------------------------------------------------- report


def best_point(sweep: Sequence[dict[str, Any]], metric: str) -> dict[str, Any] | None:
    """The smallest efSearch whose ``metric`` reaches the recall target, else None."""
    ok = [p for p in sweep if p[metric] >= RECALL_TARGET]
    return min(ok, key=lambda p: p["ef_search"]) if ok else None


def best_within_budget(sweep: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The sweep point with the highest recall@1 whose k=1 and k=10 p99 are under budget."""
    ok = [p for p in sweep if max(p["k1_p99_ms"], p["k10_p99_ms"]) < P99_TARGET_MS]
    return max(ok, key=lambda p: p["recall_at_1"]) if ok else None


def target_entry(size: dict[str, Any]) -> dict[str, Any]:
    """Pass/fail of the 1M target for the default efSearch, the sweep and exact search."""
    hnsw, exact, sweep = size["hnsw"], size["exact"], size["ef_sweep"]
    strict = best_point(sweep, "recall_at_1")
    return {
        "target": "1M faces: search p99 < 10 ms (k=1 and k=10) with recall@1 >= 0.99",
        "hnsw_default_ef": {
            "ef_search": hnsw["ef_search"],
            "recall_at_1": hnsw["recall_at_1"],
            "same_person_at_1": hnsw["same_person_at_1"],
            "k1_p99_ms": hnsw["k1"]["p99_ms"],
            "k10_p99_ms": hnsw["k10"]["p99_ms"],
            "pass": hnsw["recall_at_1"] >= RECALL_TARGET
            and max(hnsw["k1"]["p99_ms"], hnsw["k10"]["p99_ms"]) < P99_TARGET_MS,
        },
        "hnsw_smallest_ef_reaching_recall_at_1": strict,
        "hnsw_smallest_ef_reaching_recall_pass": strict is not None
        and max(strict["k1_p99_ms"], strict["k10_p99_ms"]) < P99_TARGET_MS,
        "hnsw_best_recall_within_p99_budget": best_within_budget(sweep),
        "hnsw_smallest_ef_reaching_same_person_at_1": best_point(sweep, "same_person_at_1"),
        "exact": {
            "k1_p99_ms": exact["k1"]["p99_ms"],
            "k10_p99_ms": exact["k10"]["p99_ms"],
            "pass": max(exact["k1"]["p99_ms"], exact["k10"]["p99_ms"]) < P99_TARGET_MS,
        },
    }


def targets(sizes: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's target (p99 < 10 ms at 1M faces with recall@1 >= 0.99), pass/fail."""
    out = [target_entry(size) for size in sizes if size["n"] == TARGET_SIZE]
    return out or [{"target": "1M faces (not measured in this run)", "pass": None}]


def search_environment(args: argparse.Namespace) -> dict[str, Any]:
    """Versions, threads and machine."""
    return environment(
        {
            "faiss_version": faiss.__version__,
            "faiss_compile_options": faiss.get_compile_options(),
            "faiss_omp_threads_search": faiss.omp_get_max_threads(),
            "faiss_omp_threads_build": args.build_threads,
            "threads_note": "faiss.omp_set_num_threads(1) for searches: the service runs one "
            "search per worker process",
            "numpy_version": np.__version__,
        }
    )


def data_description(args: argparse.Namespace) -> dict[str, Any]:
    """How the synthetic descriptors are made."""
    _, source = common_mean(np.random.default_rng(args.seed))
    return {
        "people": "N / 5, 5 stored samples each; ids 1..N, person = (id - 1) // 5",
        "common_mean": source,
        "person_offset_spectrum": f"variance of component i ~ (i+1)^-{args.decay}, "
        "random orthonormal basis",
        "different_person_distance_target": BETWEEN_DISTANCE,
        "within_person_sigma_per_dim": WITHIN_SIGMA,
        "queries": f"{args.queries} held-out samples of random stored people",
        "seed": args.seed,
    }


def summary_table(sizes: Sequence[dict[str, Any]]) -> str:
    """A plain-text table of the main numbers."""
    head = (
        f"{'N':>5} {'kind':<6} {'build s':>8} {'save s':>7} {'load s':>7} {'B/face':>7} "
        f"{'k1 p50':>7} {'k1 p99':>7} {'k10 p99':>8} {'rec@1':>6} {'person@1':>8}"
    )
    lines = [head, "-" * len(head)]
    for size in sizes:
        for kind in ("exact", "hnsw"):
            r = size[kind]
            lines.append(
                f"{label(size['n']):>5} {kind:<6} {r['build_s']:>8.2f} {r['save_s']:>7.2f} "
                f"{r['load_s']:>7.2f} {r['bytes_per_face_serialized']:>7.0f} "
                f"{r['k1']['p50_ms']:>7.3f} {r['k1']['p99_ms']:>7.3f} "
                f"{r['k10']['p99_ms']:>8.3f} {r.get('recall_at_1', 1.0):>6.3f} "
                f"{r['same_person_at_1']:>8.3f}"
            )
        sweep = ", ".join(
            f"ef{p['ef_search']}: rec {p['recall_at_1']:.3f} p99 {p['k1_p99_ms']:.3f}"
            for p in size["ef_sweep"]
        )
        lines.append(f"{'':>5} sweep  {sweep}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="10k and 100k only")
    p.add_argument("--sizes", help="comma-separated sizes, e.g. 10k,100k,1M")
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--decay", type=float, default=0.5, help="person-offset spectrum exponent")
    p.add_argument("--seed", type=int, default=20240601)
    p.add_argument("--build-threads", type=int, default=1, help="FAISS threads while building")
    add_output_option(p, OUTPUT, QUICK_OUTPUT)
    args = p.parse_args(argv)
    if args.sizes:
        args.size_list = [parse_size(s) for s in args.sizes.split(",")]
    else:
        args.size_list = list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    args.output = output_path(args, OUTPUT, QUICK_OUTPUT)
    args.ef_sweep = list(EF_SWEEP)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and write the JSON results."""
    args = parse_args(argv)
    faiss.omp_set_num_threads(1)
    env = search_environment(args)
    started = time.perf_counter()
    with workdir("search") as folder:
        sizes = [bench_size(n, args, folder) for n in args.size_list]
    end_environment(env)
    report = {
        "environment": env,
        "index": {
            "hnsw_m": HNSW_M,
            "hnsw_ef_construction": HNSW_EF_CONSTRUCTION,
            "default_ef_search": DEFAULT_EF_SEARCH,
        },
        "data": data_description(args),
        "sizes": sizes,
        "targets": targets(sizes),
        "peak_rss_mb": rusage_peak_mb(),
        "total_s": round(time.perf_counter() - started, 1),
    }
    write_results(args.output, report)
    print(summary_table(sizes))
    print(json.dumps(report["targets"], indent=2))
    print(f"wrote {args.output} in {report['total_s']} s, peak RSS {report['peak_rss_mb']} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
