"""Demographic differentials in face recognition: the measures, as pure functions.

Every function here follows ``fairness-metrics.md`` (the project's definitions, after NIST's
face recognition vendor tests on demographic effects, NISTIR 8280, and the summary measures
proposed since); each docstring names the definition it implements. Nothing here reads or
writes files: the evaluation runner, the calibration and ``facegate fairness summarize`` feed
these functions and serialize their results.

Conventions:

* Scores are similarities: higher means more alike, and a comparison is *accepted* (a match)
  when ``score >= threshold``.
* A *group* is any label (sex, age band, skin tone, ethnicity or a combination), given as a
  string.
* Results are small frozen dataclasses with a ``to_dict()`` for JSON. A value that is not
  defined (a zero mean in Gini, a zero rate in IR, fewer than two groups, a group without
  trials) is a :class:`Measure` or :class:`Rate` whose ``value`` is ``None`` and whose
  ``reason`` says why: never ``nan``, never a made-up number.
* Bad inputs (a rate outside [0, 1], ``nan``, an unknown reference group, mismatched group
  lists) raise :class:`ValueError`: they are the caller's mistake, not a property of the data.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from statistics import NormalDist
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_CONFIDENCE",
    "RULE_OF_THREE",
    "Attempt",
    "BootstrapInterval",
    "CaptureRates",
    "Comparisons",
    "Differentials",
    "FmrMatrix",
    "GeneralizedRates",
    "Interval",
    "Measure",
    "Rate",
    "Search",
    "Summary",
    "Support",
    "ThresholdChoice",
    "beta_cdf",
    "beta_quantile",
    "bootstrap_rate",
    "bootstrap_replicates",
    "capture_failures",
    "data_support",
    "differentials",
    "fdr",
    "fmr_matrix",
    "fnir",
    "fpir",
    "garbe",
    "generalized_rates",
    "gini",
    "inequity_rate",
    "insufficient_groups",
    "jeffreys_interval",
    "max_geomean",
    "max_min",
    "per_group_fmr",
    "per_group_fnmr",
    "ratio_to_reference",
    "summary_measures",
    "threshold_at_fmr",
    "wilson_interval",
]

DEFAULT_ALPHA = 0.5
"""Weight of the FMR term in FDR, IR and GARBE (fairness-metrics.md, "Summary measures")."""

DEFAULT_CONFIDENCE = 0.95
"""Confidence level of intervals (fairness-metrics.md, "Uncertainty")."""

RULE_OF_THREE = 3.0
"""Zero errors in n trials bound the rate at about 3/n with 95% confidence
(-ln 0.05 = 2.996); fairness-metrics.md, "Uncertainty"."""


# --------------------------------------------------------------------------------------------
# Result types
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measure:
    """One summary number, or the reason it is undefined.

    Exactly one of ``value`` and ``reason`` is set. ``note`` carries a remark that does not make
    the value undefined (for example that rates were smoothed).
    """

    name: str
    value: float | None
    reason: str | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        if (self.value is None) == (self.reason is None):
            raise ValueError("a Measure has either a value or a reason, not both or neither")
        if self.value is not None:
            if not math.isfinite(self.value):
                raise ValueError(f"{self.name}: {self.value!r} is not a finite number")
            object.__setattr__(self, "value", float(self.value))

    @property
    def defined(self) -> bool:
        return self.value is not None

    @classmethod
    def of(cls, name: str, value: float, note: str | None = None) -> Measure:
        return cls(name, float(value), None, note)

    @classmethod
    def undefined(cls, name: str, reason: str) -> Measure:
        return cls(name, None, reason)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "defined": self.defined}


@dataclass(frozen=True)
class Rate:
    """An error rate as ``errors`` out of ``trials``; ``value`` is ``None`` without trials."""

    errors: int
    trials: int
    value: float | None = field(init=False)
    reason: str | None = field(init=False)

    def __post_init__(self) -> None:
        errors, trials = int(self.errors), int(self.trials)
        if trials < 0 or errors < 0 or errors > trials:
            raise ValueError(f"a rate needs 0 <= errors <= trials, got {errors} of {trials}")
        object.__setattr__(self, "errors", errors)
        object.__setattr__(self, "trials", trials)
        object.__setattr__(self, "value", errors / trials if trials else None)
        object.__setattr__(self, "reason", None if trials else "no trials")

    @property
    def defined(self) -> bool:
        return self.value is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ThresholdChoice:
    """A threshold chosen from pooled impostor scores at a target FMR (see
    :func:`threshold_at_fmr`).

    ``reachable`` is False when the data hold fewer than 1/target impostor scores: the
    smallest FMR they can show is 1/impostors, above the target, so the only threshold that
    meets the target lies above every impostor score and proves nothing. ``supported`` is
    False when they hold fewer than 3/target (the rule of three): the target cannot be claimed
    with 95% confidence even with zero false matches. ``reason`` explains either case; ``note``
    reports a tie that was not split.
    """

    threshold: float | None
    target_fmr: float
    impostors: int
    false_matches: int
    achieved_fmr: float | None
    reachable: bool
    supported: bool
    reason: str | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FmrMatrix:
    """Cross-group false match rates: ``rates[i][j]`` is FMR[groups[i]][groups[j]], over
    impostor pairs with one side in each group (symmetric; the diagonal is the same-group FMR).
    """

    groups: tuple[str, ...]
    rates: tuple[tuple[Rate, ...], ...]

    def rate(self, g: str, h: str) -> Rate:
        return self.rates[self.groups.index(g)][self.groups.index(h)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "groups": list(self.groups),
            "fmr": {
                g: {h: self.rates[i][j].to_dict() for j, h in enumerate(self.groups)}
                for i, g in enumerate(self.groups)
            },
        }


@dataclass(frozen=True)
class Interval:
    """A confidence interval for a rate ``k`` of ``n``; ``low``/``high`` are ``None`` (with a
    ``reason``) when there are no trials."""

    method: str
    confidence: float
    errors: int
    trials: int
    estimate: float | None
    low: float | None
    high: float | None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BootstrapInterval:
    """A percentile bootstrap interval for a rate, resampling subjects (see
    :func:`bootstrap_rate`)."""

    confidence: float
    replicates: int
    used: int
    subjects: int
    estimate: float | None
    low: float | None
    high: float | None
    reason: str | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Support:
    """Whether a group's trials can support a claim that its rate is at most ``target``.

    Rule of three (fairness-metrics.md, "Uncertainty"): zero errors in n trials bound the rate
    at about 3/n with 95% confidence, so a claim at ``target`` needs ``n >= 3 / target``
    trials (``needed``). ``bound_if_no_errors`` is 3/n, the best claim these trials allow.
    """

    target: float
    trials: int
    needed: int
    supported: bool
    bound_if_no_errors: float | None
    reason: str | None = None

    @property
    def insufficient(self) -> bool:
        return not self.supported

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "insufficient_data": self.insufficient}


@dataclass(frozen=True)
class CaptureRates:
    """Per-group failures before any comparison (fairness-metrics.md, "Detection and
    enrollment"): failure to detect, to acquire (FTA, which includes detection failures) and to
    enroll."""

    group: str
    ftd: Rate
    fta: Rate
    fte: Rate

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GeneralizedRates:
    """GFMR = FMR * (1 - FTA) and GFNMR = FTA + FNMR * (1 - FTA)."""

    gfmr: float
    gfnmr: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Differentials:
    """How one rate (FMR or FNMR) varies over groups."""

    max_min: Measure
    max_geomean: Measure
    gini: Measure

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k).to_dict() for k in ("max_min", "max_geomean", "gini")}


@dataclass(frozen=True)
class Summary:
    """The summary measures over groups for per-group FMR and FNMR (see
    :func:`summary_measures`)."""

    groups: tuple[str, ...]
    alpha: float
    fmr: Differentials
    fnmr: Differentials
    fdr: Measure
    ir: Measure
    garbe: Measure

    def to_dict(self) -> dict[str, Any]:
        """Flat, with the measure names the fairness gate's limits use (``fmr_max_geomean``,
        ``garbe``, ``fdr``, ...); each measure is a :meth:`Measure.to_dict`."""
        out: dict[str, Any] = {"groups": list(self.groups), "alpha": self.alpha}
        for prefix, d in (("fmr", self.fmr), ("fnmr", self.fnmr)):
            for key, m in d.to_dict().items():
                out[f"{prefix}_{key}"] = m
        out.update(fdr=self.fdr.to_dict(), ir=self.ir.to_dict(), garbe=self.garbe.to_dict())
        return out


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


def _array(values: Iterable[Any], dtype: Any = None) -> np.ndarray:
    if not isinstance(values, np.ndarray):
        values = list(values)
    arr = np.array(values, dtype=dtype)  # a copy: the caller's array stays theirs
    if dtype is str and arr.dtype.kind != "U":
        arr = arr.astype(str)
    if arr.ndim != 1:
        raise ValueError("expected a one-dimensional sequence")
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class Comparisons:
    """Comparison records of one model version (fairness-metrics.md, "Inputs").

    One entry per compared pair: the similarity ``scores``, whether the pair is ``mated`` (the
    same person), the subject ids of both sides and their group labels. A mated pair must have
    the same subject (hence the same group) on both sides; an impostor pair two different
    subjects. Any sequences may be given; they are stored as read-only numpy arrays (group
    labels as strings).
    """

    scores: np.ndarray
    mated: np.ndarray
    subject_a: np.ndarray
    subject_b: np.ndarray
    group_a: np.ndarray
    group_b: np.ndarray

    def __post_init__(self) -> None:
        scores = _array(self.scores, float)
        n = len(scores)
        mated = _array(self.mated, bool)
        subject_a = _array(self.subject_a)
        subject_b = _array(self.subject_b)
        group_a = _array(self.group_a, str)
        group_b = _array(self.group_b, str)
        for name, arr in (
            ("mated", mated),
            ("subject_a", subject_a),
            ("subject_b", subject_b),
            ("group_a", group_a),
            ("group_b", group_b),
        ):
            if len(arr) != n:
                raise ValueError(f"{name} has {len(arr)} entries, scores has {n}")
        if not np.all(np.isfinite(scores)):
            raise ValueError("every score must be a finite number")
        same_subject = subject_a == subject_b
        if np.any(mated & ~same_subject):
            raise ValueError("a mated pair must compare the same subject on both sides")
        if np.any(~mated & same_subject):
            raise ValueError("an impostor pair must compare two different subjects")
        if np.any(mated & (group_a != group_b)):
            raise ValueError("a subject has two different group labels in a mated pair")
        for name, arr in (
            ("scores", scores),
            ("mated", mated),
            ("subject_a", subject_a),
            ("subject_b", subject_b),
            ("group_a", group_a),
            ("group_b", group_b),
        ):
            object.__setattr__(self, name, arr)

    def __len__(self) -> int:
        return len(self.scores)

    @property
    def groups(self) -> tuple[str, ...]:
        """Every group label that occurs on either side, sorted."""
        return tuple(str(g) for g in np.union1d(self.group_a, self.group_b))


@dataclass(frozen=True)
class Search:
    """One identification (1:N) search, for FPIR and FNIR (fairness-metrics.md, item 4).

    ``group``: the searched person's group. ``enrolled``: whether that person has a mate in the
    gallery. ``scores``: the candidate list as returned, best first (non-increasing), however
    long the search made it. ``mate_rank``: the 1-based position of the mate in that list, or
    ``None`` if the mate is not in it (always ``None`` when not enrolled).
    """

    group: str
    enrolled: bool
    scores: tuple[float, ...] = ()
    mate_rank: int | None = None

    def __post_init__(self) -> None:
        scores = tuple(float(s) for s in self.scores)
        object.__setattr__(self, "scores", scores)
        if any(not math.isfinite(s) for s in scores):
            raise ValueError("candidate scores must be finite numbers")
        if any(a < b for a, b in pairwise(scores)):
            raise ValueError("candidate scores must be best first (non-increasing)")
        if self.mate_rank is not None:
            if not self.enrolled:
                raise ValueError("a search by someone not enrolled has no mate")
            if not 1 <= self.mate_rank <= len(scores):
                raise ValueError(f"mate_rank {self.mate_rank} is not a position in the list")


@dataclass(frozen=True)
class Attempt:
    """One capture of an annotated face, for failure to detect, acquire and enroll.

    ``detected``: a detection overlaps the annotated face with IoU >= 0.5. ``accepted``: the
    quality gate accepted it (only possible when detected). ``enrollment``: the capture was an
    enrollment attempt (counted for FTE) rather than a probe (counted for FTD and FTA).
    """

    group: str
    detected: bool
    accepted: bool
    enrollment: bool = False

    def __post_init__(self) -> None:
        if self.accepted and not self.detected:
            raise ValueError("a face that was not detected cannot pass the quality gate")


# --------------------------------------------------------------------------------------------
# Threshold and per-group rates
# --------------------------------------------------------------------------------------------


def _check_probability(name: str, value: float, *, open_interval: bool = False) -> float:
    value = float(value)
    ok = 0.0 < value < 1.0 if open_interval else 0.0 <= value <= 1.0
    if not (math.isfinite(value) and ok):
        bounds = "(0, 1)" if open_interval else "[0, 1]"
        raise ValueError(f"{name} must be in {bounds}, got {value!r}")
    return value


def _needed_trials(target: float) -> int:
    # round() first so that 3 / 1e-5 is 300000, not 300001 from a rounding error
    return math.ceil(round(RULE_OF_THREE / target, 6))


def threshold_at_fmr(impostor_scores: Iterable[float], target_fmr: float) -> ThresholdChoice:
    """The global threshold at a target false match rate (fairness-metrics.md, "Per-group
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
    target = _check_probability("target_fmr", target_fmr, open_interval=True)
    scores = np.sort(_array(impostor_scores, float))
    n = len(scores)
    needed = _needed_trials(target)
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


def per_group_fmr(comparisons: Comparisons, threshold: float) -> dict[str, Rate]:
    """FMR of each group at one global threshold (fairness-metrics.md, item 2).

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
    """FNMR of each group at one global threshold (fairness-metrics.md, item 3).

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
    """The full cross-group FMR matrix FMR[g][h] at one threshold (fairness-metrics.md, item 2).

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


# --------------------------------------------------------------------------------------------
# Identification
# --------------------------------------------------------------------------------------------


def fpir(searches: Iterable[Search], threshold: float) -> dict[str, Rate]:
    """False positive identification rate per group (fairness-metrics.md, item 4).

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
    """False negative identification rate per group (fairness-metrics.md, item 4).

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


# --------------------------------------------------------------------------------------------
# Detection, acquisition, enrollment
# --------------------------------------------------------------------------------------------


def capture_failures(attempts: Iterable[Attempt]) -> dict[str, CaptureRates]:
    """Failure to detect, to acquire and to enroll per group (fairness-metrics.md, "Detection
    and enrollment").

    Over the probe attempts of g (``enrollment=False``): FTD = not detected / attempts;
    FTA = not accepted (not detected, or refused by the quality gate) / attempts, so
    FTA >= FTD and FTA is what the generalized rates use. Over the enrollment attempts of g:
    FTE = not accepted / attempts.
    """
    counts: dict[str, list[int]] = {}
    for a in attempts:
        # [not detected, not accepted, probes, enrollment failures, enrollments]
        c = counts.setdefault(str(a.group), [0, 0, 0, 0, 0])
        if a.enrollment:
            c[4] += 1
            c[3] += not a.accepted
        else:
            c[2] += 1
            c[0] += not a.detected
            c[1] += not a.accepted
    return {
        g: CaptureRates(g, Rate(c[0], c[2]), Rate(c[1], c[2]), Rate(c[3], c[4]))
        for g, c in sorted(counts.items())
    }


def generalized_rates(fmr: float, fnmr: float, fta: float) -> GeneralizedRates:
    """Generalized rates (fairness-metrics.md, "Detection and enrollment"):
    GFMR = FMR * (1 - FTA) and GFNMR = FTA + FNMR * (1 - FTA).

    A quality gate that refuses a group's faces then shows up as false non-matches instead of
    passing for a low FNMR.
    """
    fmr = _check_probability("fmr", fmr)
    fnmr = _check_probability("fnmr", fnmr)
    fta = _check_probability("fta", fta)
    return GeneralizedRates(gfmr=fmr * (1.0 - fta), gfnmr=min(1.0, fta + fnmr * (1.0 - fta)))


# --------------------------------------------------------------------------------------------
# Differentials and summary measures
# --------------------------------------------------------------------------------------------

RateInput = Mapping[str, float | Rate] | Sequence[float | Rate]


def _values(
    rates: RateInput, name: str, *, unit: bool
) -> tuple[tuple[str, ...], list[float] | None, str | None]:
    """Labels and values of per-group rates; values is None (with a reason) when a group has
    a :class:`Rate` without trials."""
    if isinstance(rates, Mapping):
        items = [(str(k), v) for k, v in rates.items()]
    else:
        items = [(f"#{i + 1}", v) for i, v in enumerate(rates)]
    labels = tuple(k for k, _ in items)
    out: list[float] = []
    for label, v in items:
        if isinstance(v, Rate):
            if v.value is None:
                return labels, None, f"group {label} has no trials for {name}"
            v = v.value
        if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)):
            raise ValueError(f"{name} of group {label}: {v!r} is not a number")
        x = float(v)
        if not math.isfinite(x) or x < 0 or (unit and x > 1):
            bounds = "[0, 1]" if unit else "a finite number >= 0"
            raise ValueError(f"{name} of group {label} must be {bounds}, got {v!r}")
        out.append(x)
    return labels, out, None


def _pair(fmr: RateInput, fnmr: RateInput) -> None:
    if isinstance(fmr, Mapping) != isinstance(fnmr, Mapping):
        raise ValueError("give FMR and FNMR both per group name or both as sequences")
    if isinstance(fmr, Mapping) and isinstance(fnmr, Mapping):
        if set(map(str, fmr)) != set(map(str, fnmr)):
            raise ValueError("FMR and FNMR must cover the same groups")
    elif len(fmr) != len(fnmr):
        raise ValueError("FMR and FNMR must cover the same groups")


def _ratio_measure(name: str, value: float, note: str | None = None) -> Measure:
    """A ratio, or undefined if it is too large for a float (a vanishingly small rate)."""
    if not math.isfinite(value):
        return Measure.undefined(name, "too large to represent: a rate is vanishingly small")
    return Measure.of(name, value, note)


def _check_alpha(alpha: float) -> float:
    alpha = float(alpha)
    if not (math.isfinite(alpha) and 0.0 <= alpha <= 1.0):
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    return alpha


def ratio_to_reference(rates: Mapping[str, float | Rate], reference: str) -> dict[str, Measure]:
    """Each group's rate divided by the reference group's (fairness-metrics.md,
    "Differentials": r_g / r_ref). All undefined if the reference rate is zero."""
    if reference not in rates:
        raise ValueError(f"reference group {reference!r} is not among the groups")
    labels, values, reason = _values(rates, "rate", unit=False)
    name = f"ratio to {reference}"
    if values is None:
        return {g: Measure.undefined(name, reason or "") for g in labels}
    ref = values[labels.index(reference)]
    if ref == 0:
        why = f"the reference group {reference} has a rate of zero"
        return {g: Measure.undefined(name, why) for g in labels}
    return {g: _ratio_measure(name, v / ref) for g, v in zip(labels, values, strict=True)}


def max_min(rates: RateInput) -> Measure:
    """max r / min r over groups (fairness-metrics.md, "Differentials"). 1 is parity;
    undefined with fewer than two groups or when the smallest rate is zero."""
    labels, values, reason = _values(rates, "rate", unit=False)
    name = "max/min"
    if values is None:
        return Measure.undefined(name, reason or "")
    if len(values) < 2:
        return Measure.undefined(name, "fewer than two groups")
    lo = min(values)
    if lo == 0:
        return Measure.undefined(name, f"group {labels[values.index(lo)]} has a rate of zero")
    return _ratio_measure(name, max(values) / lo)


def max_geomean(rates: RateInput) -> Measure:
    """Max/GeoMean, NIST's preferred summary (fairness-metrics.md, "Differentials"):
    max r / (r_1 * ... * r_n)^(1/n). 1 is parity; undefined with fewer than two groups or when
    any rate is zero (the geometric mean is then zero)."""
    labels, values, reason = _values(rates, "rate", unit=False)
    name = "Max/GeoMean"
    if values is None:
        return Measure.undefined(name, reason or "")
    if len(values) < 2:
        return Measure.undefined(name, "fewer than two groups")
    zeros = [g for g, v in zip(labels, values, strict=True) if v == 0]
    if zeros:
        have = "has" if len(zeros) == 1 else "have"
        return Measure.undefined(name, f"group {', '.join(zeros)} {have} a rate of zero")
    logs = [math.log(v) for v in values]
    exponent = max(logs) - math.fsum(logs) / len(logs)
    value = math.exp(exponent) if exponent < 709 else math.inf
    return _ratio_measure(name, max(value, 1.0))  # >= 1 by definition; guards rounding


def gini(values: RateInput) -> Measure:
    """The Gini coefficient as used by GARBE (fairness-metrics.md, "Summary measures"):
    Gini(x) = (n / (n - 1)) * sum_i sum_j |x_i - x_j| / (2 * n^2 * mean(x)).

    0 when all values are equal, 1 when one group has everything. Undefined with fewer than
    two groups (n - 1 = 0) or when the mean is zero.
    """
    _, xs, reason = _values(values, "value", unit=False)
    name = "Gini"
    if xs is None:
        return Measure.undefined(name, reason or "")
    n = len(xs)
    if n < 2:
        return Measure.undefined(name, "fewer than two groups")
    if max(xs) == 0:  # values are >= 0, so the mean is zero exactly when all are
        return Measure.undefined(name, "the mean is zero (every rate is zero)")
    # Gini does not change when every value is scaled, so divide by the largest first
    # (keeps vanishingly small rates away from underflow); then
    # sum_i sum_j |x_i - x_j| = 2 * sum_k (2k - n - 1) x_(k) over the sorted values
    top = max(xs)
    s = sorted(x / top for x in xs)
    mean = math.fsum(s) / n
    pair_sum = 2.0 * math.fsum((2 * k - n - 1) * x for k, x in enumerate(s, start=1))
    value = (n / (n - 1)) * pair_sum / (2.0 * n * n * mean)
    return Measure.of(name, min(max(value, 0.0), 1.0))


def fdr(fmr: RateInput, fnmr: RateInput, alpha: float = DEFAULT_ALPHA) -> Measure:
    """Fairness discrepancy rate (de Freitas Pereira and Marcel, 2021; fairness-metrics.md,
    "Summary measures"): A = max over pairs |f_i - f_j|, B = max over pairs |m_i - m_j|,
    FDR = 1 - (alpha * A + (1 - alpha) * B). 1 is fair, 0 maximally unfair; FMRs are tiny, so
    FDR is dominated by the FNMR term. Undefined with fewer than two groups.
    """
    alpha = _check_alpha(alpha)
    _pair(fmr, fnmr)
    _, f, rf = _values(fmr, "FMR", unit=True)
    _, m, rm = _values(fnmr, "FNMR", unit=True)
    name = "FDR"
    if f is None or m is None:
        return Measure.undefined(name, rf or rm or "")
    if len(f) < 2:
        return Measure.undefined(name, "fewer than two groups")
    a = max(f) - min(f)
    b = max(m) - min(m)
    return Measure.of(name, min(max(1.0 - (alpha * a + (1.0 - alpha) * b), 0.0), 1.0))


def _smoothed(rates: RateInput) -> RateInput:
    def smooth(v: float | Rate) -> float:
        if not isinstance(v, Rate):
            raise ValueError("smoothing needs error counts: give Rate values, not plain rates")
        return (v.errors + 0.5) / (v.trials + 1)

    if isinstance(rates, Mapping):
        return {k: smooth(v) for k, v in rates.items()}
    return [smooth(v) for v in rates]


def inequity_rate(
    fmr: RateInput, fnmr: RateInput, alpha: float = DEFAULT_ALPHA, *, smooth: bool = False
) -> Measure:
    """Inequity rate (fairness-metrics.md, "Summary measures"):
    IR = (max f / min f)^alpha * (max m / min m)^(1 - alpha). 1 is fair; larger is less fair.

    Undefined when a rate is zero, unless ``smooth=True`` and the rates are :class:`Rate`
    counts, which replaces each k of n by (k + 0.5) / (n + 1) and says so in ``note``. A term
    whose weight is zero (alpha = 0 or 1) is left out, so IR with alpha = 1 is the FMR max/min
    alone. Undefined with fewer than two groups.
    """
    alpha = _check_alpha(alpha)
    _pair(fmr, fnmr)
    note = None
    if smooth:
        fmr, fnmr = _smoothed(fmr), _smoothed(fnmr)
        note = "rates smoothed as (errors + 0.5) / (trials + 1)"
    name = "IR"
    labels, _, _ = _values(fmr, "FMR", unit=True)
    _values(fnmr, "FNMR", unit=True)
    if len(labels) < 2:
        return Measure.undefined(name, "fewer than two groups")
    value = 1.0
    for rates, weight, label in ((fmr, alpha, "FMR"), (fnmr, 1.0 - alpha, "FNMR")):
        if weight == 0:
            continue
        ratio = max_min(rates)
        if ratio.value is None:
            return Measure.undefined(name, f"{label}: {ratio.reason}")
        value *= ratio.value**weight
    return _ratio_measure(name, value, note)


def garbe(fmr: RateInput, fnmr: RateInput, alpha: float = DEFAULT_ALPHA) -> Measure:
    """Gini aggregation rate for biometric equitability (Howard et al., 2022;
    fairness-metrics.md, "Summary measures"): GARBE = alpha * Gini(f) + (1 - alpha) * Gini(m).
    0 is equitable, 1 maximally inequitable. Undefined when a Gini with non-zero weight is
    undefined (a zero mean, fewer than two groups); a term whose weight is zero is left out.
    """
    alpha = _check_alpha(alpha)
    _pair(fmr, fnmr)
    labels, _, _ = _values(fmr, "FMR", unit=True)
    _values(fnmr, "FNMR", unit=True)
    name = "GARBE"
    if len(labels) < 2:
        return Measure.undefined(name, "fewer than two groups")
    value = 0.0
    for rates, weight, label in ((fmr, alpha, "FMR"), (fnmr, 1.0 - alpha, "FNMR")):
        if weight == 0:
            continue
        g = gini(rates)
        if g.value is None:
            return Measure.undefined(name, f"Gini of {label}: {g.reason}")
        value += weight * g.value
    return Measure.of(name, min(max(value, 0.0), 1.0))


def differentials(rates: RateInput) -> Differentials:
    """Max/min, Max/GeoMean and Gini of one rate over groups."""
    return Differentials(max_min(rates), max_geomean(rates), gini(rates))


def summary_measures(
    fmr: Mapping[str, float | Rate], fnmr: Mapping[str, float | Rate], alpha: float = DEFAULT_ALPHA
) -> Summary:
    """Every summary measure of fairness-metrics.md for per-group FMR and FNMR: max/min,
    Max/GeoMean and Gini of each, then FDR, IR and GARBE with ``alpha``."""
    alpha = _check_alpha(alpha)
    _pair(fmr, fnmr)
    _values(fmr, "FMR", unit=True)
    _values(fnmr, "FNMR", unit=True)
    return Summary(
        groups=tuple(str(g) for g in fmr),
        alpha=alpha,
        fmr=differentials(fmr),
        fnmr=differentials(fnmr),
        fdr=fdr(fmr, fnmr, alpha),
        ir=inequity_rate(fmr, fnmr, alpha),
        garbe=garbe(fmr, fnmr, alpha),
    )


# --------------------------------------------------------------------------------------------
# Uncertainty
# --------------------------------------------------------------------------------------------


def _check_counts(k: int, n: int) -> tuple[int, int]:
    if isinstance(k, bool) or isinstance(n, bool) or int(k) != k or int(n) != n:
        raise ValueError("errors and trials must be whole numbers")
    k, n = int(k), int(n)
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= errors <= trials, got {k} of {n}")
    return k, n


def _z(confidence: float) -> float:
    confidence = _check_probability("confidence", confidence, open_interval=True)
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def wilson_interval(k: int, n: int, confidence: float = DEFAULT_CONFIDENCE) -> Interval:
    """Wilson score interval for k errors in n trials (fairness-metrics.md, "Uncertainty").

    Well behaved at the extremes: with k = 0 it runs from 0 to about z^2 / n. No interval
    without trials (``low``/``high`` are ``None`` with a reason).
    """
    k, n = _check_counts(k, n)
    z = _z(confidence)
    if n == 0:
        return Interval("wilson", confidence, 0, 0, None, None, None, "no trials")
    p = k / n
    z2 = z * z
    denom = 1.0 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = (z / denom) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    low = 0.0 if k == 0 else min(max(center - half, 0.0), p)
    high = 1.0 if k == n else max(min(center + half, 1.0), p)
    return Interval("wilson", confidence, k, n, p, low, high)


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    # Modified Lentz's method for the continued fraction of the incomplete beta function
    # (Press et al., Numerical Recipes, 3rd ed., section 6.4).
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    max_iter = 10_000 + int(20 * math.sqrt(max(a, b)))
    for m in range(1, max_iter):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            return h
    raise ArithmeticError(f"incomplete beta did not converge for a={a}, b={b}, x={x}")


def beta_cdf(x: float, a: float, b: float) -> float:
    """The regularized incomplete beta function I_x(a, b): the CDF of Beta(a, b) at x."""
    if a <= 0 or b <= 0:
        raise ValueError("Beta parameters must be positive")
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = a * math.log(x) + b * math.log1p(-x) - _log_beta(a, b)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, 1.0 - x) / b


def beta_quantile(p: float, a: float, b: float) -> float:
    """The p-quantile of Beta(a, b), by bisection on :func:`beta_cdf`.

    Bisection is slow but cannot diverge: the CDF is monotone on [0, 1]. It stops when the
    bracket is within a relative 1e-13 of its upper end (so tiny quantiles keep their
    precision) or after 400 halvings.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError("p must be in [0, 1]")
    if p == 0.0:
        return 0.0
    if p == 1.0:
        return 1.0
    lo, hi = 0.0, 1.0
    for _ in range(400):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if beta_cdf(mid, a, b) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-13 * hi:
            break
    return 0.5 * (lo + hi)


def jeffreys_interval(k: int, n: int, confidence: float = DEFAULT_CONFIDENCE) -> Interval:
    """Jeffreys interval for k errors in n trials (fairness-metrics.md, "Uncertainty"): the
    equal-tailed interval of the Beta(k + 1/2, n - k + 1/2) posterior, with the usual
    boundary rule (Brown, Cai and DasGupta, 2001): the lower end is 0 when k = 0 and the upper
    end 1 when k = n. No interval without trials.
    """
    k, n = _check_counts(k, n)
    confidence = _check_probability("confidence", confidence, open_interval=True)
    if n == 0:
        return Interval("jeffreys", confidence, 0, 0, None, None, None, "no trials")
    p = k / n
    tail = (1.0 - confidence) / 2.0
    a, b = k + 0.5, n - k + 0.5
    low = 0.0 if k == 0 else min(beta_quantile(tail, a, b), p)
    high = 1.0 if k == n else max(beta_quantile(1.0 - tail, a, b), p)
    return Interval("jeffreys", confidence, k, n, p, low, high)


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
    (fairness-metrics.md, "Uncertainty": bootstrap over subjects, not pairs, because pairs
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
    confidence = _check_probability("confidence", confidence, open_interval=True)
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


def data_support(trials: int | Rate, target: float) -> Support:
    """Whether ``trials`` can support a claim that a rate is at most ``target`` (rule of three,
    fairness-metrics.md, "Uncertainty"): it needs ``trials >= 3 / target``. Claiming
    FMR <= 1e-5 for a group needs about 300,000 impostor pairs inside it. When it cannot,
    ``supported`` is False and ``reason`` says what the trials do allow.
    """
    target = _check_probability("target", target, open_interval=True)
    n = trials.trials if isinstance(trials, Rate) else int(trials)
    if n < 0:
        raise ValueError("trials must be >= 0")
    needed = _needed_trials(target)
    bound = RULE_OF_THREE / n if n else None
    if n >= needed:
        return Support(target, n, needed, True, bound)
    if n == 0:
        reason = f"insufficient data: no trials; a claim at {target:g} needs {needed}"
    else:
        reason = (
            f"insufficient data: {n} trials; a claim at {target:g} needs {needed} "
            f"(rule of three); with no errors they bound the rate only at "
            f"{min(RULE_OF_THREE / n, 1.0):.3g}"
        )
    return Support(target, n, needed, False, bound, reason)


def insufficient_groups(rates: Mapping[str, Rate], target: float) -> dict[str, Support]:
    """:func:`data_support` for every group, keeping only the groups whose trials cannot support
    a claim at ``target``: the groups a report must flag."""
    checks = {g: data_support(r, target) for g, r in rates.items()}
    return {g: s for g, s in checks.items() if not s.supported}
