"""The evaluation runner on London faces: its report matches a direct computation; the gate
closes and opens identification on a real server as the recorded audit says."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import DATA
from tests.conftest import london_front as front
from tests.server import BASIS, Server, run_cli

pytestmark = pytest.mark.models

TARGET = 1e-2


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """The London frontal photos (two per subject) with the subjects file."""
    root = tmp_path_factory.mktemp("london")
    for view in ("neutral_front", "smiling_front"):
        shutil.copytree(DATA / "london" / view, root / view)
    shutil.copy(DATA / "london" / "subjects.csv", root / "subjects.csv")
    return root


@pytest.fixture(scope="module")
def evaluated(dataset, tmp_path_factory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("report")
    data_dir = tmp_path_factory.mktemp("data")
    done = run_cli(
        data_dir,
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
        "--json",
    )
    assert json.loads(done.stdout)["faces"] > 90
    # a second run reads every embedding from the cache (resumable) and says the same
    again = run_cli(
        data_dir,
        "fairness",
        "evaluate",
        str(dataset),
        "--group-by",
        "face_gender",
        "--target-fmr",
        str(TARGET),
        "--output-dir",
        str(out / "again"),
        "--json",
    )
    assert json.loads(again.stdout)["summary"] == json.loads(done.stdout)["summary"]
    return json.loads((out / "fairness.json").read_text()), out


def test_the_report_matches_a_direct_computation(evaluated, dataset, engine):
    report, out = evaluated
    from facegate.vision.calibration import shipped_calibration
    from facegate.vision.models import DEFAULT_CHAIN

    calibration = shipped_calibration(DEFAULT_CHAIN.calibration)
    groups = {}
    for line in (dataset / "subjects.csv").read_text().splitlines()[1:]:
        subject, _age, sex, _eth = line.split(",")
        groups[subject] = sex
    faces = []
    for path in sorted(dataset.rglob("*.jpg")):
        analysis = engine.analyze(path.read_bytes(), embed=True)
        if analysis.faces and not analysis.faces[0].reasons("AUTO"):
            faces.append((path.stem.split("_")[0], analysis.faces[0].embedding))
    assert len(faces) == report["faces"]
    scored = []
    for (sa, ea), (sb, eb) in combinations(faces, 2):
        score = float(calibration.similarity(np.linalg.norm(ea - eb)))
        scored.append((score, sa == sb, groups[sa], groups[sb]))
    impostors = sorted(s for s, mated, _, _ in scored if not mated)
    # the smallest threshold whose pooled FMR (score >= t) is at most the target
    threshold = next(
        t
        for t in sorted(set(impostors))
        if sum(1 for s in impostors if s >= t) / len(impostors) <= TARGET
    )
    # float32 descriptors: the two computations agree to ~1e-6 in similarity
    assert report["threshold"]["threshold"] == pytest.approx(threshold, abs=1e-4)
    for group in ("female", "male"):
        same = [(s, mated) for s, mated, ga, gb in scored if ga == gb == group]
        impostor = [s for s, mated in same if not mated]
        genuine = [s for s, mated in same if mated]
        fmr = sum(s >= threshold for s in impostor) / len(impostor)
        fnmr = sum(s < threshold for s in genuine) / len(genuine)
        assert report["groups"][group]["fmr"]["value"] == pytest.approx(fmr, abs=1e-9)
        assert report["groups"][group]["fmr"]["trials"] == len(impostor)
        assert report["groups"][group]["fnmr"]["value"] == pytest.approx(fnmr, abs=1e-9)
    f = [report["groups"][g]["fmr"]["value"] for g in ("female", "male")]
    geo = max(f) / float(np.sqrt(f[0] * f[1]))
    assert report["summary"]["fmr_max_geomean"]["value"] == pytest.approx(geo, rel=1e-9)
    html = (out / "fairness.html").read_text()
    assert "DET curves" in html and "data:image/png;base64," in html and "female" in html


def test_a_bad_dataset_is_refused_with_a_message(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "facegate.cli.main", "fairness", "evaluate", str(tmp_path / "no")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "neither a folder nor a CSV" in done.stderr


def test_the_gate_closes_and_opens_identification(evaluated, tmp_path):
    _, out = evaluated
    server = Server(
        tmp_path,
        FACEGATE_WORKERS="1",
        FACEGATE_FAIRNESS_GATE="on",
        FACEGATE_FAIRNESS_LIMITS="fmr_max_geomean=100",
    )
    try:
        client = server.client(server.analyst_keys(), headers=BASIS)
        client.create_collection(CollectionId="gallery")
        client.index_faces(CollectionId="gallery", Image={"Bytes": front("001")})
        with pytest.raises(client.exceptions.AccessDeniedException) as closed:
            client.search_faces_by_image(CollectionId="gallery", Image={"Bytes": front("001")})
        assert "FAIRNESS-GATE" in str(closed.value) and "no demographic audit" in str(closed.value)
        client.compare_faces(  # verification is not gated
            SourceImage={"Bytes": front("001")}, TargetImage={"Bytes": front("001", True)}
        )
        recorded = json.loads(
            server.cli("fairness", "record", str(out / "fairness.json"), "--json").stdout
        )
        assert recorded["within_limits"] is True
        deadline = time.monotonic() + 15
        while True:  # the server re-reads the gate every few seconds
            try:
                found = client.search_faces_by_image(
                    CollectionId="gallery", Image={"Bytes": front("001")}
                )
                break
            except client.exceptions.AccessDeniedException:
                assert time.monotonic() < deadline, "the recorded audit never opened the gate"
                time.sleep(0.5)
        assert found["FaceMatches"]
    finally:
        server.stop()
