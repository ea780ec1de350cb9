"""Demographic differentials in face recognition: the measures, as pure functions.

Every function follows ``docs/fairness-metrics.md`` (the project's definitions, after NIST's
face recognition vendor tests on demographic effects, NISTIR 8280, and the summary measures
proposed since); each docstring names the definition it implements. Nothing here reads or
writes files: the evaluation runner, the calibration and ``facegate fairness summarize`` feed
these functions and serialize their results.

This module is the one place callers import the measures from (``from facegate.fairness
import metrics as m``); each concern lives in its own module:

* :mod:`~facegate.fairness.results`: the result types (:class:`Measure`, :class:`Rate`, ...);
* :mod:`~facegate.fairness.inputs`: comparison records, searches, capture attempts;
* :mod:`~facegate.fairness.thresholds`: the global threshold at a target FMR;
* :mod:`~facegate.fairness.rates`: FMR, FNMR, the FMR matrix, FPIR and FNIR per group;
* :mod:`~facegate.fairness.capture`: failures to detect, acquire and enroll;
* :mod:`~facegate.fairness.differentials`: max/min, Max/GeoMean, Gini, FDR, IR, GARBE;
* :mod:`~facegate.fairness.intervals`: Wilson and Jeffreys intervals, the rule of three;
* :mod:`~facegate.fairness.bootstrap`: bootstrap intervals over subjects.

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

from facegate.fairness.bootstrap import bootstrap_rate, bootstrap_replicates
from facegate.fairness.capture import capture_failures, generalized_rates
from facegate.fairness.differentials import (
    DEFAULT_ALPHA,
    differentials,
    fdr,
    garbe,
    gini,
    inequity_rate,
    max_geomean,
    max_min,
    ratio_to_reference,
    summary_measures,
)
from facegate.fairness.inputs import Attempt, Comparisons, Search
from facegate.fairness.intervals import (
    DEFAULT_CONFIDENCE,
    RULE_OF_THREE,
    beta_cdf,
    beta_quantile,
    data_support,
    insufficient_groups,
    jeffreys_interval,
    wilson_interval,
)
from facegate.fairness.rates import fmr_matrix, fnir, fpir, per_group_fmr, per_group_fnmr
from facegate.fairness.results import (
    BootstrapInterval,
    CaptureRates,
    Differentials,
    FmrMatrix,
    GeneralizedRates,
    Interval,
    Measure,
    Rate,
    Summary,
    Support,
    ThresholdChoice,
)
from facegate.fairness.thresholds import threshold_at_fmr

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
