"""The evaluation runner: a labelled dataset in, a demographic audit report out.

``facegate fairness evaluate DATASET --groups FILE`` runs the real engine once per image (the
embeddings are cached on disk under the model version, so a run that stops resumes where it
was), keeps the largest face of each image that passes the quality bar, forms every genuine
pair and every impostor pair (or, beyond ``max_impostors``, a uniform sample of impostor
pairs drawn with a fixed seed: the report says so), scores them with the shipped calibrated
similarity, sets one global threshold from the pooled impostors at the target FMR, and
reports per-group FMR (same-group impostors) and FNMR, the cross-group FMR matrix, intervals,
the summary measures, capture failures and the data's limits, following NIST's method
(docs/fairness.md). No demographic label is used by the engine: labels only group results.

With ``--compare-options`` it also compares the fairer threshold options of
:mod:`facegate.fairness.worst_group` and :mod:`facegate.fairness.normalization` (worst-group
threshold, cluster-based score normalization) with the global threshold, fitting each on half
of the subjects and measuring every group's rates on the other half
(:func:`~facegate.fairness.options.compare_threshold_options`). The pairs are formed and
scored by :mod:`facegate.fairness.pairs`.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from facegate.fairness import metrics as m
from facegate.fairness.normalization import DEFAULT_CLUSTERS
from facegate.fairness.options import (
    OPTION_NAMES,
    OPTIONS,
    compare_threshold_options,
    options_html,
    split_subjects,
)
from facegate.fairness.pairs import DEFAULT_MAX_IMPOSTORS, SEED, Face, pairs
from facegate.vision.calibration import Calibration

__all__ = [
    "DEFAULT_MAX_IMPOSTORS",
    "DEFAULT_TARGET_FMR",
    "OPTIONS",
    "OPTION_NAMES",
    "REPORT_FORMAT",
    "SEED",
    "Face",
    "compare_threshold_options",
    "evaluate",
    "fingerprint",
    "options_html",
    "pairs",
    "split_subjects",
    "write_json",
]

REPORT_FORMAT = "facegate-fairness-report/1"
DEFAULT_TARGET_FMR = 1e-4


def _det(scores: np.ndarray, mated: np.ndarray) -> dict[str, list[float]]:
    """Points of a DET curve (FMR, FNMR) over the group's own score range."""
    genuine, impostor = np.sort(scores[mated]), np.sort(scores[~mated])
    if not len(genuine) or not len(impostor):
        return {"threshold": [], "fmr": [], "fnmr": []}
    grid = np.unique(np.quantile(np.concatenate([genuine, impostor]), np.linspace(0, 1, 200)))
    fmr = 1.0 - np.searchsorted(impostor, grid, side="left") / len(impostor)
    fnmr = np.searchsorted(genuine, grid, side="left") / len(genuine)
    return {"threshold": grid.tolist(), "fmr": fmr.tolist(), "fnmr": fnmr.tolist()}


def _histogram(values: np.ndarray) -> dict[str, list[float]]:
    counts, edges = np.histogram(values, bins=50, range=(0.0, 100.0))
    return {"edges": edges.tolist(), "counts": counts.tolist()}


