"""bench/policy.py's timed runs: the scenarios interleaved, a breakdown of one Cedar call, and
the policy-set loads."""

from __future__ import annotations

import functools
import gc
import math
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cedarpy

from _common import interleave, log, summarize, time_calls, time_one
from _policy.scenarios import Scenario
from facegate.policy.engine import PolicySet, load_policy_set

LATENCY = ("p50", "p90", "p99", "p99_9", "mean", "max")


def latency_summary(samples_ns: Sequence[int]) -> dict[str, Any]:
    """p50, p90, p99, p99.9, mean and max of per-decision latencies in microseconds."""
    return summarize(samples_ns, "us", LATENCY, per=1e3, digits=1, count="decisions")


def cpu_summary(samples_ns: Sequence[int]) -> dict[str, Any]:
    """p50, p99 and mean of the thread's CPU time per call, microseconds."""
    return summarize(
        samples_ns, "us", ("p50", "p99", "mean"), per=1e3, digits=1, count=None, prefix="cpu_"
    )


def _block(s: Scenario, rounds: int) -> Callable[[], None]:
    """One of ``rounds`` blocks of ``s``'s timed decisions, each checked outside the timing."""

    def run_block() -> None:
        todo = min(math.ceil(s.decisions / rounds), s.decisions - len(s.timing.wall))
        measure, run, check = s.timing.measure, s.run, s.check
        result = None
        for _ in range(todo):
            result = measure(run)
            if check is not None and not check(result):
                s.mismatches += 1
                s.sample = result
        if s.sample is None:
            s.sample = result

    return run_block


def run_interleaved(scenarios: Sequence[Scenario], rounds: int) -> None:
    """Warm up every scenario, then time them in ``rounds`` interleaved blocks."""
    for s in scenarios:
        for _ in range(s.warmup):
            s.run()
    gc.collect()

    def progress(done: int) -> None:
        if done % 10 == 0:
            log(f"round {done}/{rounds}")

    interleave([_block(s, rounds) for s in scenarios], rounds, progress)


def breakdown(policies: PolicySet, requests: list[dict], entities: list[dict], n: int) -> dict:
    """Where scenario b's Cedar time goes: fewer requests, with and without the schema.

    ``cedarpy_floor_1_request``: one request against a one-permit policy set, no entities and
    no schema, i.e. what any cedarpy call costs.
    """
    trivial = cedarpy.PolicySet.from_str("permit (principal, action, resource);")
    floor_request = {
        "principal": 'User::"a"',
        "action": 'Action::"read"',
        "resource": 'Thing::"t"',
        "context": {},
    }
    variants = {
        "evaluate_3_requests": lambda: policies.evaluate(requests, entities),
        "evaluate_1_request": lambda: policies.evaluate(requests[:1], entities),
        "cedarpy_3_requests_schema": lambda: cedarpy.is_authorized_batch(
            requests, policies._set, entities, policies._schema
        ),
        "cedarpy_3_requests_no_schema": lambda: cedarpy.is_authorized_batch(
            requests, policies._set, entities, None
        ),
        "cedarpy_1_request_no_schema": lambda: cedarpy.is_authorized_batch(
            requests[:1], policies._set, entities, None
        ),
        "cedarpy_floor_1_request": lambda: cedarpy.is_authorized_batch(
            [floor_request], trivial, [], None
        ),
    }
    out = {}
    for name, fn in variants.items():
        samples, _ = time_calls(fn, n, warmup=max(1, n // 10))
        summary = latency_summary(samples)
        out[name] = {k: summary[k] for k in ("p50_us", "p99_us", "mean_us", "decisions")}
    return out


def time_loads(directory: Path, repeats: int) -> dict[str, dict[str, Any]]:
    """load_policy_set for the default set and the 100-policy directory, ms."""
    out = {}
    for name, folder in (("default", None), ("operator100", directory)):
        times = []
        for _ in range(repeats):
            elapsed, policies = time_one(functools.partial(load_policy_set, folder))
            times.append(elapsed / 1e6)
        out[name] = {
            "policies": len(policies.policies),
            "operator_policies": sum(not p.shipped for p in policies.policies),
            "min_ms": round(min(times), 2),
            "median_ms": round(statistics.median(times), 2),
            "max_ms": round(max(times), 2),
            "repeats": repeats,
        }
    return out
