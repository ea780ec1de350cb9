"""``facegate compare SOURCE TARGET`` and ``facegate compare --pairs PAIRS.csv``."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from facegate.cli import tasks
from facegate.cli.batch import run_many
from facegate.cli.output import error_line, json_line, stdout
from facegate.config import load_settings
from facegate.vision.calibration import shipped_calibration
from facegate.vision.models import DEFAULT_CHAIN


def run_compare(args: argparse.Namespace) -> int:
    if args.pairs:
        return _run_pairs(args)
    settings = load_settings()
    job = (args.source, args.target, args.threshold, args.quality_filter, args.detector)
    ok, result = next(run_many(tasks.compare_files, [job], settings, 1, "compare"))
    if not ok:
        if args.json:
            json_line({"Error": result})
        else:
            error_line(f"{args.source} vs {args.target}", result)
        return 3
    if args.json:
        json_line(result)
        return 0
    matches, unmatched = result["FaceMatches"], result["UnmatchedFaces"]
    table = Table(
        title=f"{args.source} vs {args.target}: {len(matches)} match(es) at threshold "
        f"{args.threshold:g}, {len(unmatched)} other face(s)",
        title_justify="left",
    )
    table.add_column("face in target (x,y,w,h as ratios)")
    table.add_column("similarity", justify="right")
    table.add_column("match")
    for m in matches:
        table.add_row(_box(m["Face"]["BoundingBox"]), f"{m['Similarity']:.2f}", "yes")
    for face in unmatched:
        table.add_row(_box(face["BoundingBox"]), f"< {args.threshold:g}", "no")
    stdout.print(table)
    return 0


def _box(b: dict[str, float]) -> str:
    return f"{b['Left']:.2f},{b['Top']:.2f},{b['Width']:.2f},{b['Height']:.2f}"


def _run_pairs(args: argparse.Namespace) -> int:
    pairs_path = Path(args.pairs)
    try:
        with pairs_path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            fields = list(reader.fieldnames or [])
            rows = list(reader)
    except OSError as exc:
        print(f"facegate compare: cannot read {pairs_path}: {exc.strerror}", file=sys.stderr)
        return 2
    if not {"source", "target"} <= set(fields):
        print(f"facegate compare: {pairs_path} needs columns source and target", file=sys.stderr)
        return 2

    def resolve(name: str) -> str:
        return str(pairs_path.parent / name)

    images = sorted({resolve(r[c]) for r in rows for c in ("source", "target")})
    settings = load_settings()
    jobs = [(path, args.detector, True) for path in images]
    vectors: dict[str, Any] = {}
    for path, outcome in zip(
        images, run_many(tasks.embed_file, jobs, settings, args.workers, "embed"), strict=True
    ):
        vectors[path] = outcome
    calibration = shipped_calibration(DEFAULT_CHAIN.calibration)
    out = open(args.output, "w", newline="") if args.output else sys.stdout  # noqa: SIM115
    failed = 0
    try:
        writer = csv.DictWriter(out, fieldnames=[*fields, "similarity", "match", "error"])
        writer.writeheader()
        for row in rows:
            similarity, error = _pair_similarity(
                vectors[resolve(row["source"])], vectors[resolve(row["target"])], calibration
            )
            failed += error is not None
            writer.writerow(
                {
                    **row,
                    "similarity": "" if similarity is None else f"{similarity:.4f}",
                    "match": ""
                    if similarity is None
                    else str(similarity >= args.threshold).lower(),
                    "error": error or "",
                }
            )
    finally:
        if out is not sys.stdout:
            out.close()
    return 3 if failed else 0


def _pair_similarity(
    source: tuple[bool, Any], target: tuple[bool, Any], calibration: Any
) -> tuple[float | None, str | None]:
    """The best similarity of the source's largest face with any face of the target."""
    for side, (ok, result) in (("source", source), ("target", target)):
        if not ok:
            return None, f"{side}: {result['Type']}: {result['Message']}"
    src, tgt = source[1]["embeddings"], target[1]["embeddings"]
    if len(src) == 0:
        return None, "source: InvalidParameterException: no face in the source image"
    if len(tgt) == 0:
        return 0.0, None
    distance = np.linalg.norm(tgt - src[0], axis=1)
    return float(np.max(calibration.similarity(distance))), None
