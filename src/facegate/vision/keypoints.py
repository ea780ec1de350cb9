"""BlazeFace's six keypoints as Rekognition's five landmarks, and a head pose from them.

BlazeFace (``vision/blazeface.py``) gives the two eye centres, the nose tip, the mouth centre
and the two tragions (ears). Rekognition's default landmarks are ``eyeLeft``, ``eyeRight``,
``nose``, ``mouthLeft`` and ``mouthRight`` (``eyeLeft`` is the eye on the image's left, as
everywhere in facegate). The eyes are the eye keypoints, ``nose`` is the nose tip.

**Mouth corners** are not among the keypoints; they are placed from the face's geometry. The
mouth's corners lie on a line through the mouth centre parallel to the eye line, each half a
mouth width from the centre. In a face turned by ``yaw`` both the eye distance and the mouth
width shrink by ``cos(yaw)``, so the half-width is a fixed share of the *observed* eye
vector; and the corners lie further back than the lips' centre, so turning the head moves
the centre keypoint sideways by ``depth * sin(yaw)`` more than the corners:

    corner = mouth +- (width / 2) * eye_vector - depth * sin(yaw) * |eye_vector| / cos(yaw) * u

with ``u`` the unit eye-line direction and both constants in eye distances
(:data:`MOUTH_MODEL`). They were fitted, and the error measured, on the London set against the
mouth corners of MediaPipe's face mesh (``bench/fit_keypoints.py``,
``bench/results/keypoints.json``; docs/engine.md has the numbers).

**Pose** (degrees, as ``vision/geometry.py`` defines the signs) with a weak-perspective model
whose constants are in eye distances (:data:`KEYPOINT_POSE`, fitted by the same script):

- Roll: the angle of the line through the eye keypoints.
- Yaw: the nose tip stands ``nose_depth`` in front of the eyes, so turning the head moves it
  sideways from the eyes' midpoint by ``nose_depth * sin(yaw)`` while the visible eye
  distance shrinks by ``cos(yaw)``: ``yaw = atan(offset / nose_depth)``, the offset in
  observed eye distances. Near a profile the far eye's keypoint closes in on the near one and
  the offset grows without bound, so the yaw reads towards 90 degrees.
- Pitch: tilting the head by ``pitch`` moves the nose tip up by ``nose_depth * sin(pitch)``
  while the eyes-to-mouth distance shrinks by ``cos(pitch)``; with ``nose_ratio`` the nose
  tip's share of the way from the eyes to the mouth in a level face:
  ``pitch = atan((nose_ratio - ratio) * eyes_to_mouth / nose_depth)``, positive when the face
  tilts up.
- Beyond the frontal range: the two tragions stay about two eye distances apart in frontal
  views (2.05-2.11 on the London set) and three-quarter views (2.15-2.64), while in a profile
  the far eye's keypoint closes in on the near one (median 5.1). A face whose tragions are
  more than :data:`PROFILE_EAR_RATIO` eye distances apart is reported as a profile (``Yaw``
  +-90, as ``vision/geometry.py`` reports the faces beyond dlib's range), turned the way the
  nose tip stands from the tragions' midpoint, which was right for every London profile
  (the eyes' side was wrong for 7% of them). Faces read beyond :data:`SIDEWAYS_YAW` take
  their side from the ears too, and their eye line is taken as pointing rightwards (the eye
  keypoints of a near-profile may swap).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from facegate.vision.blazeface import EAR_LEFT, EAR_RIGHT, EYE_LEFT, EYE_RIGHT, MOUTH, NOSE_TIP


@dataclass(frozen=True)
class KeypointPose:
    """Face geometry in eye distances (distance between the eye keypoints, frontal)."""

    nose_depth: float  # the nose tip in front of the eyes' plane
    nose_ratio: float  # the nose tip's share of the way from the eye line to the mouth
    eyes_to_mouth: float  # from the eye line down to the mouth keypoint


@dataclass(frozen=True)
class MouthModel:
    """Where the mouth corners lie, in eye distances."""

    width: float  # corner to corner, frontal
    depth: float  # how far the corners lie behind the mouth keypoint


# Fitted on the London set by bench/fit_keypoints.py (results in bench/results/keypoints.json).
KEYPOINT_POSE = KeypointPose(nose_depth=0.634, nose_ratio=0.506, eyes_to_mouth=1.04)
MOUTH_MODEL = MouthModel(width=0.82, depth=0.217)

# Tragions further apart than this many eye distances: a profile (see the module docstring).
PROFILE_EAR_RATIO = 2.75
PROFILE_YAW = 90.0
# Beyond this yaw (degrees) the side a face is turned to is read from the ears, not the eyes.
SIDEWAYS_YAW = 60.0


def _frame(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """The eyes' midpoint, the unit eye-line direction, the eye distance, and the downward
    unit normal (the face's own axes)."""
    left, right = points[EYE_LEFT], points[EYE_RIGHT]
    vector = right - left
    distance = float(np.hypot(*vector))
    along = vector / distance if distance > 1e-6 else np.array([1.0, 0.0])
    down = np.array([-along[1], along[0]])
    return (left + right) / 2.0, along, distance, down


def ear_ratio(points: np.ndarray) -> float:
    """The distance between the tragions in eye distances (about 2 unless a profile)."""
    pts = np.asarray(points, dtype=np.float64)
    eyes = float(np.hypot(*(pts[EYE_RIGHT] - pts[EYE_LEFT])))
    return float(np.hypot(*(pts[EAR_RIGHT] - pts[EAR_LEFT]))) / max(eyes, 1e-6)


def within_frontal_range(points: np.ndarray) -> bool:
    """Whether the keypoints measure the face's pose (not a profile, see the docstring)."""
    return ear_ratio(points) <= PROFILE_EAR_RATIO


def profile_side(points: np.ndarray) -> float:
    """+1 when a profile's nose points to the image's right, -1 to its left (from the ears)."""
    pts = np.asarray(points, dtype=np.float64)
    ears = pts[EAR_RIGHT] - pts[EAR_LEFT]
    return (
        1.0 if float((pts[NOSE_TIP] - (pts[EAR_LEFT] + pts[EAR_RIGHT]) / 2) @ ears) >= 0 else -1.0
    )


def keypoint_pose(points: np.ndarray, model: KeypointPose = KEYPOINT_POSE) -> dict[str, float]:
    """Rekognition's ``Pose`` from BlazeFace's keypoints (see the module's docstring)."""
    pts = np.asarray(points, dtype=np.float64)
    centre, along, eyes, down = _frame(pts)
    if eyes < 1e-6:
        return {"Roll": 0.0, "Yaw": 0.0, "Pitch": 0.0}
    roll = math.atan2(along[1], along[0])
    nose = pts[NOSE_TIP] - centre
    yaw = math.atan2(float(nose @ along) / eyes, model.nose_depth)
    mouth_drop = float((pts[MOUTH] - centre) @ down)
    if mouth_drop > 1e-6:
        ratio = float(nose @ down) / mouth_drop
        pitch = math.atan((model.nose_ratio - ratio) * model.eyes_to_mouth / model.nose_depth)
    else:
        pitch = 0.0
    frontal = within_frontal_range(pts)
    if not frontal or abs(yaw) > math.radians(SIDEWAYS_YAW):
        # Turned this far, the eye keypoints crowd together and may swap sides: the side
        # comes from the ears, and the eye line's direction is taken as pointing rightwards.
        yaw = profile_side(pts) * (abs(yaw) if frontal else math.radians(PROFILE_YAW))
        if abs(roll) > math.pi / 2:
            roll -= math.copysign(math.pi, roll)
    return {
        "Roll": _degrees(roll),
        "Yaw": _degrees(yaw),
        "Pitch": _degrees(pitch),
    }


def _degrees(radians: float) -> float:
    return float(max(-180.0, min(180.0, math.degrees(radians))))


def mouth_corners(
    points: np.ndarray, yaw_degrees: float, model: MouthModel = MOUTH_MODEL
) -> tuple[np.ndarray, np.ndarray]:
    """The mouth corners on the image's left and right (pixels), from the keypoints."""
    pts = np.asarray(points, dtype=np.float64)
    _, along, eyes, _ = _frame(pts)
    yaw = math.radians(max(-80.0, min(80.0, yaw_degrees)))
    # The observed eye distance is cos(yaw) of the face's; the depth shift is in the face's.
    shift = model.depth * math.sin(yaw) * eyes / max(math.cos(yaw), 0.2)
    centre = pts[MOUTH] - shift * along
    half = model.width / 2.0 * eyes * along
    return centre - half, centre + half


REKOGNITION_LANDMARKS = ("eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight")


def five_landmarks(points: np.ndarray, yaw_degrees: float) -> np.ndarray:
    """Rekognition's five default landmarks, (5, 2) pixels in :data:`REKOGNITION_LANDMARKS`
    order, from BlazeFace's keypoints and the face's yaw."""
    pts = np.asarray(points, dtype=np.float64)
    left, right = mouth_corners(pts, yaw_degrees)
    return np.stack([pts[EYE_LEFT], pts[EYE_RIGHT], pts[NOSE_TIP], left, right])


def landmarks_to_rekognition(
    landmarks: np.ndarray, width: int, height: int
) -> list[dict[str, object]]:
    """The five landmarks as Rekognition's ``Landmarks`` (ratios of the image size)."""
    return [
        {"Type": name, "X": float(x) / width, "Y": float(y) / height}
        for name, (x, y) in zip(REKOGNITION_LANDMARKS, landmarks, strict=True)
    ]
