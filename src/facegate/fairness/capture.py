"""Failures before any comparison, per group, and the generalized rates that count them
(docs/fairness-metrics.md, "Detection and enrollment")."""

from __future__ import annotations

from collections.abc import Iterable

from facegate.fairness.checks import check_probability
from facegate.fairness.inputs import Attempt
from facegate.fairness.results import CaptureRates, GeneralizedRates, Rate

__all__ = ["capture_failures", "generalized_rates"]


def capture_failures(attempts: Iterable[Attempt]) -> dict[str, CaptureRates]:
    """Failure to detect, to acquire and to enroll per group (docs/fairness-metrics.md, "Detection
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
    """Generalized rates (docs/fairness-metrics.md, "Detection and enrollment"):
    GFMR = FMR * (1 - FTA) and GFNMR = FTA + FNMR * (1 - FTA).

    A quality gate that refuses a group's faces then shows up as false non-matches instead of
    passing for a low FNMR.
    """
    fmr = check_probability("fmr", fmr)
    fnmr = check_probability("fnmr", fnmr)
    fta = check_probability("fta", fta)
    return GeneralizedRates(gfmr=fmr * (1.0 - fta), gfnmr=min(1.0, fta + fnmr * (1.0 - fta)))
