"""How long human reviews took to decide: median and 90th percentile, in words."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from facegate.reports.suppression import SMALL, WITHHELD_MARK


def nearest_rank(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest value with at least ``fraction`` at or below."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def duration(seconds: float) -> str:
    """A duration for people: seconds, minutes or hours."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def review_timing(seconds: Sequence[float]) -> dict[str, Any]:
    """Median and 90th percentile of time to decision; withheld below SMALL decided reviews."""
    out: dict[str, Any] = {
        "of": "reviews opened in the period and decided (confirmed or rejected) by a reviewer",
        "minimum_decided_reviews": SMALL,
    }
    if len(seconds) < SMALL:
        return {
            **out,
            "suppressed": True,
            "median_seconds": None,
            "p90_seconds": None,
            "median": WITHHELD_MARK,
            "p90": WITHHELD_MARK,
        }
    median, p90 = round(statistics.median(seconds), 1), round(nearest_rank(seconds, 0.9), 1)
    return {
        **out,
        "suppressed": False,
        "median_seconds": median,
        "p90_seconds": p90,
        "median": duration(median),
        "p90": duration(p90),
    }
