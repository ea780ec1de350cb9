"""The global threshold at a target false match rate (docs/fairness-metrics.md, "Per-group
error rates at one global threshold", item 1)."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from facegate.fairness.checks import check_probability, read_only_array
from facegate.fairness.intervals import needed_trials
from facegate.fairness.results import ThresholdChoice

__all__ = ["reachable_count", "threshold_at_fmr"]


def reachable_count(target: float) -> int:
    """The fewest impostor pairs that can show an FMR of ``target`` at all: 1 / target."""
    return math.ceil(round(1.0 / target, 6))


def threshold_at_fmr(impostor_scores: Iterable[float], target_fmr: float) -> ThresholdChoice:
    """The global threshold at a target false match rate (docs/fairness-metrics.md, "Per-group
    error rates at one global threshold", item 1).

    Pooled FMR(T) = share of the impostor scores ``>= T``. The result is the smallest
    threshold whose pooled FMR is at most ``target_fmr``. The FMR only changes at observed
    scores, so the candidates are the distinct impostor scores plus one value just above the
    highest; the smallest candidate that meets the target is returned (any lower threshold
    would accept at least one more impostor score).

    Ties are never split: if several impostors share the score at the cut and accepting all of
    them would exceed the target, the threshold moves above the whole tie and the achieved FMR
    falls below the target (``note`` says so).

    If there are fewer than 1/target impostor scores, even one false match exceeds the target:
    the threshold is then just above the highest impostor score (achieved FMR 0), and the
    result says ``reachable=False`` with the reason. With fewer than 3/target scores
    ``supported`` is False (rule of three). Without impostor scores ``threshold`` is ``None``.
    Use the impostor scores of one model version only.
    """
    target = check_probability("target_fmr", target_fmr, open_interval=True)
    scores = np.sort(read_only_array(impostor_scores, float))
    n = len(scores)
    needed = needed_trials(target)
    if n == 0:
        return ThresholdChoice(
            None, target, 0, 0, None, False, False, "no impostor scores: no threshold can be set"
        )
    if not np.all(np.isfinite(scores)):
        raise ValueError("every impostor score must be a finite number")
    allowed = math.floor(target * n + 1e-9)  # the most false matches the target permits
    values, first = np.unique(scores, return_index=True)
    at_or_above = n - first  # impostor scores >= each distinct value
    ok = np.nonzero(at_or_above <= allowed)[0]
    if len(ok):
        i = int(ok[0])
        threshold, false_matches = float(values[i]), int(at_or_above[i])
    else:  # even the highest impostor score is too many: go just above it
        i = len(values)
        threshold, false_matches = float(np.nextafter(scores[-1], np.inf)), 0
    note = None
    if i > 0:
        # the next lower distinct score: accepting it would exceed the target (by the choice
        # above); if it is a tie and part of it would have fitted, say so
        tie = int(at_or_above[i - 1]) - false_matches
        if tie > 1 and false_matches < allowed:
            note = (
                f"{tie} impostor scores tie at {float(values[i - 1])!r}; accepting them all "
                f"would exceed the target and ties are not split, so the threshold lies above "
                f"the tie and the achieved FMR ({false_matches}/{n}) is below the target"
            )
    reachable = allowed >= 1
    supported = n >= needed
    reason = None
    if not reachable:
        reason = (
            f"only {n} impostor scores: the smallest FMR they can show is 1/{n} = {1 / n:.3g}, "
            f"above the target {target:g}; the threshold is set above every impostor score "
            f"and the target is not demonstrated (at least {math.ceil(1 / target - 1e-9)} "
            f"impostors are needed to resolve it, {needed} to support it)"
        )
    elif not supported:
        reason = (
            f"{n} impostor scores cannot support FMR <= {target:g}: the rule of three needs "
            f"at least {needed}"
        )
    return ThresholdChoice(
        threshold, target, n, false_matches, false_matches / n, reachable, supported, reason, note
    )
