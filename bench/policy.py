"""Benchmark of facegate's policy decision point (``facegate.policy.point.DecisionPoint``).

Every operation of every front door asks the decision point first, so its latency is paid by
every request. For two policy sets, each loaded with ``load_policy_set`` as the server does:

* ``default``: the shipped Cedar policies (``src/facegate/policy/cedar/defaults.cedar``);
* ``operator100``: the same plus 100 operator policies, written by this script as ten
  ``*.cedar`` files (ten policies each) to a temporary directory: forbids by weekday and hour
  (``context.weekday`` / ``context.hour``), by sector and purpose, low thresholds
  (``context.threshold.lessThan(decimal(...))``), test and demo case references
  (``context.case like "TEST-*"``), roles, usage and result caps, collection names, blackout
  dates (``context.now``), blocked organizations / use cases / keys, and a few sector rules.
  None of them matches an allowed scenario below; one (OPS-MISC-10: criminal investigations
  need a daily cap) also denies scenario c, so its denial names an operator policy too;

it measures, one decision at a time, single-threaded, with ``time.perf_counter_ns`` around
``DecisionPoint.decide`` (context and entity building, the Cedar batch of 1-3 requests through
cedarpy, shaping, and for e the SQL usage counters):

* a. ``detect``: an allowed DetectFaces (DEFAULT attributes) by a commercial principal;
* b. ``search_commercial``: an allowed SearchFacesByImage, threshold 80, by a commercial
  photo_organization principal (operations verify, identify, enroll);
* c. ``search_moratorium``: a SearchFacesByImage by a law_enforcement criminal_investigation
  principal with a case reference, denied by MORATORIUM;
* d. ``identify_shaped``: an allowed SearchFacesByImage, threshold 80, case "C-1", by a
  law_enforcement missing_persons principal holding a missing_persons exemption: the
  decision is shaped by THRESHOLD-FLOOR (80 raised to 99) and HUMAN-REVIEW;
* e. the same identification by a real key with a use case (organization, use case,
  exemption and key created through ``Accounts`` / ``Registry`` in a SQLite database, the
  principal from ``Registry.principal``), so the decision reads the usage counters (loaded
  from SQL once a day, then from memory):
  ``e1_usage_read`` (``count=False``, a use case with no counter rows yet),
  ``e2_usage_read_rows`` (``count=False``, a use case with its hour and day rows) and
  ``e3_counted`` (``count=True``: the count is made in memory under the counters' lock; the
  service writes it to SQL in the transaction of the request's audit record, which every
  request pays anyway, so that write is measured in bench/audit.py, not here);
* ``b_bare_evaluate``: ``PolicySet.evaluate`` alone on the Cedar requests and entities that
  scenario b sends (captured from a real ``decide``), i.e. cedarpy plus result unpacking;
* a small breakdown of b's Cedar call (one request instead of three; cedarpy with and without
  the schema handle; any cedarpy call: one request, one permit, nothing else), fewer
  iterations, to show where the time goes;
* the policy-set load time (parse, validate against the schema, index) of both sets.

Scenarios a-d use ``Principal.described`` (no use case: no SQL). The decision point runs with
a fixed clock (Wednesday 2025-06-11 14:30 UTC, moratorium in force, floor 99) so the weekday
and hour policies are deterministic. Scenarios of both sets run interleaved in blocks (40
rounds) after a warm-up, so background load on the machine falls on all of them alike. Each
decision is checked against what the scenario expects (allowed or not, deciding policy ids,
effective threshold, review), outside the timed region; mismatches are counted and a sample
decision is recorded. A few untimed checks show that operator policies do take effect.

SQLite runs as the service runs it (WAL, synchronous=FULL, foreign keys) in a temporary
directory on the local disk.

Reported per scenario: p50, p90, p99, p99.9, mean and max of the wall time in microseconds,
and p50, p99 and mean of the thread's CPU time (``time.thread_time_ns``) for the same calls;
the target is p99 < 1 ms (1000 us) of wall time per decision with the default set and with
100 operator policies. The machine's load average is recorded; ``machine_busy`` is true when
the 1-minute average was above 1.5 at the start or the end: wall-time percentiles then include
preemption by other processes, and the CPU-time figures show the decision's own cost.

Run it (about 6 minutes on 2 cores while another benchmark was running):

    .venv/bin/python bench/policy.py                    # writes bench/results/policy.json
    .venv/bin/python bench/policy.py --decisions 5000 --write-decisions 500 --output PATH

Its parts are in bench/_policy/ (operator policies, scenarios, timing, report); the helpers it
shares with the other benchmarks in bench/_common.py.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from _common import (
    WallCpu,
    add_output_option,
    end_environment,
    log,
    output_path,
    workdir,
    write_results,
)
from _policy.operator_rules import write_operator_policies
from _policy.report import (
    BUSY_NOTE,
    ROUNDS,
    method,
    operator_policies,
    policy_environment,
    policy_sets,
    print_summary,
    scenario_result,
    targets,
)
from _policy.scenarios import (
    FIXED_NOW,
    Scenario,
    capture_evaluate_args,
    commercial_search,
    commercial_search_principal,
    make_database,
    make_point,
    operator_policy_checks,
    scenarios_for,
)
from _policy.timing import breakdown, run_interleaved, time_loads
from facegate.policy.engine import load_policy_set
from facegate.policy.limits import Counters

BREAKDOWN_DECISIONS = 3000
LOAD_REPEATS = 10


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--decisions", type=int, default=20_000, help="timed decisions per scenario")
    p.add_argument(
        "--write-decisions", type=int, default=3_000, help="timed decisions of e3 (SQL writes)"
    )
    p.add_argument("--warmup", type=int, default=2_000, help="untimed decisions per scenario")
    add_output_option(p, "policy.json")
    args = p.parse_args(argv)
    args.output = output_path(args, "policy.json")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and write the JSON results."""
    args = parse_args(argv)
    env = policy_environment()
    started = time.perf_counter()
    with workdir("policy") as folder:
        policy_dir = folder / "policies"
        files = write_operator_policies(policy_dir)
        log("timing policy-set loads")
        loads = time_loads(policy_dir, LOAD_REPEATS)
        sets = {"default": load_policy_set(None), "operator100": load_policy_set(policy_dir)}
        db = make_database(folder)
        scenarios: list[Scenario] = []
        infos = {}
        for set_name, policies in sets.items():
            made, infos[set_name] = scenarios_for(set_name, policies, db, args)
            scenarios += made
        checks = operator_policy_checks(sets["operator100"], db)
        overhead = WallCpu.overhead_ns()
        total = sum(s.decisions + s.warmup for s in scenarios)
        log(f"timing {len(scenarios)} scenarios, {total} calls, {ROUNDS} interleaved rounds")
        run_interleaved(scenarios, ROUNDS)
        log("breakdown of scenario b's Cedar call")
        breakdowns = {}
        for set_name, policies in sets.items():
            point = make_point(policies, Counters(db.sessions), FIXED_NOW)
            requests, entities = capture_evaluate_args(
                point, commercial_search_principal(), commercial_search()
            )
            breakdowns[set_name] = breakdown(policies, requests, entities, BREAKDOWN_DECISIONS)
        db.sessions.kw["bind"].dispose()

    end_environment(env, BUSY_NOTE)
    env["timer_overhead_ns_median"] = overhead
    results: dict[str, dict[str, dict]] = {name: {} for name in sets}
    for s in scenarios:
        results[s.policy_set][s.name] = scenario_result(s)
    report = {
        "benchmark": "policy decision point latency (facegate.policy.point.DecisionPoint)",
        "environment": env,
        "method": method(args),
        "policy_sets": policy_sets(sets),
        "operator_policies": operator_policies(files, checks),
        "load_time": loads,
        "results": results,
        "b_cedar_breakdown": breakdowns,
        "b_cedar_input": infos["default"],
        "target": targets(results),
        "total_s": round(time.perf_counter() - started, 1),
    }
    write_results(args.output, report)
    print_summary(report, args.output)
    ok = all(r["as_expected"] for s in results.values() for r in s.values())
    ok = ok and all(c["pass"] for c in checks)
    if not ok:
        print("some decisions were not as expected: see the JSON", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
