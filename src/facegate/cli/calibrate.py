"""``facegate calibrate DATASET``: a similarity calibration artifact from labelled faces."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from facegate.cli import tasks
from facegate.cli.batch import run_many
from facegate.cli.output import stderr, stdout
from facegate.config import load_settings
from facegate.fairness.calibrate import compute_calibration
from facegate.vision.dataset import EmbeddingCache, Sample, list_samples, read_groups
from facegate.vision.geometry import face_pose
from facegate.vision.models import DEFAULT_CHAIN
from facegate.vision.quality import FaceMeasures, reasons_at


def embed_dataset(
    samples: list[Sample],
    cache: EmbeddingCache,
    settings: Any,
    detector: str | None,
    n_workers: int,
) -> list[dict[str, np.ndarray] | None]:
    """The cached analysis of each sample's largest face, computing what the cache lacks."""
    entries: list[dict[str, np.ndarray] | None] = []
    missing: list[tuple[int, bytes]] = []
    for index, sample in enumerate(samples):
        data = sample.path.read_bytes()
        entry = cache.get(data)
        entries.append(entry)
        if entry is None:
            missing.append((index, data))
    jobs = [(str(samples[i].path), detector, False) for i, _ in missing]
    for (index, data), (ok, result) in zip(
        missing, run_many(tasks.embed_file, jobs, settings, n_workers, "embed"), strict=True
    ):
        if ok:
            entry = {
                "embedding": result["embeddings"][:1],
                "box": result["boxes"][:1],
                "landmarks": result["landmarks"][:1],
                "size": np.array([result["width"], result["height"]]),
                "measures": np.array([json.dumps(m) for m in result["measures"][:1]]),
            }
        else:
            entry = {"error": np.array(result["Type"])}
        cache.put(data, entry)
        entries[index] = entry
    return entries


def enrollment_failure(entry: dict[str, np.ndarray] | None, quality_filter: str) -> str | None:
    """Why an image gives no calibration face: an error, no face, or below the quality bar."""
    if entry is None or "error" in entry:
        return str(entry["error"]) if entry is not None else "not processed"
    if not len(entry["embedding"]):
        return "no face"
    # The verdict is recomputed from the cached measures, so it follows the current pose model
    # and quality bars rather than those of the run that filled the cache.
    measures = json.loads(str(entry["measures"][0]))
    pose = face_pose(entry["landmarks"][0], bool(measures["frontal"]))
    reasons = reasons_at(
        FaceMeasures(yaw=pose["Yaw"], pitch=pose["Pitch"], roll=pose["Roll"], **measures),
        quality_filter,
    )
    return ",".join(reasons) if reasons else None


