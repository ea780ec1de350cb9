"""Fairer thresholds: the worst-group threshold, cluster-based score normalization (Fair Score
Normalization) on synthetic embeddings with a known structure, its serialization, and the
runner's comparison of the options on London faces."""

from __future__ import annotations

import inspect
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from facegate.fairness import metrics as m
from facegate.fairness.normalization import (
    ClusterNormalizer,
    fit_cluster_normalizer,
    kmeans,
    worst_group_threshold,
    worst_group_threshold_for,
)
from facegate.fairness.runner import Face, compare_threshold_options, split_subjects
from facegate.vision.calibration import Calibration
from tests.conftest import DATA

TARGET = 1e-2


# --------------------------------------------------------------------------------------------
# Synthetic faces: two regions of the face space, one crowded, one spread out
# --------------------------------------------------------------------------------------------


def synthetic(seed: int, subjects: int = 120, dim: int = 16) -> tuple[np.ndarray, ...]:
    """Two well-separated regions (groups "crowded" and "spread"); in "crowded" different people
    lie closer together (identity spread 0.5 against 0.65), so its impostors score higher. Two
    photos per person. Scores are minus the Euclidean distance."""
    rng = np.random.default_rng(seed)
    emb, subj, grp = [], [], []
    for name, sign, spread in (("crowded", 1.0, 0.5), ("spread", -1.0, 0.65)):
        centre = np.zeros(dim)
        centre[0] = 8.0 * sign
        for s in range(subjects):
            identity = centre + rng.normal(0.0, spread, dim)
            for _ in range(2):
                emb.append(identity + rng.normal(0.0, 0.08, dim))
                subj.append(f"{name}-{seed}-{s}")
                grp.append(name)
    return np.array(emb), np.array(subj), np.array(grp)


def scored(emb: np.ndarray, subj: np.ndarray, grp: np.ndarray) -> tuple:
    i, j = np.triu_indices(len(emb), k=1)
    scores = -np.linalg.norm(emb[i] - emb[j], axis=1)
    comparisons = m.Comparisons(scores, subj[i] == subj[j], subj[i], subj[j], grp[i], grp[j])
    return i, j, scores, comparisons


@pytest.fixture(scope="module")
def calibration_set():
    emb, subj, grp = synthetic(1)
    return emb, subj, grp, *scored(emb, subj, grp)


@pytest.fixture(scope="module")
def held_out():
    """Other people from the same population: every rate below is measured on them."""
    emb, subj, grp = synthetic(2)
    return emb, subj, grp, *scored(emb, subj, grp)


@pytest.fixture(scope="module")
def fitted(calibration_set) -> ClusterNormalizer:
    emb, subj, _, i, j, scores, _ = calibration_set
    return fit_cluster_normalizer(
        emb, subj, i, j, scores, target_fmr=TARGET, model_version="synthetic", score_scale="-d"
    )


def fmr_by_group(comparisons: m.Comparisons, threshold: float) -> dict[str, float]:
    return {g: r.value for g, r in m.per_group_fmr(comparisons, threshold).items()}


def test_cluster_normalization_brings_the_groups_fmr_together(calibration_set, held_out, fitted):
    _, subj, _, _, _, scores, _ = calibration_set
    emb2, _, _, i2, j2, scores2, held = held_out
    impostor = subj[calibration_set[3]] != subj[calibration_set[4]]
    baseline = m.threshold_at_fmr(scores[impostor], TARGET).threshold
    before = fmr_by_group(held, baseline)
    # one global threshold: the crowded region takes the false matches
    assert before["crowded"] > 0.025 and before["spread"] < 0.003
    assert before["crowded"] / before["spread"] > 15
    clusters = fitted.assign(emb2)
    normalized = m.Comparisons(
        fitted.normalize_assigned(scores2, clusters[i2], clusters[j2]),
        held.mated,
        held.subject_a,
        held.subject_b,
        held.group_a,
        held.group_b,
    )
    after = fmr_by_group(normalized, fitted.threshold)
    ratio = max(after.values()) / min(after.values())
    assert ratio < 1.3, after
    # the pooled operating point is kept: the same target, about the same pooled FMR
    pooled_before = np.mean(held.scores[~held.mated] >= baseline)
    pooled_after = np.mean(normalized.scores[~held.mated] >= fitted.threshold)
    assert pooled_after == pytest.approx(pooled_before, rel=0.15)
    assert pooled_after == pytest.approx(TARGET, rel=0.25)
    # summary measures improve accordingly
    f_before = m.max_geomean(before).value
    f_after = m.max_geomean(after).value
    assert f_before > 3.5 and f_after < 1.15


