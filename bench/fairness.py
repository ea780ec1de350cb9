"""Benchmark: the demographic audit of the shipped model on the London set, and its cost.

Runs ``facegate fairness evaluate`` (the real engine, the shipped calibration) on the London
set of ``../shared/data/faces/london`` (102 subjects, 10 views each; faces below the AUTO
quality bar, mostly profiles, are left out exactly as the runner does) with groups
ethnicity x sex, at a target FMR of 1e-4, and writes ``bench/results/fairness.json``: the
per-group FMR and FNMR with their intervals and data support, the summary measures (GARBE,
Max/GeoMean, FDR, IR), the data's limits and the runner's time (cold: embeddings computed;
warm: read from the cache). The numbers are reported as they come out: they are the first
published demographic figures for this model on this set, and the London set is small (a few
hundred same-group impostor pairs per group cannot support a claim at 1e-4; the report
says so per group).

Run it with ``.venv/bin/python bench/fairness.py [--dataset DIR] [--workers N] [--output PATH]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from _common import (
    LONDON,
    add_output_option,
    load_average,
    now_utc,
    output_path,
    workdir,
    write_results,
)


def run(dataset: Path, data_dir: Path, out: Path, workers: int) -> tuple[float, dict]:
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "facegate.cli.main",
            "fairness",
            "evaluate",
            str(dataset),
            "--group-by",
            "face_eth,face_gender",
            "--target-fmr",
            "1e-4",
            "--workers",
            str(workers),
            "--output-dir",
            str(out),
            "--json",
        ],
        env={**os.environ, "FACEGATE_DATA_DIR": str(data_dir)},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"fairness evaluate failed ({done.returncode}):\n{done.stderr}")
    return time.perf_counter() - started, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=LONDON)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    add_output_option(parser, "fairness.json")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="keep the embedding cache here (default: a temporary directory; then 'cold' is "
        "really cold)",
    )
    args = parser.parse_args()
    output = output_path(args, "fairness.json")
    with workdir("fairness") as tmp:
        data_dir = args.cache_dir or tmp / "data"
        out = tmp / "report"
        cold, headline = run(args.dataset, data_dir, out, args.workers)
        warm, _ = run(args.dataset, data_dir, out / "warm", args.workers)
        report = json.loads((out / "fairness.json").read_text())
    groups = {
        g: {
            "subjects": x["subjects"],
            "faces": x["faces"],
            "fmr": x["fmr"],
            "fmr_interval_95": [x["fmr_interval"]["low"], x["fmr_interval"]["high"]],
            "fmr_supported_at_target": x["fmr_support"]["supported"],
            "fnmr": x["fnmr"],
            "fnmr_interval_95": [x["fnmr_interval"]["low"], x["fnmr_interval"]["high"]],
            "failure_to_acquire": x["failure_to_acquire"],
        }
        for g, x in report["groups"].items()
    }
    result = {
        "what": "demographic audit of the shipped model (NIST's method) on the London set, "
        "groups ethnicity x sex, target FMR 1e-4, with facegate fairness evaluate",
        "date": now_utc(),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average": load_average(),
        },
        "dataset": report["dataset"],
        "model_version": report["model_version"],
        "calibration": report["calibration"],
        "faces": report["faces"],
        "subjects": report["subjects"],
        "pairs": report["pairs"],
        "threshold": report["threshold"],
        "groups": groups,
        "summary": report["summary"],
        "limits": report["limits"],
        "runner_seconds": {"cold": round(cold, 1), "warm_cache": round(warm, 1)},
        "workers": args.workers,
        "headline": headline["summary"],
    }
    write_results(output, result, indent=1)
    print(
        json.dumps(
            {"summary": headline["summary"], "runner_seconds": result["runner_seconds"]}, indent=1
        )
    )


if __name__ == "__main__":
    main()