def evaluate(
    faces: Sequence[Face],
    failures: Sequence[tuple[str, str]],
    calibration: Calibration,
    *,
    model_version: str,
    dataset: str,
    target_fmr: float = DEFAULT_TARGET_FMR,
    alpha: float = m.DEFAULT_ALPHA,
    max_impostors: int = DEFAULT_MAX_IMPOSTORS,
    attempted: Counter | None = None,
    compare_options: bool = False,
    clusters: int = DEFAULT_CLUSTERS,
) -> dict[str, Any]:
    """The audit report (a JSON-ready dict) for enrolled ``faces``.

    ``failures``: (group, reason) of each image that gave no usable face; ``attempted``: images
    per group (for the failure rates). ``compare_options`` adds ``fairer_thresholds``: every
    group's FMR and FNMR under the global, the worst-group and the cluster-normalized
    threshold, measured on a subject-disjoint half (see :func:`compare_threshold_options`);
    ``clusters`` is the k asked of the normalization.
    """
    comparisons, sampling = pairs(faces, calibration, max_impostors)
    impostor_scores = comparisons.scores[~comparisons.mated]
    choice = m.threshold_at_fmr(impostor_scores, target_fmr)
    groups = sorted({f.group for f in faces})
    report: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "model_version": model_version,
        "calibration": calibration.version,
        "dataset": dataset,
        "created": datetime.now(UTC).isoformat(),
        "target_fmr": target_fmr,
        "alpha": alpha,
        "method": "NIST (NISTIR 8280): one global threshold from pooled impostors at the "
        "target FMR; per-group FMR over same-group impostor pairs; FNMR over mated pairs",
        "threshold": choice.to_dict(),
        "pairs": sampling,
        "faces": len(faces),
        "subjects": len({f.subject for f in faces}),
    }
    if choice.threshold is None:
        report["groups"] = {}
        report["summary"] = {}
        report["limits"] = [choice.reason]
        return report
    threshold = choice.threshold
    fmr = m.per_group_fmr(comparisons, threshold)
    fnmr = m.per_group_fnmr(comparisons, threshold)
    matrix = m.fmr_matrix(comparisons, threshold)
    failure_counts = Counter(g for g, _ in failures)
    per_group: dict[str, Any] = {}
    limits: list[str] = []
    for g in groups:
        in_group = (comparisons.group_a == g) & (comparisons.group_b == g)
        group_scores = comparisons.scores[in_group]
        group_mated = comparisons.mated[in_group]
        tried = (attempted or Counter()).get(g, 0)
        fta = m.Rate(failure_counts.get(g, 0), tried) if tried else None
        support = m.data_support(fmr[g], target_fmr)
        if support.insufficient and support.bound_if_no_errors is None:
            limits.append(
                f"{g}: no same-group impostor pairs (fewer than two subjects): no FMR can be "
                f"measured for it"
            )
        elif support.insufficient:
            limits.append(
                f"{g}: {fmr[g].trials} same-group impostor pairs cannot support an FMR claim at "
                f"{target_fmr:g} (needs {support.needed}; zero errors would bound it at "
                f"{support.bound_if_no_errors:.2g})"
            )
        fmr_g, fnmr_g = fmr[g].value, fnmr[g].value
        per_group[g] = {
            "subjects": len({f.subject for f in faces if f.group == g}),
            "faces": sum(1 for f in faces if f.group == g),
            "fmr": fmr[g].to_dict(),
            "fnmr": fnmr[g].to_dict(),
            "fmr_interval": m.wilson_interval(fmr[g].errors, fmr[g].trials).to_dict(),
            "fnmr_interval": m.wilson_interval(fnmr[g].errors, fnmr[g].trials).to_dict(),
            "fmr_support": support.to_dict(),
            "failure_to_acquire": fta.to_dict() if fta else None,
            "generalized": (
                m.generalized_rates(fmr_g, fnmr_g, fta.value or 0.0).to_dict()
                if fta and fmr_g is not None and fnmr_g is not None
                else None
            ),
            "det": _det(group_scores, group_mated),
            "genuine_scores": _histogram(group_scores[group_mated]),
            "impostor_scores": _histogram(group_scores[~group_mated]),
        }
    defined = [g for g in groups if fmr[g].defined and fnmr[g].defined]
    summary = m.summary_measures({g: fmr[g] for g in defined}, {g: fnmr[g] for g in defined}, alpha)
    report["groups"] = per_group
    report["fmr_matrix"] = matrix.to_dict()
    report["summary_measures"] = summary.to_dict()
    report["summary"] = summary.gate_measures()  # the flat view the FAIRNESS-GATE limits read
    if not choice.supported:
        limits.insert(0, choice.reason or "the pooled impostors cannot support the target")
    limits.append(
        "Groups are the labels of the dataset's subjects file; a group with few subjects "
        "gives wide intervals whatever its pair counts (pairs share subjects)."
    )
    if compare_options:
        report["fairer_thresholds"] = compare_threshold_options(
            faces,
            calibration,
            model_version=model_version,
            target_fmr=target_fmr,
            alpha=alpha,
            max_impostors=max_impostors,
            clusters=clusters,
        )
        limits.append(
            "The comparison of threshold options is measured on a subject-disjoint split: "
            "thresholds and the normalization are fitted on half of the subjects and the rates "
            "measured on the other half, so it rests on fewer pairs than the main tables."
        )
    report["limits"] = limits
    return report


def fingerprint(paths: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(paths).encode()).hexdigest()[:16]


def write_json(report: dict[str, Any], path: Path) -> bytes:
    raw = (json.dumps(report, indent=1, sort_keys=True) + "\n").encode()
    path.write_bytes(raw)
    return raw
