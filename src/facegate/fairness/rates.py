"""Error rates per group at one global threshold: FMR, FNMR and the cross-group FMR matrix
for verification (1:1), FPIR and FNIR for identification (1:N) (docs/fairness-metrics.md,
"Per-group error rates at one global threshold", items 2 to 4)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from facegate.fairness.inputs import Comparisons, Search
from facegate.fairness.results import FmrMatrix, Rate

__all__ = ["fmr_matrix", "fnir", "fpir", "per_group_fmr", "per_group_fnmr"]


def per_group_fmr(comparisons: Comparisons, threshold: float) -> dict[str, Rate]:
    """FMR of each group at one global threshold (docs/fairness-metrics.md, item 2).

    FMR of g = impostor pairs with *both* sides in g that score ``>= threshold`` / all impostor
    pairs with both sides in g. Same-group impostors are the operational population: impostors
    from other groups score lower and would hide the false match rate. A group without
    same-group impostor pairs gets a rate with no value.
    """
    imp = ~comparisons.mated
    same = imp & (comparisons.group_a == comparisons.group_b)
    accepted = comparisons.scores >= float(threshold)
    out = {}
    for g in comparisons.groups:
        in_g = same & (comparisons.group_a == g)
        out[g] = Rate(int(np.sum(in_g & accepted)), int(np.sum(in_g)))
    return out


def per_group_fnmr(comparisons: Comparisons, threshold: float) -> dict[str, Rate]:
    """FNMR of each group at one global threshold (docs/fairness-metrics.md, item 3).

    FNMR of g = mated pairs of subjects in g that score ``< threshold`` / all mated pairs in g.
    """
    mated = comparisons.mated
    rejected = comparisons.scores < float(threshold)
    out = {}
    for g in comparisons.groups:
        in_g = mated & (comparisons.group_a == g)
        out[g] = Rate(int(np.sum(in_g & rejected)), int(np.sum(in_g)))
    return out


def fmr_matrix(comparisons: Comparisons, threshold: float) -> FmrMatrix:
    """The full cross-group FMR matrix FMR[g][h] at one threshold (docs/fairness-metrics.md,
    item 2).

    FMR[g][h] = impostor pairs with one side in g and the other in h that score
    ``>= threshold`` / all such pairs. The order of the sides does not matter, so the matrix
    is symmetric; its diagonal is :func:`per_group_fmr`.
    """
    groups = comparisons.groups
    k = len(groups)
    errors = np.zeros((k, k), dtype=np.int64)
    trials = np.zeros((k, k), dtype=np.int64)
    imp = ~comparisons.mated
    accepted = comparisons.scores >= float(threshold)
    sorted_groups = np.array(groups, dtype=str)
    ia = np.searchsorted(sorted_groups, comparisons.group_a[imp])
    ib = np.searchsorted(sorted_groups, comparisons.group_b[imp])
    acc = accepted[imp]
    lo, hi = np.minimum(ia, ib), np.maximum(ia, ib)
    np.add.at(trials, (lo, hi), 1)
    np.add.at(errors, (lo, hi), acc.astype(np.int64))
    rates = tuple(
        tuple(
            Rate(int(errors[min(i, j), max(i, j)]), int(trials[min(i, j), max(i, j)]))
            for j in range(k)
        )
        for i in range(k)
    )
    return FmrMatrix(groups, rates)


def fpir(searches: Iterable[Search], threshold: float) -> dict[str, Rate]:
    """False positive identification rate per group (docs/fairness-metrics.md, item 4).

    FPIR of g = searches by members of g who are *not* enrolled that return any candidate with
    a score ``>= threshold`` / all such searches. It grows roughly as N x FMR for a gallery of
    N, so a 1:N gallery multiplies any FMR differential.
    """
    counts: dict[str, list[int]] = {}
    for s in searches:
        c = counts.setdefault(str(s.group), [0, 0])
        if s.enrolled:
            continue
        c[1] += 1
        c[0] += bool(s.scores) and s.scores[0] >= threshold
    return {g: Rate(k, n) for g, (k, n) in sorted(counts.items())}


def fnir(searches: Iterable[Search], threshold: float, rank: int = 1) -> dict[str, Rate]:
    """False negative identification rate per group (docs/fairness-metrics.md, item 4).

    FNIR of g = searches by enrolled members of g whose mate is not among the top ``rank``
    candidates with a score ``>= threshold`` / all such searches. ``rank`` is R (1 for
    investigative lead review of the top candidate only).
    """
    if rank < 1:
        raise ValueError("rank must be at least 1")
    counts: dict[str, list[int]] = {}
    for s in searches:
        c = counts.setdefault(str(s.group), [0, 0])
        if not s.enrolled:
            continue
        c[1] += 1
        found = (
            s.mate_rank is not None
            and s.mate_rank <= rank
            and s.scores[s.mate_rank - 1] >= threshold
        )
        c[0] += not found
    return {g: Rate(k, n) for g, (k, n) in sorted(counts.items())}
