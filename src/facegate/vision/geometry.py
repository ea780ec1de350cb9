"""Pure geometry: boxes, overlap, landmark naming and head pose from five landmarks.

Coordinates are pixels of the upright image unless a name says ``ratio``. Rekognition's
``BoundingBox`` and landmark ``X``/``Y`` are ratios of the image's width and height.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixels: ``left <= right``, ``top <= bottom``."""

    left: float
    top: float
    right: float
    bottom: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    def scaled(self, factor: float) -> Box:
        """The same box in an image ``factor`` times as large."""
        return Box(self.left * factor, self.top * factor, self.right * factor, self.bottom * factor)

    def to_ratios(self, width: int, height: int) -> dict[str, float]:
        """Rekognition's ``BoundingBox``: ratios of the image size (may leave 0..1 at edges)."""
        return {
            "Width": self.width / width,
            "Height": self.height / height,
            "Left": self.left / width,
            "Top": self.top / height,
        }


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes, 0 when they do not overlap."""
    inter = Box(
        max(a.left, b.left), max(a.top, b.top), min(a.right, b.right), min(a.bottom, b.bottom)
    )
    if inter.width <= 0 or inter.height <= 0:
        return 0.0
    union = a.area + b.area - inter.area
    return inter.area / union if union > 0 else 0.0


def overlap_of_smaller(a: Box, b: Box) -> float:
    """The share of the smaller box covered by the other (catches a box nested in another)."""
    inter = Box(
        max(a.left, b.left), max(a.top, b.top), min(a.right, b.right), min(a.bottom, b.bottom)
    )
    if inter.width <= 0 or inter.height <= 0:
        return 0.0
    smaller = min(a.area, b.area)
    return inter.area / smaller if smaller > 0 else 0.0


# The 5-point model's order (dlib's shape_predictor_5_face_landmarks), image-left/right:
# 0 outer corner of the eye on the image's right, 1 its inner corner, 2 outer corner of the eye
# on the image's left, 3 its inner corner, 4 the base of the nose (subnasale).
FIVE_POINT_NAMES: dict[str, tuple[int, ...]] = {
    "eyeLeft": (2, 3),
    "eyeRight": (0, 1),
    "nose": (4,),
    "leftEyeLeft": (2,),
    "leftEyeRight": (3,),
    "rightEyeLeft": (1,),
    "rightEyeRight": (0,),
}


def landmarks_to_rekognition(
    points: np.ndarray, width: int, height: int
) -> list[dict[str, object]]:
    """Name five landmark points as Rekognition does. ``eyeLeft`` is the eye on the image's left.

    ``points`` is a (5, 2) array of pixel coordinates; each named landmark is the mean of the
    points it stands for (an eye centre is the midpoint of its two corners).
    """
    out: list[dict[str, object]] = []
    for name, idx in FIVE_POINT_NAMES.items():
        x, y = points[list(idx)].mean(axis=0)
        out.append({"Type": name, "X": float(x) / width, "Y": float(y) / height})
    return out


@dataclass(frozen=True)
class PoseModel:
    """Constants of the landmark geometry, in units of the distance between the eye centres.

    ``nose_depth``: how far the base of the nose stands in front of the eyes' plane.
    ``nose_drop``: how far below the eye line the base of the nose lies in a frontal face.
    Fitted on the London set (docs/engine.md says how, and the error on its labelled views).
    """

    nose_depth: float
    nose_drop: float


# Fitted by bench/fit_pose.py (results in bench/results/pose.json, method in docs/engine.md).
FIVE_POINT_POSE = PoseModel(nose_depth=0.459, nose_drop=0.702)


def pose_from_landmarks(points: np.ndarray, model: PoseModel = FIVE_POINT_POSE) -> dict[str, float]:
    """Estimate Rekognition's ``Pose`` (degrees) from five landmarks with a weak-perspective model.

    Roll: the angle of the line through the eye centres (positive when the eye on the image's
    right is lower). Yaw: the nose base moves sideways by ``nose_depth * sin(yaw)`` while the
    visible eye distance shrinks by ``cos(yaw)``, so ``yaw = atan(offset / (depth * eyes))``;
    positive when the nose points to the image's right. Pitch: the nose base's drop below the
    eye line, ``drop*cos(pitch) - depth*sin(pitch)`` in eye distances, solved for pitch;
    positive when the face tilts up.
    """
    pts = np.asarray(points, dtype=np.float64)
    left_eye = pts[[2, 3]].mean(axis=0)
    right_eye = pts[[0, 1]].mean(axis=0)
    nose = pts[4]
    eye_vec = right_eye - left_eye
    eye_dist = float(np.hypot(*eye_vec))
    if eye_dist < 1e-6:
        return {"Roll": 0.0, "Yaw": 0.0, "Pitch": 0.0}
    roll = math.atan2(eye_vec[1], eye_vec[0])
    # Rotate into the face's own frame: x along the eye line, y downwards across it.
    c, s = math.cos(-roll), math.sin(-roll)
    rel = nose - (left_eye + right_eye) / 2.0
    along = (c * rel[0] - s * rel[1]) / eye_dist
    across = (s * rel[0] + c * rel[1]) / eye_dist
    yaw = math.atan2(along, model.nose_depth)
    # The observed eye distance is cos(yaw) of the true one; undo that before solving pitch.
    drop = across * math.cos(yaw)
    radius = math.hypot(model.nose_drop, model.nose_depth)
    alpha = math.atan2(model.nose_depth, model.nose_drop)
    # drop = radius * cos(pitch + alpha)  =>  pitch = acos(drop / radius) - alpha
    pitch = math.acos(max(-1.0, min(1.0, drop / radius))) - alpha
    return {
        "Roll": _clip_degrees(roll),
        "Yaw": _clip_degrees(yaw),
        "Pitch": _clip_degrees(pitch),
    }


def _clip_degrees(radians: float) -> float:
    return float(max(-180.0, min(180.0, math.degrees(radians))))


# Beyond the frontal detector's range the five landmarks no longer follow the face (a profile
# typically reads 10-50 degrees), so such a face is reported as a profile, turned the way its
# landmarks lean, unless its roll alone explains why the frontal detector missed it.
PROFILE_YAW = 90.0
FRONTAL_MAX_ROLL = 30.0


def pose_beyond_frontal(pose: dict[str, float]) -> dict[str, float]:
    """The pose of a face the frontal detector cannot see (see ``PROFILE_YAW``)."""
    if abs(pose["Roll"]) > FRONTAL_MAX_ROLL:
        return pose
    return {**pose, "Yaw": math.copysign(PROFILE_YAW, pose["Yaw"] or 1.0)}


def face_pose(points: np.ndarray, frontal: bool) -> dict[str, float]:
    """Rekognition's ``Pose`` for a face: from its landmarks, or a profile when beyond range."""
    pose = pose_from_landmarks(points)
    return pose if frontal else pose_beyond_frontal(pose)