def test_the_crowded_region_gets_the_stricter_clusters(calibration_set, fitted):
    emb, _, grp, *_ = calibration_set
    clusters = fitted.assign(emb)
    crowded = fitted.offsets[np.unique(clusters[grp == "crowded"])]
    spread = fitted.offsets[np.unique(clusters[grp == "spread"])]
    # the clusters never mix the two well-separated regions, and the crowded region's
    # clusters need higher thresholds (positive offsets lower its scores)
    assert not set(np.unique(clusters[grp == "crowded"])) & set(
        np.unique(clusters[grp == "spread"])
    )
    assert crowded.min() > spread.max()
    assert fitted.k == 20 and min(fitted.impostors_per_cluster) >= fitted.min_impostors == 300


def test_the_normalizer_never_reads_group_labels(calibration_set):
    emb, subj, grp, i, j, scores, _ = calibration_set
    assert not any("group" in p for p in inspect.signature(fit_cluster_normalizer).parameters)
    # through the runner, whose faces carry labels: permuting the labels changes nothing
    faces = [Face(s, g, e) for s, g, e in zip(subj, grp, emb, strict=True)]
    rng = np.random.default_rng(7)
    shuffled = rng.permutation(grp)
    relabelled = [Face(s, g, e) for s, g, e in zip(subj, shuffled, emb, strict=True)]
    a = fit_cluster_normalizer(
        np.stack([f.embedding for f in faces]),
        [f.subject for f in faces],
        i,
        j,
        scores,
        target_fmr=TARGET,
        model_version="synthetic",
        score_scale="-d",
    )
    b = fit_cluster_normalizer(
        np.stack([f.embedding for f in relabelled]),
        [f.subject for f in relabelled],
        i,
        j,
        scores,
        target_fmr=TARGET,
        model_version="synthetic",
        score_scale="-d",
    )
    assert a.to_dict() == b.to_dict()


def test_fitting_is_deterministic_and_round_trips_through_json(calibration_set, fitted, held_out):
    emb, subj, _, i, j, scores, _ = calibration_set
    again = fit_cluster_normalizer(
        emb, subj, i, j, scores, target_fmr=TARGET, model_version="synthetic", score_scale="-d"
    )
    assert again.to_dict() == fitted.to_dict()
    document = json.loads(json.dumps(fitted.to_dict()))
    restored = ClusterNormalizer.from_dict(document)
    assert restored.to_dict() == fitted.to_dict()
    assert document["format"] == "facegate-score-normalizer/1"
    assert document["model_version"] == "synthetic" and document["score_scale"] == "-d"
    assert len(document["centroids"]) == document["k"] == len(document["offsets"])
    emb2, _, _, i2, j2, scores2, _ = held_out
    np.testing.assert_array_equal(
        restored.normalize(scores2[:500], emb2[i2[:500]], emb2[j2[:500]]),
        fitted.normalize(scores2[:500], emb2[i2[:500]], emb2[j2[:500]]),
    )
    assert restored.accepts(float(scores2[0]), emb2[i2[0]], emb2[j2[0]]) == fitted.accepts(
        float(scores2[0]), emb2[i2[0]], emb2[j2[0]]
    )
    with pytest.raises(ValueError, match="format"):
        ClusterNormalizer.from_dict({**document, "format": "something else"})
    with pytest.raises(ValueError, match="one cluster threshold per centroid"):
        ClusterNormalizer.from_dict({**document, "cluster_thresholds": [0.0]})


def test_k_is_capped_so_every_cluster_keeps_enough_impostors():
    emb, subj, grp = synthetic(3, subjects=10)  # 40 faces, 760 impostor pairs
    i, j, scores, _ = scored(emb, subj, grp)
    nz = fit_cluster_normalizer(
        emb, subj, i, j, scores, target_fmr=TARGET, model_version="s", score_scale="-d"
    )
    assert 1 < nz.k < 20 and min(nz.impostors_per_cluster) >= 300
    assert nz.fit["k_tried"][-1]["k"] == nz.k
    # far too few impostors for even two clusters: one cluster, the identity
    i8, j8, scores8, _ = scored(emb[:8], subj[:8], grp[:8])
    tiny = fit_cluster_normalizer(
        emb[:8], subj[:8], i8, j8, scores8, target_fmr=TARGET, model_version="s", score_scale="-d"
    )
    assert tiny.k == 1 and "identity" in tiny.note
    np.testing.assert_array_equal(tiny.offsets, [0.0])
    np.testing.assert_array_equal(tiny.normalize_assigned(scores8, i8 * 0, j8 * 0), scores8)


