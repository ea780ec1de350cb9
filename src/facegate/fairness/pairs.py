"""The pairs of an evaluation: every genuine pair of a labelled dataset's faces and every
impostor pair (or a seeded uniform sample of them), scored with the calibrated similarity."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from facegate.fairness import metrics as m
from facegate.vision.calibration import Calibration

__all__ = ["DEFAULT_MAX_IMPOSTORS", "SEED", "Face", "pairs", "scored_pairs"]

DEFAULT_MAX_IMPOSTORS = 2_000_000
SEED = 20260610


@dataclass(frozen=True)
class Face:
    """One enrolled face of the dataset: its subject, group and descriptor."""

    subject: str
    group: str
    embedding: np.ndarray


def pairs(
    faces: Sequence[Face], calibration: Calibration, max_impostors: int, seed: int = SEED
) -> tuple[m.Comparisons, dict[str, Any]]:
    """Every genuine pair, and every impostor pair or a seeded uniform sample of them."""
    comparisons, note, _, _ = scored_pairs(faces, calibration, max_impostors, seed)
    return comparisons, note


def scored_pairs(
    faces: Sequence[Face], calibration: Calibration, max_impostors: int, seed: int = SEED
) -> tuple[m.Comparisons, dict[str, Any], np.ndarray, np.ndarray]:
    """:func:`pairs`, with the two faces' indices of each pair."""
    n = len(faces)
    vectors = np.stack([f.embedding for f in faces]).astype(np.float64)
    subjects = np.array([f.subject for f in faces], dtype=object)
    groups = np.array([f.group for f in faces], dtype=object)
    i, j = np.triu_indices(n, k=1)
    mated = subjects[i] == subjects[j]
    impostor_total = int((~mated).sum())
    sampled = impostor_total > max_impostors
    if sampled:
        rng = np.random.default_rng(seed)
        impostor_idx = np.flatnonzero(~mated)
        keep = rng.choice(impostor_idx, size=max_impostors, replace=False)
        chosen = np.sort(np.concatenate([np.flatnonzero(mated), keep]))
        i, j, mated = i[chosen], j[chosen], mated[chosen]
    distances = np.linalg.norm(vectors[i] - vectors[j], axis=1)
    scores = np.asarray(calibration.similarity(distances), dtype=float)
    comparisons = m.Comparisons(
        scores=scores,
        mated=mated,
        subject_a=subjects[i],
        subject_b=subjects[j],
        group_a=groups[i],
        group_b=groups[j],
    )
    note = {
        "genuine_pairs": int(mated.sum()),
        "impostor_pairs": int((~mated).sum()),
        "impostor_pairs_possible": impostor_total,
        "impostors_sampled": sampled,
        "sample": (
            f"{max_impostors} of {impostor_total} impostor pairs drawn uniformly without "
            f"replacement (numpy default_rng, seed {seed}); every genuine pair kept"
            if sampled
            else "every pair"
        ),
    }
    return comparisons, note, i, j
