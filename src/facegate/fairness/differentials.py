"""How a rate varies over groups: ratio to a reference, max/min, Max/GeoMean, Gini, and the
summary measures FDR, IR and GARBE (docs/fairness-metrics.md, "Differentials" and "Summary
measures").

Rates are given per group name (a mapping) or as a sequence, as plain numbers or as
:class:`~facegate.fairness.results.Rate` counts; a group whose Rate has no trials makes a
measure undefined, naming the group.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from facegate.fairness.checks import check_alpha
from facegate.fairness.results import Differentials, Measure, Rate, Summary

__all__ = [
    "DEFAULT_ALPHA",
    "RateInput",
    "differentials",
    "fdr",
    "garbe",
    "gini",
    "inequity_rate",
    "max_geomean",
    "max_min",
    "ratio_to_reference",
    "summary_measures",
]

DEFAULT_ALPHA = 0.5
"""Weight of the FMR term in FDR, IR and GARBE (docs/fairness-metrics.md, "Summary measures")."""

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


def ratio_to_reference(rates: Mapping[str, float | Rate], reference: str) -> dict[str, Measure]:
    """Each group's rate divided by the reference group's (docs/fairness-metrics.md,
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
    """max r / min r over groups (docs/fairness-metrics.md, "Differentials"). 1 is parity;
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
    """Max/GeoMean, NIST's preferred summary (docs/fairness-metrics.md, "Differentials"):
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
    """The Gini coefficient as used by GARBE (docs/fairness-metrics.md, "Summary measures"):
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
    """Fairness discrepancy rate (de Freitas Pereira and Marcel, 2021; docs/fairness-metrics.md,
    "Summary measures"): A = max over pairs |f_i - f_j|, B = max over pairs |m_i - m_j|,
    FDR = 1 - (alpha * A + (1 - alpha) * B). 1 is fair, 0 maximally unfair; FMRs are tiny, so
    FDR is dominated by the FNMR term. Undefined with fewer than two groups.
    """
    alpha = check_alpha(alpha)
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
    """Inequity rate (docs/fairness-metrics.md, "Summary measures"):
    IR = (max f / min f)^alpha * (max m / min m)^(1 - alpha). 1 is fair; larger is less fair.

    Undefined when a rate is zero, unless ``smooth=True`` and the rates are :class:`Rate`
    counts, which replaces each k of n by (k + 0.5) / (n + 1) and says so in ``note``. A term
    whose weight is zero (alpha = 0 or 1) is left out, so IR with alpha = 1 is the FMR max/min
    alone. Undefined with fewer than two groups.
    """
    alpha = check_alpha(alpha)
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
    docs/fairness-metrics.md, "Summary measures"): GARBE = alpha * Gini(f) + (1 - alpha) * Gini(m).
    0 is equitable, 1 maximally inequitable. Undefined when a Gini with non-zero weight is
    undefined (a zero mean, fewer than two groups); a term whose weight is zero is left out.
    """
    alpha = check_alpha(alpha)
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
    """Every summary measure of docs/fairness-metrics.md for per-group FMR and FNMR: max/min,
    Max/GeoMean and Gini of each, then FDR, IR and GARBE with ``alpha``."""
    alpha = check_alpha(alpha)
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