def test_kmeans_is_seeded_and_finds_separated_clusters():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(c, 0.1, (30, 2)) for c in ((0, 0), (5, 5), (0, 5))])
    c1, l1, i1 = kmeans(x, 3, seed=4)
    c2, l2, i2 = kmeans(x, 3, seed=4)
    np.testing.assert_array_equal(c1, c2)
    np.testing.assert_array_equal(l1, l2)
    assert i1 == i2
    assert sorted(np.bincount(l1).tolist()) == [30, 30, 30]
    for block in range(3):
        assert len(set(l1[block * 30 : (block + 1) * 30])) == 1
    # more clusters than distinct points: capped
    centroids, _, _ = kmeans(np.array([[1.0, 1.0]] * 5 + [[2.0, 2.0]] * 5), 4)
    assert len(centroids) == 2


# --------------------------------------------------------------------------------------------
# Worst-group threshold
# --------------------------------------------------------------------------------------------


def test_worst_group_threshold_on_a_hand_made_score_set():
    # at target 0.1, a group of 20 impostor scores may keep 2 false matches
    a = np.arange(20, dtype=float)  # 0..19: threshold 18 (18 and 19 accepted)
    b = np.arange(20, dtype=float) + 5  # 5..24: threshold 23
    c = np.array([100.0, 90.0, 80.0])  # 3 pairs: cannot show 0.1 at all (needs 10)
    pooled = np.concatenate([a, b, c, np.zeros(200)])  # plus low-scoring cross-group pairs
    choice = worst_group_threshold(pooled, {"a": a, "b": b, "c": c}, 0.1)
    assert choice.groups["a"].threshold == 18 and choice.groups["b"].threshold == 23
    assert choice.threshold == 23 and choice.decided_by == "b"
    assert choice.used == ("a", "b")
    assert set(choice.insufficient) == {"c"} and "insufficient data" in choice.insufficient["c"]
    assert choice.unsupported == ("a", "b")  # 20 pairs resolve 0.1 but cannot support it (30)
    # every used group, and the pooled impostors, meet the target at the threshold
    for scores in (a, b, pooled):
        assert np.mean(scores >= choice.threshold) <= 0.1
    # one step lower, some used group does not
    assert np.mean(b >= 22) > 0.1
    # the pooled threshold when it is the highest; the pooled one alone without usable groups
    assert worst_group_threshold(np.array([50.0] * 3 + [0.0] * 7), {"a": a}, 0.1).decided_by == (
        "pooled"
    )
    alone = worst_group_threshold(pooled, {"c": c}, 0.1)
    assert alone.decided_by == "pooled" and alone.used == () and "pooled" in alone.note


def test_worst_group_threshold_from_comparisons_uses_same_group_impostors(calibration_set):
    *_, comparisons = calibration_set
    choice = worst_group_threshold_for(comparisons, TARGET)
    assert choice.decided_by == "crowded"
    fmr = fmr_by_group(comparisons, choice.threshold)
    assert all(v <= TARGET for v in fmr.values())
    assert np.mean(comparisons.scores[~comparisons.mated] >= choice.threshold) <= TARGET


def test_split_is_subject_disjoint_stratified_and_seeded(calibration_set):
    emb, subj, grp, *_ = calibration_set
    faces = [Face(s, g, e) for s, g, e in zip(subj, grp, emb, strict=True)]
    fit, held = split_subjects(faces)
    assert not fit & held and fit | held == set(subj)
    for g in ("crowded", "spread"):
        in_g = set(subj[grp == g])
        assert len(fit & in_g) == len(held & in_g) == 60
    assert split_subjects(faces) == (fit, held)
    assert split_subjects(faces, seed=1) != (fit, held)


def test_comparison_on_synthetic_faces_reports_every_option(calibration_set):
    emb, subj, grp, *_ = calibration_set
    faces = [Face(s, g, e) for s, g, e in zip(subj, grp, emb, strict=True)]
    # a calibration whose similarity is 100 at distance 0 and falls linearly: scores as above
    calibration = Calibration.from_document(
        {"format": 1, "version": "synthetic", "model_version": "s", "anchors": [[0, 100], [10, 0]]}
    )
    section = compare_threshold_options(
        faces, calibration, model_version="s", target_fmr=TARGET, clusters=20
    )
    options = section["options"]
    assert set(options) == {"global", "worst_group", "cluster_normalized"}
    g, w, c = (options[k]["summary"]["fmr_max_geomean"]["value"] for k in options)
    assert g > 2 and c < g and w < g
    assert "subject-disjoint" in section["split"]["method"].lower()


