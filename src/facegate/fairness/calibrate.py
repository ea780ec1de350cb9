"""Computing a similarity calibration artifact from labelled faces (``facegate calibrate``).

The artifact is loaded and applied by :mod:`facegate.vision.calibration` (distance to a 0-100
similarity); computing it needs the fairness measures, so it lives here. Its anchors are placed
at distances where the calibration data shows a stated false match rate (FMR): similarity 99
is the largest distance at which every demographic group's same-group impostor FMR, and the
pooled FMR, is at most 1e-4 (below a group's closest impostor where its pairs are too few to
measure 1e-4); 95, 90 and 80 are where the pooled FMR is 1e-4, 1e-3 and 1e-2; 50 is the median
impostor distance. The artifact also tabulates, for a range of thresholds, the FMR and FNMR
observed on the calibration data pooled and per group, and records under ``thresholds`` the
similarity threshold at pooled FMR 1e-3, 1e-4 and 1e-5 where the data supports it
(:func:`~facegate.fairness.thresholds.threshold_at_fmr` and the rule of three), each group's
FMR at that one global threshold as a ratio to the target, and the worst-group threshold.
docs/calibration.md says what the shipped artifact rests on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from facegate.fairness import metrics as m
from facegate.fairness.worst_group import worst_group_threshold
from facegate.vision.calibration import FORMAT, Calibration

__all__ = [
    "ANCHOR_RULES",
    "TABLE_THRESHOLDS",
    "THRESHOLD_TARGETS",
    "compute_calibration",
    "distance_at_fmr",
    "pair_distances",
    "rates_at",
    "threshold_entries",
]

# Similarity anchors and the rule that places each one (see the module docstring).
ANCHOR_RULES: tuple[tuple[float, str, float], ...] = (
    (99.0, "worst_group", 1e-4),
    (95.0, "pooled", 1e-4),
    (90.0, "pooled", 1e-3),
    (80.0, "pooled", 1e-2),
    (50.0, "pooled", 0.5),
)
TABLE_THRESHOLDS: tuple[float, ...] = (50, 60, 70, 75, 80, 85, 90, 95, 97, 98, 99, 99.5)
# Target FMRs whose global similarity thresholds the artifact records (where supported).
THRESHOLD_TARGETS: tuple[float, ...] = (1e-3, 1e-4, 1e-5)


def pair_distances(embeddings: np.ndarray, subjects: Sequence[str]) -> tuple[np.ndarray, ...]:
    """All pairs (i < j) of ``embeddings``: distances, genuine mask, and the index pairs."""
    emb = np.asarray(embeddings, dtype=np.float64)
    n = len(emb)
    i, j = np.triu_indices(n, k=1)
    sq = (emb * emb).sum(axis=1)
    dist = np.sqrt(np.maximum(sq[i] + sq[j] - 2.0 * (emb[i] * emb[j]).sum(axis=1), 0.0))
    subj = np.asarray(subjects)
    genuine = subj[i] == subj[j]
    return dist, genuine, i, j


def distance_at_fmr(impostor: np.ndarray, fmr: float) -> float:
    """Largest distance d with (impostors at distance <= d) / n <= ``fmr``.

    With k = floor(fmr * n) allowed false matches, d lies between the k-th and (k+1)-th
    smallest impostor distances (just below the smallest when k = 0).
    """
    dist = np.sort(np.asarray(impostor, dtype=np.float64))
    if len(dist) == 0:
        return math.inf
    k = math.floor(fmr * len(dist) + 1e-9)
    if k >= len(dist):
        return float(dist[-1])
    below = dist[k - 1] if k > 0 else dist[0] * 0.999
    return float((below + dist[k]) / 2.0) if k > 0 else float(below)


def rates_at(distance: float, genuine: np.ndarray, impostor: np.ndarray) -> dict[str, Any]:
    """FMR and FNMR at a distance threshold, with the counts they rest on."""
    fm = int((impostor <= distance).sum())
    fnm = int((genuine > distance).sum())
    return {
        "fmr": fm / len(impostor) if len(impostor) else None,
        "fnmr": fnm / len(genuine) if len(genuine) else None,
        "false_matches": fm,
        "impostor_pairs": len(impostor),
        "false_non_matches": fnm,
        "genuine_pairs": len(genuine),
    }


def compute_calibration(
    embeddings: np.ndarray,
    subjects: Sequence[str],
    groups: Mapping[str, str],
    *,
    model_version: str,
    version: str,
    dataset: Mapping[str, Any],
) -> dict[str, Any]:
    """Build a calibration document from embeddings, their subject ids and subject groups.

    ``groups`` maps subject id to a group label (subjects without one count only pooled).
    Group rates use same-group impostor pairs (both faces from the group), as NIST does.
    """
    dist, genuine, i, j = pair_distances(embeddings, subjects)
    subj = np.asarray(subjects)
    label = np.array([groups.get(s, "") for s in subj])
    same_group = (label[i] == label[j]) & (label[i] != "")
    imp_all, gen_all = dist[~genuine], dist[genuine]
    group_names = sorted({g for g in label if g})
    per_group: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for g in group_names:
        in_g = same_group & (label[i] == g)
        per_group[g] = (dist[in_g & genuine], dist[in_g & ~genuine])

    anchors: list[tuple[float, float]] = [(0.0, 100.0)]
    anchor_notes = []
    for sim, rule, fmr in ANCHOR_RULES:
        candidates = {"pooled": distance_at_fmr(imp_all, fmr)}
        if rule == "worst_group":
            for g, (_, imp) in per_group.items():
                if len(imp):
                    candidates[g] = distance_at_fmr(imp, fmr)
        deciding = min(candidates, key=lambda k: candidates[k])
        d = candidates[deciding]
        previous = anchors[-1][0]
        d = max(d, previous + 1e-4)  # keep the map strictly monotonic
        anchors.append((d, sim))
        anchor_notes.append(
            {
                "similarity": sim,
                "rule": rule,
                "target_fmr": fmr,
                "distance": d,
                "decided_by": deciding,
            }
        )
    top = float(max(dist.max(initial=0.0), anchors[-1][0]) + 0.1)
    anchors.append((top, 0.0))
    document: dict[str, Any] = {
        "format": FORMAT,
        "version": version,
        "model_version": model_version,
        "metric": "euclidean distance between 128-d descriptors",
        "anchors": [[round(d, 6), s] for d, s in anchors],
        "anchor_rules": anchor_notes,
        "dataset": {
            **dict(dataset),
            "images": len(subj),
            "subjects": len(set(subj)),
            "genuine_pairs": int(genuine.sum()),
            "impostor_pairs": int((~genuine).sum()),
            "groups": {
                g: {
                    "subjects": len({s for s in subj if groups.get(s) == g}),
                    "genuine_pairs": len(gen),
                    "same_group_impostor_pairs": len(imp),
                    "lowest_supported_fmr": (1.0 / len(imp)) if len(imp) else None,
                }
                for g, (gen, imp) in per_group.items()
            },
            "lowest_supported_fmr": 1.0 / max(1, int((~genuine).sum())),
        },
    }
    cal = Calibration.from_document(document)
    table = []
    for threshold in TABLE_THRESHOLDS:
        d = cal.distance_for(threshold)
        row: dict[str, Any] = {
            "threshold": threshold,
            "distance": round(d, 6),
            "pooled": rates_at(d, gen_all, imp_all),
        }
        row["groups"] = {g: rates_at(d, gen, imp) for g, (gen, imp) in per_group.items()}
        fmrs = {g: r["fmr"] for g, r in row["groups"].items() if r["fmr"] is not None}
        if fmrs:
            worst = max(fmrs, key=lambda g: fmrs[g])
            row["worst_group"] = {"group": worst, "fmr": fmrs[worst]}
        table.append(row)
    document["table"] = table
    document["thresholds"] = threshold_entries(cal, dist, genuine, per_group)
    return document


def threshold_entries(
    cal: Calibration,
    dist: np.ndarray,
    genuine: np.ndarray,
    per_group: Mapping[str, tuple[np.ndarray, np.ndarray]],
    targets: Sequence[float] = THRESHOLD_TARGETS,
) -> list[dict[str, Any]]:
    """For each target FMR: the global similarity threshold from the pooled impostors (only
    where the data supports the target: at least 3 / target impostor pairs), each group's
    same-group FMR and FNMR at that one threshold with the ratio FMR / target (the threshold is
    not changed for any group), and the worst-group threshold as an option.

    ``per_group`` maps each group to its (genuine, same-group impostor) distances.
    """
    impostor = np.asarray(cal.similarity(dist[~genuine]), dtype=float).reshape(-1)
    groups = {
        g: (
            np.asarray(cal.similarity(gen), dtype=float).reshape(-1),
            np.asarray(cal.similarity(imp), dtype=float).reshape(-1),
        )
        for g, (gen, imp) in per_group.items()
    }
    entries = []
    for target in targets:
        choice = m.threshold_at_fmr(impostor, target)
        entry: dict[str, Any] = {
            "target_fmr": target,
            "similarity": None,
            "distance": None,
            "impostor_pairs": choice.impostors,
            "false_matches": choice.false_matches,
            "achieved_fmr": choice.achieved_fmr,
            "reachable": choice.reachable,
            "supported": choice.supported,
            "reason": choice.reason,
            "note": choice.note,
        }
        entries.append(entry)
        if not choice.supported or choice.threshold is None:
            entry["insufficient_data"] = True
            continue
        threshold = choice.threshold
        entry["similarity"] = threshold
        entry["distance"] = round(cal.distance_for(threshold), 6)
        drift = {}
        for g, (gen, imp) in groups.items():
            fmr = m.Rate(int(np.sum(imp >= threshold)), len(imp))
            fnmr = m.Rate(int(np.sum(gen < threshold)), len(gen))
            support = m.data_support(fmr, target)
            interval = m.wilson_interval(fmr.errors, fmr.trials)
            drift[g] = {
                "fmr": fmr.value,
                "false_matches": fmr.errors,
                "impostor_pairs": fmr.trials,
                "ratio_to_target": None if fmr.value is None else fmr.value / target,
                "ratio_interval": (
                    None
                    if interval.low is None or interval.high is None
                    else [interval.low / target, interval.high / target]
                ),
                "fnmr": fnmr.value,
                "genuine_pairs": fnmr.trials,
                "supported": support.supported,
                "reason": support.reason,
            }
        entry["groups"] = drift
        if groups:
            worst = worst_group_threshold(
                impostor, {g: imp for g, (_, imp) in groups.items()}, target
            )
            entry["worst_group_threshold"] = {
                "similarity": worst.threshold,
                "distance": (
                    None if worst.threshold is None else round(cal.distance_for(worst.threshold), 6)
                ),
                "decided_by": worst.decided_by,
                "used": list(worst.used),
                "unsupported": list(worst.unsupported),
                "insufficient": dict(worst.insufficient),
                "note": worst.note,
            }
    return entries