def run_calibrate(args: argparse.Namespace) -> int:
    dataset = Path(args.dataset)
    try:
        samples = list_samples(dataset, args.identity)
    except (FileNotFoundError, ValueError) as exc:
        print(f"facegate calibrate: {exc}", file=sys.stderr)
        return 2
    if len({s.subject for s in samples}) < 2:
        print("facegate calibrate: the dataset needs at least two subjects", file=sys.stderr)
        return 2
    groups_file = (
        Path(args.groups)
        if args.groups
        else (dataset / "subjects.csv" if dataset.is_dir() else None)
    )
    groups: dict[str, str] = {}
    group_columns: list[str] = []
    if groups_file and groups_file.is_file():
        columns = args.group_by.split(",") if args.group_by else None
        groups, group_columns = read_groups(groups_file, columns)
    settings = load_settings()
    detector = args.detector or settings.detect.detector
    cache_root = Path(args.cache) if args.cache else settings.data_dir / "cache" / "embeddings"
    cache = EmbeddingCache(cache_root, DEFAULT_CHAIN.version, detector)
    entries = embed_dataset(samples, cache, settings, args.detector, args.workers)

    enrolled: list[tuple[Sample, dict[str, np.ndarray]]] = []
    failures: Counter[str] = Counter()
    for sample, entry in zip(samples, entries, strict=True):
        reason = enrollment_failure(entry, args.quality_filter)
        if reason is None:
            assert entry is not None  # enrollment_failure gives a reason for a missing entry
            enrolled.append((sample, entry))
        else:
            failures[f"{groups.get(sample.subject, 'no group')}: {reason}"] += 1
    if len(enrolled) < 2:
        print("facegate calibrate: fewer than two faces were found", file=sys.stderr)
        return 3
    embeddings = np.concatenate([e["embedding"] for _, e in enrolled])
    subjects = [s.subject for s, _ in enrolled]
    fingerprint = hashlib.sha256(
        "\n".join(
            f"{s.path.relative_to(dataset) if dataset.is_dir() else s.path}:{s.subject}"
            for s in samples
        ).encode()
    ).hexdigest()[:16]
    name = args.name or f"{DEFAULT_CHAIN.version}/{dataset.resolve().name}-{fingerprint}"
    document = compute_calibration(
        embeddings,
        subjects,
        groups,
        model_version=DEFAULT_CHAIN.version,
        version=name,
        dataset={
            "name": dataset.resolve().name,
            "fingerprint": fingerprint,
            "detector": detector,
            "group_columns": group_columns,
            "images_listed": len(samples),
            "quality_filter": args.quality_filter,
            "failures_to_enroll": dict(sorted(failures.items())),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    Path(args.output).write_text(json.dumps(document, indent=1) + "\n")
    if args.json:
        sys.stdout.write(json.dumps(document) + "\n")
    else:
        _print_summary(document, args.output)
        if getattr(args, "per_group", False):
            _print_per_group(document)
    return 0


def _fmt(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:.2e}"


def _print_summary(document: dict[str, Any], output: str) -> None:
    ds = document["dataset"]
    stderr.print(
        f"{ds['images']} faces of {ds['subjects']} subjects from {ds['images_listed']} images; "
        f"{ds['genuine_pairs']} genuine and {ds['impostor_pairs']} impostor pairs; "
        f"failures to enroll: {sum(ds['failures_to_enroll'].values())}"
    )
    table = Table(title=f"calibration {document['version']} -> {output}", title_justify="left")
    for column in (
        "threshold",
        "distance",
        "FMR pooled",
        "FNMR pooled",
        "worst group FMR",
        "worst group",
    ):
        table.add_column(column, justify="right")
    for row in document["table"]:
        worst = row.get("worst_group", {})
        table.add_row(
            f"{row['threshold']:g}",
            f"{row['distance']:.4f}",
            _fmt(row["pooled"]["fmr"]),
            _fmt(row["pooled"]["fnmr"]),
            _fmt(worst.get("fmr")),
            worst.get("group", "-"),
        )
    stdout.print(table)


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def _print_per_group(document: dict[str, Any]) -> None:
    """``--per-group``: at the global threshold of each target FMR, how far each group's
    same-group FMR drifts from the target (ratio group FMR / target, with the Wilson 95%
    interval of the FMR divided by the target). The global threshold is not changed; the
    worst-group threshold is shown as an option beside it. "insufficient data" in the last
    column: the group's pairs are fewer than 3 / target, so even zero false matches could not
    show its FMR is at most the target; a large ratio with many false matches is still real."""
    for entry in document.get("thresholds", []):
        target = entry["target_fmr"]
        if entry["similarity"] is None:
            stdout.print(f"FMR {target:g}: insufficient data ({entry['reason']})")
            continue
        table = Table(
            title=(
                f"FMR {target:g}: global threshold {entry['similarity']:.3f} "
                f"(distance {entry['distance']:.4f}; {entry['false_matches']} of "
                f"{entry['impostor_pairs']} pooled impostor pairs at or above it)"
            ),
            title_justify="left",
        )
        for column in (
            "group",
            "same-group impostor pairs",
            "FMR",
            "FMR / target",
            "95% interval",
            "FNMR",
            "enough pairs for the target",
        ):
            table.add_column(column, justify="right")
        for group, row in entry.get("groups", {}).items():
            interval = row.get("ratio_interval")
            table.add_row(
                group,
                str(row["impostor_pairs"]),
                _fmt(row["fmr"]),
                _ratio(row["ratio_to_target"]),
                "n/a" if interval is None else f"{interval[0]:.3g} to {interval[1]:.3g}",
                _fmt(row["fnmr"]),
                "yes" if row["supported"] else "no: insufficient data",
            )
        stdout.print(table)
        worst = entry.get("worst_group_threshold")
        if worst and worst["similarity"] is not None:
            left_out = ", ".join(worst["insufficient"]) or "none"
            stdout.print(
                f"  worst-group option: threshold {worst['similarity']:.3f} (distance "
                f"{worst['distance']:.4f}, decided by {worst['decided_by']}); groups with too "
                f"few pairs to set it: {left_out}"
            )
