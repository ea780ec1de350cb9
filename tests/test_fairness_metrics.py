"""The fairness measures (fairness-metrics.md): test vectors, properties, undefined values,
thresholds, identification, capture failures, uncertainty, and ``facegate fairness summarize``.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facegate.fairness.metrics import (
    Attempt,
    Comparisons,
    Measure,
    Rate,
    Search,
    beta_cdf,
    beta_quantile,
    bootstrap_rate,
    bootstrap_replicates,
    capture_failures,
    data_support,
    fdr,
    fmr_matrix,
    fnir,
    fpir,
    garbe,
    generalized_rates,
    gini,
    inequity_rate,
    insufficient_groups,
    jeffreys_interval,
    max_geomean,
    max_min,
    per_group_fmr,
    per_group_fnmr,
    ratio_to_reference,
    summary_measures,
    threshold_at_fmr,
    wilson_interval,
)
from facegate.fairness.summarize import add_parser, run
from facegate.fairness.summarize import main as summarize_main

# Deterministic hypothesis: the same examples on every run, no example database on disk.
DETERMINISTIC = settings(derandomize=True, database=None, deadline=None, max_examples=150)

TOL = 1e-5

rate = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
positive_rate = st.floats(min_value=1e-9, max_value=1.0, allow_nan=False)


def close(measure: Measure, expected: float, tol: float = TOL) -> bool:
    return measure.value is not None and abs(measure.value - expected) <= tol


# --------------------------------------------------------------------------------------------
# Test vectors of fairness-metrics.md, exact to 1e-5
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [([0, 0, 0, 1], 1.0), ([1, 1, 1, 1], 0.0), ([1, 2, 3, 4], 0.333333)],
)
def test_gini_vectors(values, expected):
    assert close(gini(values), expected)


F = [1e-4, 1e-3]
M = [0.01, 0.05]


def test_two_group_vector():
    assert close(fdr(F, M, 0.5), 0.97955)
    assert close(inequity_rate(F, M, 0.5), 7.07107)
    assert close(gini(F), 0.818182)
    assert close(gini(M), 0.666667)
    assert close(garbe(F, M, 0.5), 0.742424)
    assert close(max_geomean(F), 3.16228)
    assert close(max_geomean(M), 2.23607)


def test_two_group_vector_defaults_and_summary():
    # alpha defaults to 0.5; the same numbers through the summary and by group name
    assert close(fdr(F, M), 0.97955)
    assert close(garbe(F, M), 0.742424)
    s = summary_measures({"a": F[0], "b": F[1]}, {"a": M[0], "b": M[1]})
    assert s.groups == ("a", "b") and s.alpha == 0.5
    assert close(s.fdr, 0.97955) and close(s.ir, 7.07107) and close(s.garbe, 0.742424)
    assert close(s.fmr.gini, 0.818182) and close(s.fnmr.gini, 0.666667)
    assert close(s.fmr.max_geomean, 3.16228) and close(s.fnmr.max_geomean, 2.23607)
    assert close(s.fmr.max_min, 10.0) and close(s.fnmr.max_min, 5.0)
    flat = json.loads(json.dumps(s.to_dict()))  # serializable, with the gate's names
    assert flat["fmr_max_geomean"]["value"] == pytest.approx(3.16228, abs=TOL)
    assert flat["garbe"]["value"] == pytest.approx(0.742424, abs=TOL)
    assert {"fnmr_max_min", "fmr_gini", "fdr", "ir", "alpha", "groups"} <= set(flat)


def test_alpha_weights():
    # alpha = 1: only FMR counts; alpha = 0: only FNMR
    assert close(fdr(F, M, 1.0), 1 - 9e-4)
    assert close(fdr(F, M, 0.0), 1 - 0.04)
    assert close(inequity_rate(F, M, 1.0), 10.0)
    assert close(inequity_rate(F, M, 0.0), 5.0)
    assert close(garbe(F, M, 1.0), 0.818182)
    assert close(garbe(F, M, 0.0), 0.666667)


def test_ratio_to_reference():
    r = ratio_to_reference({"ref": 1e-4, "x": 1e-3, "y": 5e-5}, "ref")
    assert close(r["ref"], 1.0) and close(r["x"], 10.0) and close(r["y"], 0.5)
    zero = ratio_to_reference({"ref": 0.0, "x": 1e-3}, "ref")
    assert all(not m.defined and "reference" in (m.reason or "") for m in zero.values())
    with pytest.raises(ValueError):
        ratio_to_reference({"x": 1e-3}, "ref")


# --------------------------------------------------------------------------------------------
# Undefined values: a reason, never a number
# --------------------------------------------------------------------------------------------


def assert_undefined(m: Measure, words: str) -> None:
    assert m.value is None and not m.defined
    assert m.reason and words in m.reason
    d = m.to_dict()
    assert d["value"] is None and d["defined"] is False
    assert "NaN" not in json.dumps(d)


def test_undefined_values():
    assert_undefined(gini([0, 0, 0]), "mean is zero")
    assert_undefined(gini([0.3]), "fewer than two groups")
    assert_undefined(gini([]), "fewer than two groups")
    assert_undefined(max_geomean([0.0, 1e-3]), "rate of zero")
    assert_undefined(max_geomean([1e-3]), "fewer than two groups")
    assert_undefined(max_min([0.0, 1e-3]), "rate of zero")
    assert_undefined(inequity_rate([0.0, 1e-3], M), "FMR")
    assert_undefined(inequity_rate(F, [0.01, 0.0]), "FNMR")
    assert_undefined(inequity_rate([1e-3], [0.1]), "fewer than two groups")
    assert_undefined(garbe([0.0, 0.0], M), "mean is zero")
    assert_undefined(garbe([1e-3], [0.1]), "fewer than two groups")
    assert_undefined(fdr([1e-3], [0.1]), "fewer than two groups")
    # a group without trials makes the measure undefined, naming the group
    assert_undefined(max_geomean({"a": Rate(1, 10), "b": Rate(0, 0)}), "group b")
    # zero rates do not make FDR undefined
    assert close(fdr([0.0, 0.0], [0.0, 0.0]), 1.0)


def test_zero_weight_terms_are_left_out():
    # with alpha = 1 the FNMR terms do not matter, so their zeros do not make IR undefined
    assert close(inequity_rate(F, [0.0, 0.05], 1.0), 10.0)
    assert close(garbe(F, [0.0, 0.0], 1.0), 0.818182)
    assert_undefined(inequity_rate(F, [0.0, 0.05], 0.5), "FNMR")


def test_inequity_rate_smoothing_is_explicit():
    f = {"a": Rate(0, 1000), "b": Rate(3, 1000)}
    m = {"a": Rate(10, 100), "b": Rate(20, 100)}
    assert not inequity_rate(f, m).defined
    smoothed = inequity_rate(f, m, smooth=True)
    expected = ((3.5 / 1001) / (0.5 / 1001)) ** 0.5 * ((20.5 / 101) / (10.5 / 101)) ** 0.5
    assert close(smoothed, expected)
    assert smoothed.note and "smoothed" in smoothed.note
    with pytest.raises(ValueError, match="counts"):
        inequity_rate([0.0, 0.1], [0.1, 0.2], smooth=True)


def test_measure_refuses_nan_and_inf():
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError):
            Measure.of("x", bad)
    with pytest.raises(ValueError):
        Measure("x", None, None)
    with pytest.raises(ValueError):
        Measure("x", 1.0, "both")


@pytest.mark.parametrize(
    "call",
    [
        lambda: fdr([0.1, 1.5], [0.1, 0.2]),
        lambda: fdr([0.1, -0.1], [0.1, 0.2]),
        lambda: fdr([0.1, float("nan")], [0.1, 0.2]),
        lambda: garbe([0.1, 0.2], [0.1]),
        lambda: garbe({"a": 0.1, "b": 0.2}, {"a": 0.1, "c": 0.2}),
        lambda: fdr([0.1, 0.2], [0.1, 0.2], alpha=1.5),
        lambda: inequity_rate([0.1, 0.2], [0.1, "x"]),
        lambda: gini([1.0, -1.0]),
    ],
)
def test_bad_inputs_raise(call):
    with pytest.raises(ValueError):
        call()


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------


@DETERMINISTIC
@given(st.lists(rate, min_size=2, max_size=8), st.data())
def test_summary_measures_ranges(fmr, data):
    fnmr = data.draw(st.lists(rate, min_size=len(fmr), max_size=len(fmr)))
    alpha = data.draw(rate)
    d = fdr(fmr, fnmr, alpha)
    assert d.value is not None and 0.0 <= d.value <= 1.0
    for g in (gini(fmr), gini(fnmr), garbe(fmr, fnmr, alpha)):
        assert g.value is None or 0.0 <= g.value <= 1.0 + 1e-12
    for r in (max_min(fmr), max_geomean(fmr), inequity_rate(fmr, fnmr, alpha)):
        assert r.value is None or r.value >= 1.0 - 1e-12
    mg, mm = max_geomean(fmr), max_min(fmr)
    if mg.value is not None and mm.value is not None:
        assert mg.value <= mm.value * (1 + 1e-9)


@DETERMINISTIC
@given(st.floats(min_value=1e-9, max_value=1.0), st.integers(min_value=2, max_value=12))
def test_gini_zero_and_parity_for_equal_rates(value, n):
    assert close(gini([value] * n), 0.0, 1e-12)
    assert close(max_geomean([value] * n), 1.0, 1e-9)
    assert close(garbe([value] * n, [value] * n), 0.0, 1e-12)
    assert close(fdr([value] * n, [value] * n), 1.0, 1e-12)
    assert close(inequity_rate([value] * n, [value] * n), 1.0, 1e-9)


@DETERMINISTIC
@given(st.lists(positive_rate, min_size=2, max_size=8), st.data())
def test_invariant_to_group_order(fmr, data):
    fnmr = data.draw(st.lists(positive_rate, min_size=len(fmr), max_size=len(fmr)))
    order = data.draw(st.permutations(range(len(fmr))))
    f2, m2 = [fmr[i] for i in order], [fnmr[i] for i in order]
    for before, after in (
        (gini(fmr), gini(f2)),
        (max_geomean(fmr), max_geomean(f2)),
        (max_min(fmr), max_min(f2)),
        (fdr(fmr, fnmr), fdr(f2, m2)),
        (inequity_rate(fmr, fnmr), inequity_rate(f2, m2)),
        (garbe(fmr, fnmr), garbe(f2, m2)),
    ):
        assert before.value is not None and after.value is not None
        assert math.isclose(before.value, after.value, rel_tol=1e-9, abs_tol=1e-12)


@DETERMINISTIC
@given(
    st.lists(positive_rate, min_size=2, max_size=8),
    st.floats(min_value=1e-3, max_value=1e3),
)
def test_gini_and_max_geomean_invariant_to_scaling(rates, c):
    scaled = [c * r for r in rates]
    for f in (gini, max_geomean):
        a, b = f(rates), f(scaled)
        assert a.value is not None and b.value is not None
        assert math.isclose(a.value, b.value, rel_tol=1e-7, abs_tol=1e-9)


@DETERMINISTIC
@given(st.integers(min_value=1, max_value=2_000_000), st.data())
def test_intervals_contain_the_estimate_and_lie_in_unit_interval(n, data):
    k = data.draw(st.integers(min_value=0, max_value=n))
    confidence = data.draw(st.sampled_from([0.8, 0.9, 0.95, 0.99]))
    for iv in (wilson_interval(k, n, confidence), jeffreys_interval(k, n, confidence)):
        assert iv.low is not None and iv.high is not None and iv.estimate == k / n
        assert 0.0 <= iv.low <= iv.estimate <= iv.high <= 1.0
        assert iv.high > iv.low


@DETERMINISTIC
@given(st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=60), st.data())
def test_threshold_meets_the_target_and_is_smallest(scores, data):
    target = data.draw(st.floats(min_value=1e-3, max_value=0.99))
    choice = threshold_at_fmr(scores, target)
    assert choice.threshold is not None and choice.achieved_fmr is not None
    n = len(scores)
    accepted = sum(s >= choice.threshold for s in scores)
    assert accepted == choice.false_matches and accepted / n <= target + 1e-12
    assert 0.0 <= choice.achieved_fmr <= 1.0
    # every lower impostor score as threshold would exceed the target
    lower = [s for s in scores if s < choice.threshold]
    if lower:
        assert sum(s >= max(lower) for s in scores) / n > target
    assert choice.reachable == (math.floor(target * n + 1e-9) >= 1)


@DETERMINISTIC
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5), rate), max_size=40), rate)
def test_per_group_rates_lie_in_unit_interval(pairs, threshold):
    group_of = {s: "AB"[s % 2] for s in range(6)}
    c = Comparisons(
        scores=[s for _, _, s in pairs],
        mated=[a == b for a, b, _ in pairs],
        subject_a=[a for a, _, _ in pairs],
        subject_b=[b for _, b, _ in pairs],
        group_a=[group_of[a] for a, _, _ in pairs],
        group_b=[group_of[b] for _, b, _ in pairs],
    )
    matrix = fmr_matrix(c, threshold)
    for rates in (per_group_fmr(c, threshold), per_group_fnmr(c, threshold)):
        for r in rates.values():
            assert r.value is None or 0.0 <= r.value <= 1.0
    for g, r in per_group_fmr(c, threshold).items():
        assert matrix.rate(g, g) == r
    for g in matrix.groups:
        for h in matrix.groups:
            assert matrix.rate(g, h) == matrix.rate(h, g)


# --------------------------------------------------------------------------------------------
# Threshold selection on a hand-made score set
# --------------------------------------------------------------------------------------------

TEN = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95]


def test_threshold_simple():
    choice = threshold_at_fmr(TEN, 0.2)
    assert choice.threshold == 0.9
    assert (choice.false_matches, choice.impostors, choice.achieved_fmr) == (2, 10, 0.2)
    assert choice.reachable and not choice.supported  # 10 < 3 / 0.2 = 15
    assert "15" in (choice.reason or "")
    assert choice.note is None
    assert threshold_at_fmr(TEN, 0.25).threshold == 0.9  # floor(2.5) = 2 false matches
    assert threshold_at_fmr(TEN, 0.3).threshold == 0.8
    assert threshold_at_fmr(TEN, 0.1).threshold == 0.95


def test_threshold_supported_with_enough_impostors():
    scores = [i / 30 for i in range(30)]
    choice = threshold_at_fmr(scores, 0.1)
    assert choice.supported and choice.reason is None
    assert choice.threshold == 27 / 30 and choice.false_matches == 3


def test_threshold_ties_are_not_split():
    scores = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.9]
    choice = threshold_at_fmr(scores, 0.1)  # one false match allowed, two tie at the top
    assert choice.threshold is not None and choice.threshold > 0.9
    assert choice.false_matches == 0 and choice.achieved_fmr == 0.0
    assert choice.reachable
    assert choice.note and "tie" in choice.note
    # a tie below the top: two allowed, one at 0.95, a tie of two at 0.9
    choice = threshold_at_fmr([0.1, 0.2, 0.9, 0.9, 0.95, 0.3, 0.4, 0.5, 0.6, 0.7], 0.2)
    assert choice.threshold == 0.95 and choice.false_matches == 1
    assert choice.note and "2 impostor scores tie" in choice.note
    # a tie that fits entirely is accepted, with no note
    choice = threshold_at_fmr(scores, 0.2)
    assert choice.threshold == 0.9 and choice.false_matches == 2 and choice.note is None


def test_threshold_unreachable_target_is_flagged():
    choice = threshold_at_fmr([0.2, 0.5, 0.4], 0.01)
    assert choice.threshold is not None and choice.threshold > 0.5
    assert choice.threshold == float(np.nextafter(0.5, 1.0))
    assert not choice.reachable and not choice.supported
    assert choice.achieved_fmr == 0.0
    assert choice.reason and "only 3 impostor scores" in choice.reason
    assert "100" in choice.reason and "300" in choice.reason


def test_threshold_without_impostors_and_bad_targets():
    choice = threshold_at_fmr([], 1e-4)
    assert choice.threshold is None and choice.reason and not choice.reachable
    json.dumps(choice.to_dict())
    for bad in (0.0, 1.0, -0.1, float("nan")):
        with pytest.raises(ValueError):
            threshold_at_fmr(TEN, bad)
    with pytest.raises(ValueError):
        threshold_at_fmr([0.1, float("nan")], 0.1)


# --------------------------------------------------------------------------------------------
# Per-group rates and the cross-group matrix on hand-made comparisons
# --------------------------------------------------------------------------------------------

GROUP = {"a1": "A", "a2": "A", "a3": "A", "b1": "B", "b2": "B"}
PAIRS = [
    # impostors
    ("a1", "a2", 0.7),
    ("a1", "a3", 0.2),
    ("a2", "a3", 0.4),
    ("b1", "b2", 0.9),
    ("a1", "b1", 0.1),
    ("b2", "a2", 0.6),
    ("a3", "b1", 0.3),
    # mated
    ("a1", "a1", 0.8),
    ("a2", "a2", 0.4),
    ("b1", "b1", 0.95),
    ("b2", "b2", 0.5),
    ("b2", "b2", 0.3),
]


def comparisons(pairs=PAIRS) -> Comparisons:
    return Comparisons(
        scores=[s for _, _, s in pairs],
        mated=[a == b for a, b, _ in pairs],
        subject_a=[a for a, _, _ in pairs],
        subject_b=[b for _, b, _ in pairs],
        group_a=[GROUP[a] for a, _, _ in pairs],
        group_b=[GROUP[b] for _, b, _ in pairs],
    )


def test_per_group_fmr_fnmr_and_matrix():
    c = comparisons()
    assert c.groups == ("A", "B")
    fmr = per_group_fmr(c, 0.5)
    assert (fmr["A"].errors, fmr["A"].trials) == (1, 3)
    assert (fmr["B"].errors, fmr["B"].trials) == (1, 1)
    fnmr = per_group_fnmr(c, 0.5)
    assert (fnmr["A"].errors, fnmr["A"].trials) == (1, 2)  # 0.4 < 0.5
    assert (fnmr["B"].errors, fnmr["B"].trials) == (1, 3)  # 0.3 < 0.5; 0.5 is accepted
    matrix = fmr_matrix(c, 0.5)
    assert matrix.rate("A", "A") == fmr["A"] and matrix.rate("B", "B") == fmr["B"]
    ab = matrix.rate("A", "B")
    assert (ab.errors, ab.trials) == (1, 3) and matrix.rate("B", "A") == ab
    d = matrix.to_dict()
    assert d["fmr"]["A"]["B"]["value"] == pytest.approx(1 / 3)
    json.dumps(d)


def test_group_without_same_group_impostors_has_no_rate():
    c = comparisons([("a1", "b1", 0.7), ("a1", "a1", 0.9)])
    fmr = per_group_fmr(c, 0.5)
    assert fmr["A"].value is None and fmr["A"].reason == "no trials"
    assert fmr["B"].value is None
    assert per_group_fnmr(c, 0.5)["A"].value == 0.0


def test_comparisons_are_validated():
    with pytest.raises(ValueError, match="same subject"):
        Comparisons([0.5], [True], ["a1"], ["a2"], ["A"], ["A"])
    with pytest.raises(ValueError, match="different subjects"):
        Comparisons([0.5], [False], ["a1"], ["a1"], ["A"], ["A"])
    with pytest.raises(ValueError, match="entries"):
        Comparisons([0.5, 0.6], [False], ["a1"], ["a2"], ["A"], ["A"])
    with pytest.raises(ValueError, match="finite"):
        Comparisons([float("nan")], [False], ["a1"], ["a2"], ["A"], ["A"])


# --------------------------------------------------------------------------------------------
# Identification, capture failures, generalized rates
# --------------------------------------------------------------------------------------------


def test_fpir_and_fnir_hand_computed():
    searches = [
        # group A, not enrolled: 1 of 3 returns a candidate at or above 0.6
        Search("A", enrolled=False, scores=(0.7, 0.3)),
        Search("A", enrolled=False, scores=(0.5,)),
        Search("A", enrolled=False, scores=()),
        # group A, enrolled
        Search("A", enrolled=True, scores=(0.9, 0.5), mate_rank=1),  # found at rank 1
        Search("A", enrolled=True, scores=(0.8, 0.7), mate_rank=2),  # rank 2
        Search("A", enrolled=True, scores=(0.9, 0.55), mate_rank=2),  # rank 2, below 0.6
        Search("A", enrolled=True, scores=(0.9,), mate_rank=None),  # mate not returned
        # group B
        Search("B", enrolled=False, scores=(0.6,)),
        Search("B", enrolled=True, scores=(0.65,), mate_rank=1),
    ]
    p = fpir(searches, 0.6)
    assert (p["A"].errors, p["A"].trials) == (1, 3)
    assert (p["B"].errors, p["B"].trials) == (1, 1)
    r1 = fnir(searches, 0.6, rank=1)
    assert (r1["A"].errors, r1["A"].trials) == (3, 4)
    assert (r1["B"].errors, r1["B"].trials) == (0, 1)
    r2 = fnir(searches, 0.6, rank=2)
    assert (r2["A"].errors, r2["A"].trials) == (2, 4)
    with pytest.raises(ValueError):
        fnir(searches, 0.6, rank=0)


def test_search_is_validated():
    with pytest.raises(ValueError, match="best first"):
        Search("A", enrolled=True, scores=(0.1, 0.9), mate_rank=1)
    with pytest.raises(ValueError, match="no mate"):
        Search("A", enrolled=False, scores=(0.9,), mate_rank=1)
    with pytest.raises(ValueError, match="position"):
        Search("A", enrolled=True, scores=(0.9,), mate_rank=2)


def test_capture_failures_and_generalized_rates():
    attempts = (
        [Attempt("A", detected=True, accepted=True)] * 7
        + [Attempt("A", detected=True, accepted=False)] * 2
        + [Attempt("A", detected=False, accepted=False)]
        + [Attempt("A", detected=True, accepted=True, enrollment=True)] * 3
        + [Attempt("A", detected=True, accepted=False, enrollment=True)]
        + [Attempt("B", detected=True, accepted=True)] * 4
    )
    rates = capture_failures(attempts)
    a, b = rates["A"], rates["B"]
    assert (a.ftd.errors, a.ftd.trials) == (1, 10)
    assert (a.fta.errors, a.fta.trials) == (3, 10)  # not detected or refused
    assert (a.fte.errors, a.fte.trials) == (1, 4)
    assert b.fta.value == 0.0 and b.fte.value is None
    json.dumps(a.to_dict())
    g = generalized_rates(fmr=1e-3, fnmr=0.1, fta=0.2)
    assert g.gfmr == pytest.approx(8e-4, abs=1e-12)
    assert g.gfnmr == pytest.approx(0.28, abs=1e-12)
    g = generalized_rates(fmr=1e-3, fnmr=0.1, fta=0.0)
    assert (g.gfmr, g.gfnmr) == (1e-3, 0.1)
    assert generalized_rates(fmr=0.5, fnmr=0.5, fta=1.0).gfnmr == 1.0
    with pytest.raises(ValueError):
        generalized_rates(fmr=0.1, fnmr=0.1, fta=1.2)
    with pytest.raises(ValueError):
        Attempt("A", detected=False, accepted=True)


# --------------------------------------------------------------------------------------------
# Uncertainty
# --------------------------------------------------------------------------------------------


def test_wilson_known_values():
    iv = wilson_interval(0, 100)
    assert iv.low == 0.0 and iv.high == pytest.approx(0.0369935, abs=1e-6)
    iv = wilson_interval(5, 10)
    assert (iv.low, iv.high) == (pytest.approx(0.236593, abs=1e-5), pytest.approx(0.763407, 1e-5))
    assert wilson_interval(10, 10).high == 1.0
    assert wilson_interval(0, 0).low is None and wilson_interval(0, 0).reason == "no trials"
    with pytest.raises(ValueError):
        wilson_interval(3, 2)
    with pytest.raises(ValueError):
        wilson_interval(1, 2, confidence=1.0)


@pytest.mark.parametrize(("p", "a", "b"), [(0.3, 0.5, 0.5), (0.975, 0.5, 0.5), (0.025, 0.5, 0.5)])
def test_beta_quantile_arcsine(p, a, b):
    # Beta(1/2, 1/2) is the arcsine distribution: quantile sin^2(pi p / 2)
    assert beta_quantile(p, a, b) == pytest.approx(math.sin(math.pi * p / 2) ** 2, abs=1e-12)


@pytest.mark.parametrize(("a", "b"), [(1.0, 7.5), (1.0, 2000.5), (3.5, 1.0)])
def test_beta_quantile_closed_forms(a, b):
    for p in (0.025, 0.5, 0.975):
        expected = 1 - (1 - p) ** (1 / b) if a == 1 else p ** (1 / a)
        assert beta_quantile(p, a, b) == pytest.approx(expected, rel=1e-9)


def test_beta_cdf_against_numerical_integration():
    a, b = 3.5, 97.5
    x = np.linspace(0.0, 1.0, 400_001)
    log_pdf = (
        (a - 1) * np.log(np.clip(x, 1e-300, None))
        + (b - 1) * np.log(np.clip(1 - x, 1e-300, None))
        - (math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b))
    )
    pdf = np.exp(log_pdf)
    cdf = np.concatenate([[0.0], np.cumsum((pdf[1:] + pdf[:-1]) / 2 * np.diff(x))])
    for q in (0.01, 0.03, 0.08):
        assert beta_cdf(q, a, b) == pytest.approx(np.interp(q, x, cdf), abs=1e-7)
    assert beta_cdf(0.3, 2.0, 5.0) == pytest.approx(1 - beta_cdf(0.7, 5.0, 2.0), abs=1e-14)


def test_jeffreys_known_values():
    iv = jeffreys_interval(3, 100)
    # equal-tailed Beta(3.5, 97.5) quantiles (agree with the numerical integration above)
    assert iv.low == pytest.approx(0.0085203, abs=1e-6)
    assert iv.high == pytest.approx(0.0778876, abs=1e-6)
    zero = jeffreys_interval(0, 100)
    assert zero.low == 0.0 and zero.high == pytest.approx(beta_quantile(0.975, 0.5, 100.5))
    half = jeffreys_interval(50, 100)
    assert half.low == pytest.approx(1 - half.high, abs=1e-10)  # symmetric around 0.5
    assert jeffreys_interval(0, 0).high is None


def test_rule_of_three_and_insufficient_data():
    s = data_support(300_000, 1e-5)
    assert s.supported and s.needed == 300_000 and s.reason is None
    s = data_support(299_999, 1e-5)
    assert s.insufficient and s.needed == 300_000
    assert s.reason and s.reason.startswith("insufficient data")
    assert data_support(Rate(0, 3000), 1e-3).supported
    assert data_support(Rate(0, 100), 1e-3).bound_if_no_errors == pytest.approx(0.03)
    assert not data_support(0, 1e-4).supported
    flagged = insufficient_groups({"a": Rate(0, 50_000), "b": Rate(2, 10)}, 1e-4)
    assert list(flagged) == ["b"]
    assert flagged["b"].to_dict()["insufficient_data"] is True
    with pytest.raises(ValueError):
        data_support(10, 0.0)


def test_bootstrap_is_reproducible_with_a_seed():
    rng = np.random.default_rng(0)
    subjects = [f"s{i}" for i in range(12)]
    a = [subjects[i] for i in rng.integers(0, 12, 200)]
    b = [subjects[(subjects.index(x) + 1 + i % 11) % 12] for i, x in enumerate(a)]
    errors = rng.random(200) < 0.1
    one = bootstrap_rate(errors, a, b, rng=7, replicates=300)
    two = bootstrap_rate(errors, a, b, rng=np.random.default_rng(7), replicates=300)
    assert one == two
    assert one.subjects == 12 and one.used == 300
    assert one.low is not None and one.high is not None
    assert one.low <= one.estimate <= one.high
    other = bootstrap_rate(errors, a, b, rng=8, replicates=300)
    assert (other.low, other.high) != (one.low, one.high)
    json.dumps(one.to_dict())


def test_bootstrap_resamples_subjects_not_pairs():
    # subject x's 10 mated pairs are all errors, subject y's none: resampling two subjects
    # can only give 0, 1/2 or 1 (resampling pairs would give many other values)
    errors = [True] * 10 + [False] * 10
    subj = ["x"] * 10 + ["y"] * 10
    reps = bootstrap_replicates(errors, subj, subj, rng=1, replicates=400)
    assert set(np.round(reps, 12)) == {0.0, 0.5, 1.0}


def test_bootstrap_weights_impostor_pairs_by_both_subjects():
    a = ["x", "x", "y"]
    b = ["y", "z", "z"]
    errors = [True, False, False]
    reps = bootstrap_replicates(errors, a, b, rng=3, replicates=50)
    # the same draws, by hand: pair (s, t) counts count(s) * count(t) times
    gen = np.random.default_rng(3)
    expected = []
    for _ in range(50):
        counts = np.bincount(gen.integers(0, 3, 3), minlength=3)  # x, y, z: sorted order
        cx, cy, cz = counts
        w = [cx * cy, cx * cz, cy * cz]
        if sum(w):
            expected.append(w[0] / sum(w))
    assert np.allclose(reps, expected)


def test_bootstrap_edge_cases():
    empty = bootstrap_rate([], [], [], rng=0)
    assert empty.low is None and empty.reason
    single = bootstrap_rate([True, False], ["x", "x"], ["x", "x"], rng=0, replicates=20)
    assert single.low == single.high == 0.5 and single.note


# --------------------------------------------------------------------------------------------
# facegate fairness summarize
# --------------------------------------------------------------------------------------------

GOOD = "group,fmr,fnmr\nA,1e-4,0.01\nB,1e-3,0.05\n"


def summarize(tmp_path: Path, text: str | None, *args: str) -> subprocess.CompletedProcess:
    path = tmp_path / "rates.csv"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "facegate.fairness.summarize", str(path), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_summarize_prints_the_measures(tmp_path):
    out = summarize(tmp_path, GOOD)
    assert out.returncode == 0, out.stderr
    for expected in ("0.97955", "7.07107", "0.742424", "3.16228", "2.23607", "0.818182"):
        assert expected in out.stdout
    assert "alpha = 0.5" in out.stdout


def test_summarize_json(tmp_path):
    out = summarize(tmp_path, GOOD, "--json", "--alpha", "0.5")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["alpha"] == 0.5 and data["groups"] == ["A", "B"]
    assert data["fdr"]["value"] == pytest.approx(0.97955, abs=TOL)
    assert data["ir"]["value"] == pytest.approx(7.07107, abs=TOL)
    assert data["garbe"]["value"] == pytest.approx(0.742424, abs=TOL)
    assert data["fmr_max_geomean"]["value"] == pytest.approx(3.16228, abs=TOL)
    assert data["fnmr_max_geomean"]["value"] == pytest.approx(2.23607, abs=TOL)
    assert data["fmr_max_min"]["value"] == pytest.approx(10.0)
    assert data["fnmr_gini"]["value"] == pytest.approx(0.666667, abs=TOL)
    assert data["rates"][1] == {"group": "B", "fmr": 1e-3, "fnmr": 0.05}


def test_summarize_marks_undefined_values(tmp_path):
    text = "\ufeffGroup , FMR , FNMR ,source\nA,0,0.01,x\n B ,1e-3,0.05,y\n\nC,2e-4,0.02,z\n"
    out = summarize(tmp_path, text, "--alpha", "0.3")
    assert out.returncode == 0, out.stderr
    assert "undefined (FMR: group A has a rate of zero)" in out.stdout
    assert "alpha = 0.3" in out.stdout
    data = json.loads(summarize(tmp_path, text, "--json").stdout)
    assert data["ir"]["value"] is None and data["ir"]["defined"] is False
    assert "rate of zero" in data["ir"]["reason"]
    assert data["fmr_max_geomean"]["value"] is None
    assert data["fmr_gini"]["value"] is not None
    assert data["groups"] == ["A", "B", "C"]
    assert "NaN" not in json.dumps(data)


BAD_FILES = [
    ("group,fmr\nA,0.1\nB,0.2\n", "missing column(s) fnmr"),
    ("group,fmr,fnmr\nA,abc,0.1\nB,0.1,0.2\n", "line 2: fmr 'abc' is not a number"),
    ("group,fmr,fnmr\nA,0.1,nan\nB,0.1,0.2\n", "not a finite number"),
    ("group,fmr,fnmr\nA,0.1,0.2\nB,1.5,0.2\n", "outside [0, 1]"),
    ("group,fmr,fnmr\nA,0.1,0.2\nB,-0.1,0.2\n", "outside [0, 1]"),
    ("group,fmr,fnmr\nA,0.1,12\nB,0.1,0.2\n", "fractions, not percentages"),
    ("group,fmr,fnmr\nA,0.1,0.2\n", "need at least two"),
    ("group,fmr,fnmr\n", "need at least two"),
    ("", "empty file"),
    ("group,fmr,fnmr\nA,0.1,0.2\nA,0.1,0.2\n", "appears twice"),
    ("group,fmr,fnmr\n,0.1,0.2\nB,0.1,0.2\n", "group name is empty"),
    ("group,fmr,fnmr\nA,0.1\nB,0.1,0.2\n", "fields"),
    ("group,fmr,fnmr\nA,,0.2\nB,0.1,0.2\n", "fmr is empty"),
    (None, "no such file"),
]


def check_refusal(code: int, out: str, err: str, message: str) -> None:
    assert code == 3
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("facegate fairness summarize: ")
    assert out == ""


@pytest.mark.parametrize(("text", "message"), BAD_FILES)
def test_summarize_bad_files(tmp_path, capsys, text, message):
    # in-process for speed; the subprocess test below runs a few of them end to end
    path = tmp_path / "rates.csv"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    code = summarize_main([str(path)])
    captured = capsys.readouterr()
    check_refusal(code, captured.out, captured.err, message)


@pytest.mark.parametrize(("text", "message"), [BAD_FILES[i] for i in (0, 1, 3, 6, 13)])
def test_summarize_bad_files_end_to_end(tmp_path, text, message):
    out = summarize(tmp_path, text)
    check_refusal(out.returncode, out.stdout, out.stderr, message)


def test_summarize_binary_file(tmp_path, capsys):
    path = tmp_path / "rates.csv"
    path.write_bytes(b"\xff\xfe\x00\x81garbage")
    check_refusal(summarize_main([str(path)]), *capsys.readouterr(), "not a UTF-8 text file")
    check_refusal(summarize_main([str(tmp_path)]), *capsys.readouterr(), "is a directory")


def test_summarize_bad_alpha_is_a_usage_error(tmp_path):
    out = summarize(tmp_path, GOOD, "--alpha", "1.5")
    assert out.returncode == 2 and "alpha" in out.stderr


def test_summarize_wiring(tmp_path, capsys):
    # the way facegate's CLI adds it: a "fairness" command whose actions include summarize
    parser = argparse.ArgumentParser(prog="facegate")
    sub = parser.add_subparsers(dest="command", required=True)
    actions = sub.add_parser("fairness").add_subparsers(dest="action", required=True)
    add_parser(actions)
    path = tmp_path / "rates.csv"
    path.write_text(GOOD)
    args = parser.parse_args(["fairness", "summarize", str(path), "--json"])
    assert (args.command, args.action) == ("fairness", "summarize")
    assert run(args) == 0
    assert json.loads(capsys.readouterr().out)["alpha"] == 0.5
    args = parser.parse_args(["fairness", "summarize", str(tmp_path / "missing.csv")])
    assert run(args) == 3
