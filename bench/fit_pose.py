"""Fit the pose model's two constants on the London set and measure its error per view.

The London set labels views, not angles: frontal (yaw 0), three-quarter (nominally 45 degrees)
and profile (90 degrees), all at pitch about 0. ``nose_drop`` is the median drop of the nose
base below the eye line in frontal views; ``nose_depth`` makes the median three-quarter view
read 45 degrees. Both are fitted on odd-numbered subjects and the error is reported on the
even-numbered ones (and on all). Writes bench/results/pose.json (or pose.json in
$BENCH_RESULTS_DIR).

    python bench/fit_pose.py [LONDON_DIR]
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

from _common import LONDON, london_images, london_views, results_dir, view_kind, write_results
from facegate.vision.engine import FaceEngine
from facegate.vision.geometry import PoseModel, pose_beyond_frontal, pose_from_landmarks

NOMINAL_YAW = {"front": 0.0, "3quarter": 45.0, "profile": 90.0}


def view_yaw(view: str) -> tuple[str, float]:
    """The view's kind and its nominal yaw (negative for a left view)."""
    kind = view_kind(view)
    sign = -1.0 if "left" in view else 1.0
    return kind, sign * NOMINAL_YAW[kind]


def main() -> None:
    london = Path(sys.argv[1]) if len(sys.argv) > 1 else LONDON
    engine = FaceEngine()
    rows = []
    for view_dir in london_views(london):
        kind, yaw = view_yaw(view_dir.name)
        for path in london_images(view_dir):
            faces = engine.analyze(path.read_bytes()).faces
            if not faces:
                rows.append({"view": view_dir.name, "kind": kind, "yaw": yaw, "found": False})
                continue
            f = faces[0]
            pts = f.landmarks
            left_eye, right_eye = pts[[2, 3]].mean(0), pts[[0, 1]].mean(0)
            eye = float(np.hypot(*(right_eye - left_eye)))
            roll = math.atan2(*(right_eye - left_eye)[::-1])
            rel = pts[4] - (left_eye + right_eye) / 2
            c, s = math.cos(-roll), math.sin(-roll)
            rows.append(
                {
                    "view": view_dir.name,
                    "kind": kind,
                    "yaw": yaw,
                    "found": True,
                    "subject": int(path.stem.split("_")[0]),
                    "landmarks": pts,
                    "frontal": f.frontal,
                    "along": (c * rel[0] - s * rel[1]) / eye,
                    "across": (s * rel[0] + c * rel[1]) / eye,
                }
            )

    def fit(subset: list[dict]) -> PoseModel:
        drop = float(np.median([r["across"] for r in subset if r["kind"] == "front"]))
        # along = depth * tan(yaw) at the three-quarter views' nominal 45 degrees.
        depth = float(np.median([abs(r["along"]) for r in subset if r["kind"] == "3quarter"]))
        return PoseModel(nose_depth=round(depth, 3), nose_drop=round(drop, 3))

    found = [r for r in rows if r["found"]]
    train = [r for r in found if r["subject"] % 2 == 1]
    held_out = [r for r in found if r["subject"] % 2 == 0]
    model_cv, model_all = fit(train), fit(found)

    def errors(model: PoseModel, subset: list[dict]) -> dict:
        out = {}
        for kind in NOMINAL_YAW:
            yaw_err, pitch_err, flagged, wrong_side = [], [], 0, 0
            for r in subset:
                if r["kind"] != kind:
                    continue
                pose = pose_from_landmarks(r["landmarks"], model)
                if not r["frontal"]:
                    pose = pose_beyond_frontal(pose)
                    flagged += 1
                yaw_err.append(abs(pose["Yaw"] - r["yaw"]))
                wrong_side += r["yaw"] * pose["Yaw"] < 0
                pitch_err.append(abs(pose["Pitch"]))
            out[kind] = {
                "faces": len(yaw_err),
                "beyond_frontal_range": flagged,
                "turned_the_wrong_way": wrong_side,
                "yaw_abs_error_median": round(float(np.median(yaw_err)), 1),
                "yaw_abs_error_p90": round(float(np.percentile(yaw_err, 90)), 1),
                "pitch_abs_median": round(float(np.median(pitch_err)), 1),
                "pitch_abs_p90": round(float(np.percentile(pitch_err, 90)), 1),
            }
        return out

    per_view = {
        view: {
            "median_nose_offset_along_eyes": round(float(np.median([r["along"] for r in rs])), 3),
            "median_nose_drop": round(float(np.median([r["across"] for r in rs])), 3),
        }
        for view in sorted({r["view"] for r in found})
        for rs in [[r for r in found if r["view"] == view]]
    }
    result = {
        "per_view_geometry_in_eye_distances": per_view,
        "data": f"London set, {len(rows)} images, {len(found)} with a face",
        "labels": "view names only: frontal 0, three-quarter nominally +-45, profile +-90 degrees "
        "yaw; pitch assumed 0",
        "fitted_on_all": model_all.__dict__,
        "fitted_on_odd_subjects": model_cv.__dict__,
        "error_on_even_subjects_with_odd_fit": errors(model_cv, held_out),
        "error_on_all_with_all_fit": errors(model_all, found),
    }
    write_results(results_dir() / "pose.json", result, indent=1)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
