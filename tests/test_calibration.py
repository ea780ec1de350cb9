"""Similarity calibration: the map's properties, the shipped artifact's promise, the command."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from itertools import combinations

import numpy as np
import pytest

from facegate.fairness.calibrate import distance_at_fmr
from facegate.vision.calibration import Calibration, shipped_calibration
from facegate.vision.models import DEFAULT_CHAIN
from tests.conftest import DATA


@pytest.fixture(scope="module")
def shipped() -> Calibration:
    return shipped_calibration(DEFAULT_CHAIN.calibration)


def test_distance_at_fmr_allows_exactly_the_stated_share():
    impostors = np.linspace(0.3, 1.3, 10_000)
    for fmr in (1e-1, 1e-2, 1e-3, 1e-4):
        d = distance_at_fmr(impostors, fmr)
        assert (impostors <= d).sum() == round(fmr * len(impostors))
    # Too few pairs to measure the rate: the threshold sits below the closest impostor.
    assert distance_at_fmr(np.array([0.5, 0.7]), 1e-4) < 0.5


def test_shipped_map_is_monotonic_and_invertible(shipped):
    distances = np.linspace(0, 2, 2001)
    sims = shipped.similarity(distances)
    assert np.all(np.diff(sims) <= 0) and sims[0] == 100 and sims[-1] == 0
    for threshold in (50, 80, 90, 95, 99):
        d = shipped.distance_for(threshold)
        assert shipped.similarity(d) == pytest.approx(threshold, abs=1e-6)


def test_shipped_artifact_states_its_data_and_rates(shipped):
    doc = shipped.document
    assert doc["model_version"] == DEFAULT_CHAIN.version
    assert doc["dataset"]["name"] == "london" and doc["dataset"]["subjects"] == 102
    # Made with the detector the service runs by default: scores describe the pipeline that runs.
    from facegate.config import DetectSettings

    assert doc["dataset"]["detector"] == DetectSettings.detector
    row99 = next(r for r in doc["table"] if r["threshold"] == 99)
    assert row99["pooled"]["fmr"] <= 1e-4
    for group, rates in row99["groups"].items():
        if rates["impostor_pairs"]:
            assert rates["fmr"] <= 1e-4, group
    row80 = next(r for r in doc["table"] if r["threshold"] == 80)
    assert row80["pooled"]["fmr"] <= 1e-2


@pytest.mark.models
@pytest.mark.slow
def test_threshold_99_holds_for_every_group_on_real_faces(engine, shipped):
    """On the London faces in tests/data, no same-group impostor pair reaches 99."""
    groups = {
        r["face_id"]: (r["face_eth"], r["face_gender"])
        for r in csv.DictReader((DATA / "london" / "subjects.csv").open())
    }
    faces = []
    for view in ("neutral_front", "smiling_front"):
        for path in sorted((DATA / "london" / view).glob("*.jpg")):
            analysis = engine.analyze(path.read_bytes(), embed=True)
            faces.append((path.stem.split("_")[0], analysis.faces[0].embedding))
    checked = 0
    for (sa, ea), (sb, eb) in combinations(faces, 2):
        if sa != sb and groups[sa] == groups[sb]:
            checked += 1
            assert engine.similarity(ea, eb) < 99, (sa, sb)
    assert checked > 20
    genuine = [
        engine.similarity(ea, eb) for (sa, ea), (sb, eb) in combinations(faces, 2) if sa == sb
    ]
    assert np.median(genuine) >= 90  # the same person, neutral vs smiling, scores high


@pytest.mark.models
@pytest.mark.slow
def test_calibrate_command_writes_a_usable_artifact(tmp_path):
    dataset = tmp_path / "mini"
    views = ("neutral_front", "smiling_front", "neutral_left_3quarter", "neutral_left_profile")
    in_every_view = set.intersection(
        *({p.stem.split("_")[0] for p in (DATA / "london" / v).glob("*.jpg")} for v in views)
    )
    subjects = sorted(in_every_view)[:6]
    for view in views:
        (dataset / view).mkdir(parents=True)
        for path in (DATA / "london" / view).glob("*.jpg"):
            if path.stem.split("_")[0] in subjects:
                shutil.copy(path, dataset / view)
    with (DATA / "london/subjects.csv").open() as src, (dataset / "subjects.csv").open("w") as dst:
        rows = [r for r in csv.DictReader(src) if r["face_id"] in subjects]
        writer = csv.DictWriter(dst, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out, cache = tmp_path / "cal.json", tmp_path / "cache"
    cmd = [
        sys.executable,
        "-m",
        "facegate.cli.main",
        "calibrate",
        str(dataset),
        "--output",
        str(out),
        "--cache",
        str(cache),
        "--name",
        "test/mini",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    doc = json.loads(out.read_text())
    cal = Calibration.from_document(doc)
    assert cal.version == "test/mini" and cal.model_version == DEFAULT_CHAIN.version
    ds = doc["dataset"]
    assert ds["images_listed"] == 24 and ds["subjects"] == 6
    # The profile views fall below the AUTO quality bar and are counted, not calibrated on.
    assert ds["images"] == 18 and sum(ds["failures_to_enroll"].values()) == 6
    assert ds["group_columns"] == ["face_gender", "face_eth"]
    assert "99" in done.stdout and "FMR" in done.stdout
    # A second run reads every face from the cache (same result, no model needed).
    cached = len(list(cache.rglob("*.npz")))
    assert cached == 24
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0
    assert json.loads(out.read_text())["anchors"] == doc["anchors"]
