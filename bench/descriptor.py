"""Micro-benchmark of the 128-d descriptor: dlib's own network against the same network on
onnxruntime (converted from the installed ``.dat``), on real face chips, on one core.

What it measures:

1. ``ms_per_face``: per runtime (``dlib``: ``face_recognition_model_v1``, the dlib-bin wheel
   without BLAS; ``onnx``: onnxruntime's CPU provider, one intra-op thread) and batch size
   (1 and 8 chips per call): the wall time of each call divided by its chips (median, p10,
   p90, mean) and the thread's CPU time per face (one thread does the work: CPU ~= wall).
   The runtimes' calls are interleaved round by round so background load falls on both.
2. ``agreement``: the largest difference in any component between the two runtimes'
   descriptors over all chips (the target: at most 1e-4), batched and one by one.
3. ``start``: converting the ``.dat`` to ONNX (first start), reading the cached file, and
   creating the onnxruntime session.
4. ``targets``: <= 10 ms per face with ONNX at batch 1 and 8, and the agreement, pass/fail.

Chips are the aligned 150x150 chips the engine cuts (HOG boxes, dlib's 5-point landmarks,
``dlib.get_face_chips``) of the London set's frontal views (neutral and smiling), the full set
under /work/shared/data/faces/london when present, else tests/data/london.

    .venv/bin/python bench/descriptor.py            # writes bench/results/descriptor.json
    .venv/bin/python bench/descriptor.py --quick    # 16 chips, descriptor-quick.json
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

from _common import (
    DATA,
    LONDON,
    WallCpu,
    add_output_option,
    end_environment,
    environment,
    interleave,
    log,
    london_images,
    ms,
    output_path,
    summarize,
    write_results,
)
from facegate.config import load_settings
from facegate.vision.engine import FaceEngine
from facegate.vision.models import dlib_build
from facegate.vision.onnx.cache import load_or_convert
from facegate.vision.onnx.descriptor import TOLERANCE, Descriptor, DlibDescriptor
from facegate.vision.onnx.runner import OnnxDescriptor

BATCHES = (1, 8)
TARGET_MS = 10.0
STATS = ("median", "p10", "p90", "mean")


def london_chips(root: Path, limit: int) -> tuple[list[np.ndarray], list[str]]:
    """Up to ``limit`` chips of the frontal views, alternating neutral and smiling."""
    engine = FaceEngine(load_settings(descriptor="dlib"))
    views = [root / "neutral_front", root / "smiling_front"]
    files = [f for pair in zip(*(london_images(v) for v in views), strict=False) for f in pair]
    chips: list[np.ndarray] = []
    used: list[str] = []
    for path in files:
        if len(chips) >= limit:
            break
        pixels = engine.decode(path.read_bytes()).pixels
        faces = engine.analyze_pixels(pixels, detector="hog").faces[:1]
        if faces:
            chips += engine.face_chips(pixels, faces)
            used.append(f"{path.parent.name}/{path.name}")
    return chips, used


def batches(chips: list[np.ndarray], size: int) -> list[list[np.ndarray]]:
    return [chips[i : i + size] for i in range(0, len(chips) - size + 1, size)]


def agreement(onnx: Descriptor, dlib: Descriptor, chips: list[np.ndarray]) -> dict[str, Any]:
    want = dlib.compute(chips)
    together = onnx.compute(chips)
    alone = np.concatenate([onnx.compute([c]) for c in chips])
    worst = {
        "batched": float(np.abs(together - want).max()),
        "one_by_one": float(np.abs(alone - want).max()),
    }
    return {
        "max_abs_difference": {k: float(f"{v:.3g}") for k, v in worst.items()},
        "tolerance": TOLERANCE,
        "faces": len(chips),
        "pass": max(worst.values()) <= TOLERANCE,
    }


def start_times(source: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        built = load_or_convert(source, Path(cache))
        t1 = time.perf_counter()
        cached = load_or_convert(source, Path(cache))
        t2 = time.perf_counter()
        OnnxDescriptor(cached.data)
        t3 = time.perf_counter()
    assert built.built and not cached.built
    return {
        "convert_and_cache_s": round(t1 - t0, 3),
        "read_cached_s": round(t2 - t1, 3),
        "create_session_s": round(t3 - t2, 3),
        "onnx_bytes": len(built.data),
        "onnx_sha256": built.sha256,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="16 chips, 1 round")
    parser.add_argument("--chips", type=int, default=48, help="chips to time (default 48)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--london", type=Path, default=None, help="London set folder")
    add_output_option(parser, "descriptor.json", quick="descriptor-quick.json")
    args = parser.parse_args()
    limit, rounds = (16, 1) if args.quick else (args.chips, args.rounds)
    root = args.london or (LONDON if LONDON.is_dir() else DATA / "london")

    env = environment(
        {
            "dlib": dlib_build(),
            "onnxruntime": importlib.metadata.version("onnxruntime"),
            "onnx": importlib.metadata.version("onnx"),
            "numpy": np.__version__,
        }
    )
    env["london"] = str(root)
    env["threads"] = "dlib: one (no BLAS); onnxruntime: intra_op_num_threads=1, sequential"

    log(f"cutting {limit} chips from {root}")
    chips, used = london_chips(root, limit)
    log(f"{len(chips)} chips")
    engine = FaceEngine(load_settings(descriptor="dlib"))
    source = engine.chain.descriptor.path()
    start = start_times(source)
    runtimes: dict[str, Descriptor] = {
        "dlib": DlibDescriptor(engine.models.descriptor),
        "onnx": OnnxDescriptor(load_or_convert(source, None).data, threads=1),
    }
    timers = {(name, b): WallCpu() for name in runtimes for b in BATCHES}

    def block(name: str, size: int):
        runner, timer = runtimes[name], timers[name, size]

        def run() -> None:
            for group in batches(chips, size):
                timer.measure(lambda group=group: runner.compute(group))

        return run

    for runner in runtimes.values():  # warm-up: first calls allocate
        for size in BATCHES:
            runner.compute(chips[:size])
    interleave(
        [block(name, size) for name in runtimes for size in BATCHES],
        rounds,
        after_round=lambda r: log(f"round {r}/{rounds}"),
    )
    per_face: dict[str, dict[str, Any]] = {}
    for (name, size), timer in timers.items():
        per_face.setdefault(name, {})[f"batch_{size}"] = {
            **summarize(ms(timer.wall), "ms", STATS, per=size, digits=3, count="calls"),
            **summarize(
                ms(timer.cpu), "ms", ("median",), per=size, digits=3, count=None, prefix="cpu_"
            ),
            "faces_per_call": size,
        }
    agree = agreement(runtimes["onnx"], runtimes["dlib"], chips)
    median = {(n, b): per_face[n][f"batch_{b}"]["median_ms"] for n in runtimes for b in BATCHES}
    speedup = {f"batch_{b}": round(median["dlib", b] / median["onnx", b], 1) for b in BATCHES}
    targets = {
        f"onnx_batch_{b}_at_most_{TARGET_MS:g}_ms_per_face": {
            "value_ms": median["onnx", b],
            "pass": median["onnx", b] <= TARGET_MS,
        }
        for b in BATCHES
    }
    targets["descriptors_within_1e-4_of_dlib"] = {"pass": agree["pass"]}
    end_environment(env, "the timings are slower than on an idle machine")
    results = {
        "environment": env,
        "chips": {"count": len(chips), "images": used},
        "ms_per_face": per_face,
        "speedup_onnx_over_dlib": speedup,
        "agreement": agree,
        "start": start,
        "targets": targets,
    }
    out = output_path(args, "descriptor.json", quick="descriptor-quick.json")
    write_results(out, results)
    for name in runtimes:
        for b in BATCHES:
            calls = per_face[name][f"batch_{b}"]["calls"]
            print(f"{name:5} batch {b}: {median[name, b]:7.2f} ms/face (median, {calls} calls)")
    print(f"speed-up {speedup}; largest difference {agree['max_abs_difference']}; wrote {out}")
    return 0 if all(t["pass"] for t in targets.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
