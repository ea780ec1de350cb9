"""bench/policy.py's report: per-scenario results, the target, the method and the summary."""

from __future__ import annotations

import argparse
import importlib.metadata
from pathlib import Path
from typing import Any

from _common import environment
from _policy.scenarios import DEFAULT_FLOOR, FIXED_NOW, Scenario, decision_record
from _policy.timing import cpu_summary, latency_summary
from facegate.policy.engine import PolicySet
from facegate.policy.point import Decision

TARGET_P99_US = 1000.0
ROUNDS = 40
BUSY_NOTE = (
    "another process competed for the CPUs during the run, so the tail percentiles (p99, "
    "p99.9, max) include preemption; p50 and the cpu_* figures (the thread's own CPU "
    "time) are the least affected."
)

Results = dict[str, dict[str, dict[str, Any]]]


def policy_environment() -> dict[str, Any]:
    """Versions and machine."""
    versions = {
        "cedarpy_version": importlib.metadata.version("cedarpy"),
        "sqlalchemy_version": importlib.metadata.version("sqlalchemy"),
    }
    return environment(versions, with_processor=True)


def scenario_result(s: Scenario) -> dict[str, Any]:
    out: dict[str, Any] = {
        "description": s.description,
        **latency_summary(s.timing.wall),
        **cpu_summary(s.timing.cpu),
    }
    out["mismatches"] = s.mismatches
    if isinstance(s.sample, Decision):
        out["decision"] = decision_record(s.sample)
        assert s.expected is not None
        out["expected"] = s.expected.to_dict()
        out["as_expected"] = s.mismatches == 0 and s.expected.matches(s.sample)
    else:
        out["results"] = [
            {"allowed": e.allowed, "policies": [p.id for p in e.policies]} for e in s.sample
        ]
        out["as_expected"] = s.mismatches == 0
    return out


def targets(results: Results) -> dict[str, Any]:
    """p99 < 1 ms per decision, per scenario and policy set (bare evaluate: no target)."""
    sets = {}
    for set_name, scenarios in results.items():
        entries = {
            name: {"p99_us": r["p99_us"], "pass": r["p99_us"] < TARGET_P99_US}
            for name, r in scenarios.items()
            if name != "b_bare_evaluate"
        }
        sets[set_name] = {"pass": all(e["pass"] for e in entries.values()), "scenarios": entries}
    return {
        "target": f"p99 < {TARGET_P99_US:g} us per DecisionPoint.decide, with the default "
        "policy set and with 100 extra operator policies",
        "p99_us_limit": TARGET_P99_US,
        **sets,
        "pass": all(s["pass"] for s in sets.values()),
    }


def method(args: argparse.Namespace) -> dict[str, Any]:
    """How the figures were measured."""
    return {
        "timing": "time.perf_counter_ns around each call, one call at a time, one thread, "
        "garbage collector on (as in the service); *_us figures are wall time (the target "
        "is judged on them), cpu_*_us the thread's CPU time of the same calls "
        "(time.thread_time_ns), which preemption by other processes does not inflate",
        "warmup_per_scenario": args.warmup,
        "warmup_e3": max(1, args.warmup // 10),
        "interleaving": f"all scenarios of both sets run in {ROUNDS} round-robin blocks",
        "clock": f"fixed at {FIXED_NOW.isoformat()} (Wednesday, hour 14 UTC); moratorium "
        f"in force (no end configured); default floor {DEFAULT_FLOOR:g}",
        "database": "SQLite file in a temporary directory on the local disk, opened with "
        "facegate.db.engine.open_database (WAL, synchronous=FULL, foreign keys)",
        "principals": "a-d: Principal.described (no use case, no SQL); e: Registry.principal "
        "of keys issued by Accounts.issue_key for approved missing_persons use cases "
        "(caps: 1,000,000 searches/hour, 10,000,000/day, max_faces 10) of a "
        "law_enforcement organization with a missing_persons exemption",
    }


def policy_sets(sets: dict[str, PolicySet]) -> dict[str, Any]:
    return {
        name: {
            "version": policies.version,
            "policies": len(policies.policies),
            "operator_policies": sum(not p.shipped for p in policies.policies),
            "sources": [Path(s).name for s in policies.sources],
        }
        for name, policies in sets.items()
    }


def operator_policies(files: dict[str, str], checks: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "files": {name: text.count("@id(") for name, text in files.items()},
        "example_per_file": {name: text.split("\n\n")[1].strip() for name, text in files.items()},
        "checks_they_take_effect": checks,
    }


def summary_table(results: Results) -> str:
    head = (
        f"{'set':<12} {'scenario':<20} {'p50':>7} {'p90':>7} {'p99':>7} {'p99.9':>7} "
        f"{'mean':>7} {'cpu50':>6} {'cpu99':>6} {'n':>6}  decision"
    )
    lines = [
        "latency in microseconds (wall; cpu50/cpu99: the thread's CPU time)",
        head,
        "-" * (len(head) + 30),
    ]
    for set_name, scenarios in results.items():
        for name, r in scenarios.items():
            if "decision" in r:
                d = r["decision"]
                verdict = ("allow " if d["allowed"] else "deny ") + ",".join(d["policies"])
            else:
                verdict = "evaluate: " + ",".join(
                    "allow" if x["allowed"] else "deny" for x in r["results"]
                )
            mark = "" if r["as_expected"] else "  UNEXPECTED"
            lines.append(
                f"{set_name:<12} {name:<20} {r['p50_us']:>7.0f} {r['p90_us']:>7.0f} "
                f"{r['p99_us']:>7.0f} {r['p99_9_us']:>7.0f} {r['mean_us']:>7.0f} "
                f"{r['cpu_p50_us']:>6.0f} {r['cpu_p99_us']:>6.0f} {r['decisions']:>6}  "
                f"{verdict}{mark}"
            )
    return "\n".join(lines)


def print_summary(report: dict[str, Any], output: Path) -> None:
    """The table, load times, breakdowns and the target's verdict on stdout."""
    env, loads = report["environment"], report["load_time"]
    print(summary_table(report["results"]))
    print()
    for name, load in loads.items():
        print(f"load {name:<12} {load['policies']:>4} policies  median {load['median_ms']} ms")
    for name, parts in report["b_cedar_breakdown"].items():
        text = ", ".join(f"{k} {v['p50_us']:.0f}" for k, v in parts.items())
        print(f"b breakdown {name} (p50 us): {text}")
    target = report["target"]
    print(
        f"target p99 < {TARGET_P99_US:g} us: default "
        f"{'PASS' if target['default']['pass'] else 'FAIL'}, operator100 "
        f"{'PASS' if target['operator100']['pass'] else 'FAIL'}; machine_busy "
        f"{env['machine_busy']} (load {env['load_average_1_5_15_at_start']} -> "
        f"{env['load_average_1_5_15_at_end']})"
    )
    print(f"wrote {output} in {report['total_s']} s")
