"""Bootstrap intervals for a group's rate, resampling subjects rather than pairs because
pairs share subjects (docs/fairness-metrics.md, "Uncertainty")."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from facegate.fairness.checks import check_probability
from facegate.fairness.intervals import DEFAULT_CONFIDENCE
from facegate.fairness.results import BootstrapInterval

__all__ = ["bootstrap_rate", "bootstrap_replicates"]


def _subject_indices(sa: np.ndarray, sb: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Each pair's two subjects as indices 0..S-1 into the sorted distinct subjects."""
    both = np.concatenate([sa, sb])
    try:
        distinct, inverse = np.unique(both, return_inverse=True)
    except TypeError:  # ids of mixed types cannot be sorted: number them by first sight
        seen: dict[Hashable, int] = {}
        inverse = np.array([seen.setdefault(s, len(seen)) for s in both], dtype=np.int64)
        distinct = np.empty(len(seen))
    inverse = inverse.reshape(-1)
    return inverse[: len(sa)], inverse[len(sa) :], len(distinct)


def bootstrap_replicates(
    errors: Sequence[bool] | np.ndarray,
    subject_a: Sequence[Hashable] | np.ndarray,
    subject_b: Sequence[Hashable] | np.ndarray,
    *,
    rng: np.random.Generator | int,
    replicates: int = 1000,
) -> np.ndarray:
    """Rates of a group's pairs recomputed on subjects resampled with replacement
    (docs/fairness-metrics.md, "Uncertainty": bootstrap over subjects, not pairs, because pairs
    share subjects).

    ``errors[i]`` says whether pair i is an error (a false match for impostor pairs, a false
    non-match for mated pairs); ``subject_a``/``subject_b`` are its subjects. Each replicate
    draws as many subjects as there are (numbered in sorted order), with replacement; a pair
    of two different subjects then counts count(a) * count(b) times (every copy of a against
    every copy of b), a mated pair count(a) times. Replicates in which no pair survives are
    left out. ``rng`` is a numpy Generator or a seed for one. Each replicate costs a pass over
    the pairs (about 7 ms per 100,000 pairs).
    """
    err = np.asarray(errors, dtype=bool)
    sa, sb = np.asarray(subject_a), np.asarray(subject_b)
    if not (err.ndim == sa.ndim == sb.ndim == 1 and len(err) == len(sa) == len(sb)):
        raise ValueError("errors, subject_a and subject_b must be sequences of the same length")
    if replicates < 1:
        raise ValueError("replicates must be at least 1")
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    if len(err) == 0:
        return np.empty(0)
    ia, ib, n_subjects = _subject_indices(sa, sb)
    same = ia == ib
    err_f = err.astype(float)
    out = np.empty(replicates)
    used = 0
    for _ in range(replicates):
        counts = np.bincount(gen.integers(0, n_subjects, n_subjects), minlength=n_subjects)
        w = np.where(same, counts[ia], counts[ia] * counts[ib]).astype(float)
        total = w.sum()
        if total > 0:
            out[used] = float(w @ err_f) / total
            used += 1
    return out[:used]


def bootstrap_rate(
    errors: Sequence[bool] | np.ndarray,
    subject_a: Sequence[Hashable] | np.ndarray,
    subject_b: Sequence[Hashable] | np.ndarray,
    *,
    rng: np.random.Generator | int,
    replicates: int = 1000,
    confidence: float = DEFAULT_CONFIDENCE,
) -> BootstrapInterval:
    """A percentile bootstrap interval for one group's rate, resampling subjects (see
    :func:`bootstrap_replicates`). The same seed gives the same interval."""
    confidence = check_probability("confidence", confidence, open_interval=True)
    err = np.asarray(errors, dtype=bool)
    sa, sb = np.asarray(subject_a), np.asarray(subject_b)
    n_subjects = _subject_indices(sa, sb)[2] if len(sa) == len(sb) and len(sa) else 0
    estimate = float(err.mean()) if len(err) else None
    reps = bootstrap_replicates(errors, subject_a, subject_b, rng=rng, replicates=replicates)
    if len(reps) == 0:
        return BootstrapInterval(
            confidence, replicates, 0, n_subjects, estimate, None, None, "no pairs to resample"
        )
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(reps, [tail, 1.0 - tail])
    note = None
    if n_subjects < 2:
        note = "a single subject: resampling subjects cannot show any variation"
    return BootstrapInterval(
        confidence,
        replicates,
        len(reps),
        n_subjects,
        estimate,
        float(low),
        float(high),
        None,
        note,
    )
