"""Uncertainty of a rate: Wilson and Jeffreys intervals, and the rule of three that says how
many trials a claim needs (docs/fairness-metrics.md, "Uncertainty")."""

from __future__ import annotations

import math
from collections.abc import Mapping
from statistics import NormalDist

from facegate.fairness.checks import check_counts, check_probability
from facegate.fairness.results import Interval, Rate, Support

__all__ = [
    "DEFAULT_CONFIDENCE",
    "RULE_OF_THREE",
    "beta_cdf",
    "beta_quantile",
    "data_support",
    "insufficient_groups",
    "jeffreys_interval",
    "needed_trials",
    "wilson_interval",
]

DEFAULT_CONFIDENCE = 0.95
"""Confidence level of intervals (docs/fairness-metrics.md, "Uncertainty")."""

RULE_OF_THREE = 3.0
"""Zero errors in n trials bound the rate at about 3/n with 95% confidence
(-ln 0.05 = 2.996); docs/fairness-metrics.md, "Uncertainty"."""


def needed_trials(target: float) -> int:
    """The trials a claim that a rate is at most ``target`` needs: 3 / target (rule of three)."""
    # round() first so that 3 / 1e-5 is 300000, not 300001 from a rounding error
    return math.ceil(round(RULE_OF_THREE / target, 6))


def _z(confidence: float) -> float:
    confidence = check_probability("confidence", confidence, open_interval=True)
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def wilson_interval(k: int, n: int, confidence: float = DEFAULT_CONFIDENCE) -> Interval:
    """Wilson score interval for k errors in n trials (docs/fairness-metrics.md, "Uncertainty").

    Well behaved at the extremes: with k = 0 it runs from 0 to about z^2 / n. No interval
    without trials (``low``/``high`` are ``None`` with a reason).
    """
    k, n = check_counts(k, n)
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
    """Jeffreys interval for k errors in n trials (docs/fairness-metrics.md, "Uncertainty"): the
    equal-tailed interval of the Beta(k + 1/2, n - k + 1/2) posterior, with the usual
    boundary rule (Brown, Cai and DasGupta, 2001): the lower end is 0 when k = 0 and the upper
    end 1 when k = n. No interval without trials.
    """
    k, n = check_counts(k, n)
    confidence = check_probability("confidence", confidence, open_interval=True)
    if n == 0:
        return Interval("jeffreys", confidence, 0, 0, None, None, None, "no trials")
    p = k / n
    tail = (1.0 - confidence) / 2.0
    a, b = k + 0.5, n - k + 0.5
    low = 0.0 if k == 0 else min(beta_quantile(tail, a, b), p)
    high = 1.0 if k == n else max(beta_quantile(1.0 - tail, a, b), p)
    return Interval("jeffreys", confidence, k, n, p, low, high)


def data_support(trials: int | Rate, target: float) -> Support:
    """Whether ``trials`` can support a claim that a rate is at most ``target`` (rule of three,
    docs/fairness-metrics.md, "Uncertainty"): it needs ``trials >= 3 / target``. Claiming
    FMR <= 1e-5 for a group needs about 300,000 impostor pairs inside it. When it cannot,
    ``supported`` is False and ``reason`` says what the trials do allow.
    """
    target = check_probability("target", target, open_interval=True)
    n = trials.trials if isinstance(trials, Rate) else int(trials)
    if n < 0:
        raise ValueError("trials must be >= 0")
    needed = needed_trials(target)
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
