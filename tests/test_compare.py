"""CompareFaces semantics and verification accuracy on real photographs."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest

from facegate.errors import InvalidParameterException
from tests.conftest import DATA, read

pytestmark = pytest.mark.models


def test_deepface_pairs_reach_99_percent_at_the_default_threshold(tmp_path):
    """The 300 labelled pairs of DeepFace's test set, through `facegate compare --pairs`."""
    master = DATA / "deepface" / "master.csv"
    pairs = tmp_path / "pairs.csv"
    with master.open() as src, pairs.open("w", newline="") as dst:
        writer = csv.writer(dst)
        writer.writerow(["source", "target", "expected"])
        for row in csv.DictReader(src):
            writer.writerow(
                [
                    DATA / "deepface" / row["file_x"],
                    DATA / "deepface" / row["file_y"],
                    row["Decision"],
                ]
            )
    out = tmp_path / "scored.csv"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "facegate.cli.main",
            "compare",
            "--pairs",
            str(pairs),
            "--output",
            str(out),
            "--workers",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 300
    assert set(rows[0]) == {"source", "target", "expected", "similarity", "match", "error"}
    correct = sum((r["match"] == "true") == (r["expected"] == "Yes") for r in rows)
    assert correct / len(rows) >= 0.99, f"{correct}/300 correct"


def test_compare_finds_the_same_person_among_two(engine):
    result = engine.compare_faces(
        read("face_recognition/obama.jpg"), read("face_recognition/two_people.jpg")
    )
    assert len(result["FaceMatches"]) == 1 and len(result["UnmatchedFaces"]) == 1
    match = result["FaceMatches"][0]
    assert match["Similarity"] >= 80
    # Obama stands on the left in two_people.jpg, Biden on the right.
    assert match["Face"]["BoundingBox"]["Left"] < 0.5
    assert set(result["SourceImageFace"]) == {"BoundingBox", "Confidence"}
    biden = engine.compare_faces(
        read("face_recognition/biden.jpg"), read("face_recognition/two_people.jpg")
    )
    assert len(biden["FaceMatches"]) == 1
    assert biden["FaceMatches"][0]["Face"]["BoundingBox"]["Left"] > 0.5


def test_matches_are_sorted_and_the_threshold_applies(engine):
    result = engine.compare_faces(
        read("face_recognition/obama.jpg"), read("face_recognition/two_people.jpg"), threshold=0
    )
    sims = [m["Similarity"] for m in result["FaceMatches"]]
    assert len(sims) == 2 and sims == sorted(sims, reverse=True) and not result["UnmatchedFaces"]
    strict = engine.compare_faces(
        read("face_recognition/obama.jpg"),
        read("face_recognition/two_people.jpg"),
        threshold=sims[0] + 0.01,
    )
    assert strict["FaceMatches"] == [] and len(strict["UnmatchedFaces"]) == 2


def test_different_people_do_not_match(engine):
    result = engine.compare_faces(
        read("face_recognition/obama.jpg"), read("face_recognition/biden.jpg")
    )
    assert result["FaceMatches"] == [] and len(result["UnmatchedFaces"]) == 1


def test_source_without_a_face_is_invalid_parameter(engine):
    with pytest.raises(InvalidParameterException, match="no usable face"):
        engine.compare_faces(read("deepface/no_face_crop.jpg"), read("face_recognition/obama.jpg"))


def test_quality_filter_drops_profile_faces(engine):
    profile = read("london/neutral_left_profile/001_01.jpg")
    front = read("london/neutral_front/001_03.jpg")
    with pytest.raises(InvalidParameterException, match="quality filter"):
        engine.compare_faces(profile, front, quality_filter="LOW")
    kept = engine.compare_faces(front, profile, threshold=0, quality_filter="NONE")
    assert len(kept["FaceMatches"]) == 1
    dropped = engine.compare_faces(front, profile, threshold=0, quality_filter="LOW")
    assert dropped["FaceMatches"] == [] and dropped["UnmatchedFaces"] == []


def test_similarity_is_symmetric_for_single_faces(engine):
    a, b = read("london/neutral_front/001_03.jpg"), read("london/smiling_front/001_08.jpg")
    ab = engine.compare_faces(a, b, threshold=0)["FaceMatches"][0]["Similarity"]
    ba = engine.compare_faces(b, a, threshold=0)["FaceMatches"][0]["Similarity"]
    assert ab == pytest.approx(ba, abs=1e-3) and ab >= 90
