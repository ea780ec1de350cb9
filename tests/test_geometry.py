"""Pure geometry and quality functions: pose from landmarks, boxes, verdicts, confidence."""

from __future__ import annotations

import math

import numpy as np
import pytest

from facegate.vision.detect import confidence_from_score
from facegate.vision.geometry import (
    FIVE_POINT_POSE,
    Box,
    face_pose,
    iou,
    landmarks_to_rekognition,
    pose_from_landmarks,
)
from facegate.vision.quality import FaceMeasures, quality_level, reasons_at


def frontal_points(eye: float = 100.0) -> np.ndarray:
    """Five landmarks of a frontal face in dlib's order, eyes ``eye`` pixels apart."""
    drop = FIVE_POINT_POSE.nose_drop * eye
    return np.array(
        [
            [260 + eye / 2 + 20, 200],
            [260 + eye / 2 - 20, 200],
            [260 - eye / 2 - 20, 200],
            [260 - eye / 2 + 20, 200],
            [260, 200 + drop],
        ]
    )


def rotate(points: np.ndarray, degrees: float) -> np.ndarray:
    a = math.radians(degrees)
    centre = points.mean(axis=0)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return (points - centre) @ rot.T + centre


def test_frontal_face_has_zero_pose_at_any_scale():
    for eye in (30.0, 100.0, 400.0):
        pose = pose_from_landmarks(frontal_points(eye))
        assert all(abs(v) < 1e-6 for v in pose.values()), pose


def test_roll_follows_in_plane_rotation():
    for degrees in (-40, -10, 15, 35):
        pose = pose_from_landmarks(rotate(frontal_points(), degrees))
        assert pose["Roll"] == pytest.approx(degrees, abs=1e-6)
        assert abs(pose["Yaw"]) < 1e-6 and abs(pose["Pitch"]) < 1e-6


def test_yaw_from_the_nose_offset():
    points = frontal_points()
    points[4, 0] += FIVE_POINT_POSE.nose_depth * 100  # tan(45 degrees) eye distances aside
    assert pose_from_landmarks(points)["Yaw"] == pytest.approx(45, abs=1e-6)
    points[4, 0] -= 2 * FIVE_POINT_POSE.nose_depth * 100
    assert pose_from_landmarks(points)["Yaw"] == pytest.approx(-45, abs=1e-6)


def test_pitch_sign_follows_the_nose_drop():
    up, down = frontal_points(), frontal_points()
    up[4, 1] -= 20  # nose closer to the eye line: the face tilts up
    down[4, 1] += 20
    assert pose_from_landmarks(up)["Pitch"] > 5 and pose_from_landmarks(down)["Pitch"] < -5


def test_faces_beyond_the_frontal_range_read_as_profiles():
    assert abs(face_pose(frontal_points(), frontal=False)["Yaw"]) == 90
    assert face_pose(frontal_points(), frontal=True)["Yaw"] == pytest.approx(0, abs=1e-6)
    rolled = rotate(frontal_points(), 50)  # a strong roll explains the miss by itself
    assert face_pose(rolled, frontal=False)["Yaw"] == pytest.approx(0, abs=1e-6)


def test_boxes_and_landmark_names():
    a, b = Box(0, 0, 10, 10), Box(5, 0, 15, 10)
    assert iou(a, b) == pytest.approx(50 / 150) and iou(a, Box(20, 20, 30, 30)) == 0
    assert a.to_ratios(20, 40) == {"Width": 0.5, "Height": 0.25, "Left": 0, "Top": 0}
    marks = {m["Type"]: m for m in landmarks_to_rekognition(frontal_points(), 520, 400)}
    assert marks["eyeLeft"]["X"] < marks["nose"]["X"] < marks["eyeRight"]["X"]
    assert marks["leftEyeLeft"]["X"] < marks["leftEyeRight"]["X"] < marks["rightEyeLeft"]["X"]


def test_confidence_is_monotonic_and_bounded():
    for detector in ("hog", "cnn"):
        values = [confidence_from_score(detector, s) for s in np.linspace(-3, 5, 200)]
        assert all(0 <= v <= 100 for v in values) and values == sorted(values)
    assert confidence_from_score("hog", 1.0) > 99 and confidence_from_score("cnn", 1.0) > 99


GOOD = FaceMeasures(
    face_px=200, sharpness=80, brightness=50, yaw=5, pitch=3, roll=2, confidence=99.9
)


def test_quality_bars_are_nested():
    assert quality_level(GOOD) == "HIGH"
    small = FaceMeasures(**{**GOOD.__dict__, "face_px": 70})
    assert reasons_at(small, "HIGH") == ["SMALL_BOUNDING_BOX"] and quality_level(small) == "MEDIUM"
    dark = FaceMeasures(**{**GOOD.__dict__, "brightness": 5})
    assert reasons_at(dark, "LOW") == ["LOW_BRIGHTNESS"] and quality_level(dark) is None
    assert reasons_at(dark, "NONE") == [] and reasons_at(dark, "AUTO") == reasons_at(dark, "LOW")
    profile = FaceMeasures(**{**GOOD.__dict__, "frontal": False})
    assert "EXTREME_POSE" in reasons_at(profile, "LOW")