# --------------------------------------------------------------------------------------------
# The runner on London faces
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def london(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess, Path]:
    """The London frontal photos (two per subject) with the subjects file, one
    ``fairness evaluate --compare-options`` run on them, and its data directory (whose
    embedding cache the calibration below reuses)."""
    from tests.server import run_cli

    root = tmp_path_factory.mktemp("normalization")
    dataset = root / "london"
    for view in ("neutral_front", "smiling_front"):
        shutil.copytree(DATA / "london" / view, dataset / view)
    shutil.copy(DATA / "london" / "subjects.csv", dataset / "subjects.csv")
    out = root / "report"
    done = run_cli(
        root / "data",
        "fairness",
        "evaluate",
        str(dataset),
        "--group-by",
        "face_gender",
        "--target-fmr",
        str(TARGET),
        "--output-dir",
        str(out),
        "--workers",
        "2",
        "--compare-options",
        "--json",
    )
    return dataset, root / "data", done, out


@pytest.mark.models
def test_compare_options_on_london_faces(london):
    _, _, done, out = london
    headline = json.loads(done.stdout)
    report = json.loads((out / "fairness.json").read_text())
    section = report["fairer_thresholds"]
    assert "subject-disjoint" in section["split"]["method"].lower()
    fit, held = section["split"]["fit"], section["split"]["evaluation"]
    assert fit["subjects"] + held["subjects"] == report["subjects"]
    assert fit["faces"] + held["faces"] == report["faces"]
    assert any("subject-disjoint" in line for line in report["limits"])
    assert set(section["options"]) == {"global", "worst_group", "cluster_normalized"}
    for key, option in section["options"].items():
        assert set(option["groups"]) == {"female", "male"}, key
        for group, rates in option["groups"].items():
            for kind in ("fmr", "fnmr"):
                assert rates[kind]["trials"] > 0, (key, group, kind)
                assert 0.0 <= rates[kind]["value"] <= 1.0, (key, group, kind)
        for kind in ("fmr", "fnmr"):
            assert 0.0 <= option["pooled"][kind]["value"] <= 1.0
        assert "fmr_max_geomean" in option["summary"] and "garbe" in option["summary"]
        assert headline["options"][key]["fmr"] == {
            g: r["fmr"]["value"] for g, r in option["groups"].items()
        }
    # the worst-group threshold is at least the global one (both on the raw scale)
    assert (
        section["options"]["worst_group"]["threshold"] >= section["options"]["global"]["threshold"]
    )
    normalizer = section["options"]["cluster_normalized"]["fit"]
    assert normalizer["k"] >= 1 and normalizer["score_scale"] == report["calibration"]
    html = (out / "fairness.html").read_text()
    assert "Fairer thresholds" in html and "cluster-normalized" in html and "worst-group" in html


@pytest.mark.models
def test_calibrate_per_group_shows_the_drift_and_records_the_thresholds(london, tmp_path):
    from tests.server import run_cli

    dataset, data_dir, _, _ = london  # every embedding is in data_dir's cache already
    common = ("calibrate", str(dataset), "--group-by", "face_gender", "--name", "t")
    plain = run_cli(data_dir, *common, "--output", str(tmp_path / "a.json"))
    per_group = run_cli(data_dir, *common, "--output", str(tmp_path / "b.json"), "--per-group")
    a = json.loads((tmp_path / "a.json").read_text())
    b = json.loads((tmp_path / "b.json").read_text())
    # --per-group changes nothing in the artifact: same map, table and thresholds
    for key in ("anchors", "anchor_rules", "table", "thresholds"):
        assert a[key] == b[key], key
    assert "FMR / target" not in plain.stdout and "FMR / target" in per_group.stdout
    # 100 faces: 4,900 impostor pairs support 1e-3 (3,000 needed), not 1e-4 or 1e-5
    by_target = {e["target_fmr"]: e for e in a["thresholds"]}
    assert set(by_target) == {1e-3, 1e-4, 1e-5}
    t3 = by_target[1e-3]
    assert t3["supported"] and t3["similarity"] is not None
    assert t3["false_matches"] / t3["impostor_pairs"] <= 1e-3
    for target in (1e-4, 1e-5):
        assert by_target[target]["similarity"] is None and by_target[target]["insufficient_data"]
        assert f"FMR {target:g}: insufficient data" in per_group.stdout
    assert set(t3["groups"]) == {"female", "male"}
    for group, row in t3["groups"].items():
        assert row["ratio_to_target"] == pytest.approx(row["fmr"] / 1e-3), group
        assert 0 <= row["fmr"] <= 1
        assert row["ratio_interval"][0] <= row["ratio_to_target"] <= row["ratio_interval"][1]
        assert group in per_group.stdout
    worst = t3["worst_group_threshold"]
    assert worst["similarity"] >= t3["similarity"]
    cal = Calibration.from_document(a)
    assert cal.threshold_at(1e-3) == t3["similarity"] and cal.threshold_at(1e-4) is None
