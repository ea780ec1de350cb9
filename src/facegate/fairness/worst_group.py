"""The worst-group threshold: one global threshold at which the target FMR holds in every
labelled group, not only pooled.

One of the two fairer options an operator can choose instead of the plain global threshold
(the other is :mod:`facegate.fairness.normalization`). It is the smallest threshold at which
each group with enough same-group impostor pairs of the calibration data has FMR <= target,
and the pooled FMR too. Groups whose pairs are too few to resolve the target are reported,
never silently used or dropped. Labels are read at calibration time only; at inference it is
a single number. docs/fairness.md, "Fairer thresholds", says when to use it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from facegate.fairness.inputs import Comparisons
from facegate.fairness.results import ThresholdChoice
from facegate.fairness.thresholds import reachable_count, threshold_at_fmr

__all__ = ["WorstGroupChoice", "worst_group_threshold", "worst_group_threshold_for"]


@dataclass(frozen=True)
class WorstGroupChoice:
    """A global threshold at which every group with enough same-group impostor pairs, and the
    pooled impostors, have FMR <= ``target_fmr`` (see :func:`worst_group_threshold`).

    ``groups``: each group's own :class:`~facegate.fairness.results.ThresholdChoice`;
    ``used``: the groups that set the threshold (at least ``min_impostors`` pairs);
    ``insufficient``: the groups left out, each with the reason; ``unsupported``: groups used
    whose pairs resolve the target but cannot support it by the rule of three;
    ``decided_by``: the group (or ``"pooled"``) whose threshold is the highest.
    """

    threshold: float | None
    target_fmr: float
    decided_by: str | None
    pooled: ThresholdChoice
    groups: Mapping[str, ThresholdChoice]
    used: tuple[str, ...]
    insufficient: Mapping[str, str]
    unsupported: tuple[str, ...]
    min_impostors: int
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "target_fmr": self.target_fmr,
            "decided_by": self.decided_by,
            "pooled": self.pooled.to_dict(),
            "groups": {g: c.to_dict() for g, c in self.groups.items()},
            "used": list(self.used),
            "insufficient": dict(self.insufficient),
            "unsupported": list(self.unsupported),
            "min_impostors": self.min_impostors,
            "note": self.note,
        }


def worst_group_threshold(
    pooled_impostors: Sequence[float] | np.ndarray,
    group_impostors: Mapping[str, Sequence[float] | np.ndarray],
    target_fmr: float,
    *,
    min_impostors: int | None = None,
) -> WorstGroupChoice:
    """The smallest threshold at which the pooled FMR and the same-group FMR of every group
    with at least ``min_impostors`` impostor pairs are all at most ``target_fmr``.

    Each group's FMR falls as the threshold rises, so that threshold is the highest of the
    groups' own thresholds (:func:`~facegate.fairness.thresholds.threshold_at_fmr`, with its
    tie rule) and the pooled one. ``group_impostors`` maps each group to its *same-group*
    impostor scores (both faces in the group).

    ``min_impostors`` defaults to 1 / target: fewer pairs cannot show the target at all (one
    false match already exceeds it), so such a group would only push the threshold above its
    highest impostor score, a statement about noise. Those groups are listed in
    ``insufficient`` with the reason, never silently used or dropped. Groups with enough pairs
    to resolve the target but fewer than 3 / target are used and listed in ``unsupported``.
    """
    target = float(target_fmr)
    pooled = threshold_at_fmr(pooled_impostors, target)
    needed = reachable_count(target) if min_impostors is None else int(min_impostors)
    if needed < 1:
        raise ValueError("min_impostors must be at least 1")
    choices: dict[str, ThresholdChoice] = {}
    used: list[str] = []
    insufficient: dict[str, str] = {}
    unsupported: list[str] = []
    for g in sorted(group_impostors):
        choice = threshold_at_fmr(group_impostors[g], target)
        choices[g] = choice
        if choice.impostors < needed or choice.threshold is None:
            insufficient[g] = (
                f"insufficient data: {choice.impostors} same-group impostor pairs; setting a "
                f"threshold at FMR {target:g} needs at least {needed}"
            )
            continue
        used.append(g)
        if not choice.supported:
            unsupported.append(g)
    candidates: dict[str, float] = {}
    if pooled.threshold is not None:
        candidates["pooled"] = pooled.threshold
    for g in used:
        threshold = choices[g].threshold
        if threshold is not None:
            candidates[g] = threshold
    note = None
    if not used:
        note = "no group has enough same-group impostor pairs: the pooled threshold is used"
    if not candidates:
        return WorstGroupChoice(
            None, target, None, pooled, choices, (), insufficient, (), needed, note
        )
    # the highest; on equal thresholds "pooled" (inserted first) decides, then the group name
    decided_by = max(candidates, key=lambda k: candidates[k])
    return WorstGroupChoice(
        candidates[decided_by],
        target,
        decided_by,
        pooled,
        choices,
        tuple(used),
        insufficient,
        tuple(unsupported),
        needed,
        note,
    )


def worst_group_threshold_for(
    comparisons: Comparisons, target_fmr: float, *, min_impostors: int | None = None
) -> WorstGroupChoice:
    """:func:`worst_group_threshold` over comparison records: the pooled impostors and each
    group's same-group impostors."""
    imp = ~comparisons.mated
    same = imp & (comparisons.group_a == comparisons.group_b)
    by_group = {
        g: comparisons.scores[same & (comparisons.group_a == g)] for g in comparisons.groups
    }
    return worst_group_threshold(
        comparisons.scores[imp], by_group, target_fmr, min_impostors=min_impostors
    )
