"""Face detection with dlib's two detectors, on working copies scaled for speed, or BlazeFace.

``hog``: dlib's HOG + linear SVM frontal detector, fast, blind to profiles.
``cnn``: dlib's MMOD CNN, finds faces in every pose, slow on a CPU without BLAS.
``auto``: HOG on the working copy; only when it finds nothing, the CNN on a small copy
(longer side ``cnn_side``) that still holds the faces worth finding in that case: large
non-frontal faces. docs/engine.md has the measurements behind this cascade.
``blazeface`` (default): MediaPipe's BlazeFace (``vision/blazeface.py``), on onnxruntime or
OpenCV DNN (``vision/onnx/detector.py`` chooses): the back network on overlapping tiles, the
full-range and short-range ones on the whole image, merged, each face confirmed by the
full-range network around it, on a working copy whose longer side is at most
``tile_max_side``. Finds small (from about 30 px) and turned faces, profiles included, and
faces the frame cuts; gives six keypoints
(``Detection.keypoints``) from which ``vision/keypoints.py`` reports the landmarks and the
pose. Its boxes are mapped to the convention of HOG's (:data:`BLAZEFACE_TO_DLIB_BOX`), so
the quality bars, the crops and dlib's 5-point predictor, which aligns the descriptor, see
the boxes they were made for.

Boxes come back in pixels of the original image, with the detector's raw score and a
0-100 ``confidence`` from :func:`confidence_from_score`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image

from facegate.config import DetectSettings
from facegate.vision import keypoints
from facegate.vision.blazeface import find_faces
from facegate.vision.geometry import Box, overlap_of_smaller
from facegate.vision.models import LoadedModels
from facegate.vision.networks import Network


@dataclass(frozen=True)
class Detection:
    box: Box
    score: float
    detector: str  # "hog", "cnn" or "blazeface"
    confidence: float
    # Whether the frontal (HOG) detector sees this face: always for HOG's own detections;
    # for the CNN's, checked on the face's neighbourhood by :func:`seen_by_frontal_detector`;
    # for BlazeFace's, whether its keypoints show a profile (keypoints.within_frontal_range).
    frontal: bool = True
    # BlazeFace's six keypoints, (6, 2) pixels (vision/blazeface.py names them); else None.
    keypoints: np.ndarray | None = field(default=None, compare=False, repr=False)


# BlazeFace's confidence curve's slope (see CONFIDENCE_CURVES).
BLAZEFACE_SLOPE = 2.3

# BlazeFace's square boxes against HOG's on the London set (bench/fit_keypoints.py, frontal
# and three-quarter views): HOG's box moves sideways with the yaw (towards where the nose
# points) and down a little, and is about as large. As shares of BlazeFace's box width, with
# s = sin(yaw) from the keypoints: x shift = X * s, y shift = Y0 + Y1 * |s|, scale = S0 + S1 * |s|.
# (The x shift alone spreads by 0.11 box widths over the views; 0.03 around the fit.)
BLAZEFACE_TO_DLIB_BOX = {"X": 0.191, "Y0": -0.015, "Y1": -0.063, "S0": 0.944, "S1": 0.106}


def dlib_convention(box: Box, yaw_degrees: float) -> Box:
    """A BlazeFace box as HOG would draw it around the same face."""
    fit = BLAZEFACE_TO_DLIB_BOX
    turn = math.sin(math.radians(yaw_degrees))
    cx = (box.left + box.right) / 2.0 + fit["X"] * turn * box.width
    cy = (box.top + box.bottom) / 2.0 + (fit["Y0"] + fit["Y1"] * abs(turn)) * box.width
    scale = fit["S0"] + fit["S1"] * abs(turn)
    half_w, half_h = box.width * scale / 2.0, box.height * scale / 2.0
    return Box(cx - half_w, cy - half_h, cx + half_w, cy + half_h)


# Confidence = 100 / (1 + exp(-slope * (score - midpoint))), per detector. Monotonic in the raw
# score; the midpoint is the score we consider a coin toss. HOG's raw threshold (0) maps to 73
# and a clear frontal face (score >= 1) to 99 or more; the CNN's threshold (0) maps to 29 and a
# clear face (about 1.0) to 99. BlazeFace's raw score is its logit (its probability's, so
# the curve is the probability sharpened): its threshold (probability 0.5) maps to 50, 0.65 to
# 80 (MEDIUM's bar), 0.78 (the weakest of the 1020 London faces, all views) to 95 (HIGH's).
CONFIDENCE_CURVES: dict[str, tuple[float, float]] = {
    "hog": (4.0, -0.25),
    "cnn": (6.0, 0.15),
    "blazeface": (BLAZEFACE_SLOPE, 0.0),
}


def confidence_from_score(detector: str, score: float) -> float:
    """Map a detector's raw score to Rekognition's 0-100 ``Confidence`` (monotonic, documented)."""
    slope, midpoint = CONFIDENCE_CURVES[detector]
    z = max(-60.0, min(60.0, slope * (score - midpoint)))
    return 100.0 / (1.0 + math.exp(-z))


def scaled_copy(pixels: np.ndarray, longer_side: int) -> tuple[np.ndarray, float]:
    """A copy whose longer side is at most ``longer_side``; returns it and the scale applied."""
    height, width = pixels.shape[:2]
    scale = min(1.0, longer_side / max(height, width))
    if scale >= 1.0:
        return pixels, 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = Image.fromarray(pixels).resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(small), scale


# dlib's frontal detector is five HOG filters; ``run`` says which one fired: 0 looks at the
# camera, 1 and 2 look to the image's left and right (up to about 45 degrees), 3 and 4 are
# the frontal filter rotated. The side-looking filters also fire weakly on some profiles
# (on the London set: 23 of 408 profiles, scores up to 0.59; 98% of three-quarter views score
# above 0.7), so a side-looking match counts as within the frontal range only from this score.
SIDE_FILTERS = (1, 2)
SIDE_MIN_SCORE = 0.7


# HOG's window is 80 px: smaller faces are found only on the upsampled copy, where weak
# matches are mostly texture (an ear, a collar). Those need a clearer score.
HOG_WINDOW = 80
UPSAMPLED_MIN_SCORE = 0.4


def within_frontal_range(score: float, filter_index: int) -> bool:
    """Whether a HOG match shows a face whose pose the five landmarks can measure."""
    return filter_index not in SIDE_FILTERS or score >= SIDE_MIN_SCORE


def _hog(models: LoadedModels, pixels: np.ndarray, settings: DetectSettings) -> list[Detection]:
    work, scale = scaled_copy(pixels, settings.max_side)
    upsample = 1 if max(work.shape[:2]) <= settings.upsample_below else 0
    rects, scores, filters = models.hog.run(work, upsample, 0.0)
    return [
        Detection(
            box=Box(r.left(), r.top(), r.right() + 1, r.bottom() + 1).scaled(1.0 / scale),
            score=float(s),
            detector="hog",
            confidence=confidence_from_score("hog", float(s)),
            frontal=within_frontal_range(float(s), int(f)),
        )
        for r, s, f in zip(rects, scores, filters, strict=True)
        if s >= UPSAMPLED_MIN_SCORE or min(r.width(), r.height()) >= HOG_WINDOW
    ]


def _cnn(models: LoadedModels, pixels: np.ndarray, longer_side: int) -> list[Detection]:
    work, scale = scaled_copy(pixels, longer_side)
    found = models.cnn(work, 0)
    return [
        Detection(
            box=Box(d.rect.left(), d.rect.top(), d.rect.right() + 1, d.rect.bottom() + 1).scaled(
                1.0 / scale
            ),
            score=float(d.confidence),
            detector="cnn",
            confidence=confidence_from_score("cnn", float(d.confidence)),
        )
        for d in found
    ]


# The frontal check scales the CNN's face box to this width (HOG's window is 80 px and its boxes
# run about 1.3 times the CNN's) inside a margin of half the box on every side.
FRONTAL_CHECK_WIDTH = 120
FRONTAL_CHECK_MARGIN = 0.5


def seen_by_frontal_detector(models: LoadedModels, pixels: np.ndarray, box: Box) -> bool:
    """Does HOG, dlib's frontal detector, find a face overlapping ``box`` in its neighbourhood?

    HOG covers faces up to about 45 degrees of yaw (it found every three-quarter view of the
    London set and almost no profile), so a face the CNN found but HOG cannot see (or sees only
    weakly with a side-looking filter) is beyond the frontal range: the five landmarks cannot
    measure such a pose, so it is flagged instead.
    """
    height, width = pixels.shape[:2]
    margin_x, margin_y = box.width * FRONTAL_CHECK_MARGIN, box.height * FRONTAL_CHECK_MARGIN
    left, top = max(0, int(box.left - margin_x)), max(0, int(box.top - margin_y))
    right = min(width, math.ceil(box.right + margin_x))
    bottom = min(height, math.ceil(box.bottom + margin_y))
    if right - left < 8 or bottom - top < 8:
        return False
    scale = FRONTAL_CHECK_WIDTH / max(box.width, 1.0)
    crop = Image.fromarray(pixels[top:bottom, left:right])
    size = (max(1, round(crop.width * scale)), max(1, round(crop.height * scale)))
    work = np.asarray(crop.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0))
    rects, scores, filters = models.hog.run(work, 0, 0.0)
    local = Box(box.left - left, box.top - top, box.right - left, box.bottom - top).scaled(scale)
    return any(
        overlap_of_smaller(local, Box(r.left(), r.top(), r.right() + 1, r.bottom() + 1)) > 0.5
        and within_frontal_range(float(s), int(f))
        for r, s, f in zip(rects, scores, filters, strict=True)
    )


def suppress_overlaps(detections: list[Detection], limit: float = 0.5) -> list[Detection]:
    """Keep the most confident of boxes that cover each other by more than ``limit``."""
    kept: list[Detection] = []
    for det in sorted(detections, key=lambda d: d.confidence, reverse=True):
        if all(overlap_of_smaller(det.box, k.box) <= limit for k in kept):
            kept.append(det)
    return kept


def _blazeface(
    models: LoadedModels,
    pixels: np.ndarray,
    settings: DetectSettings,
    networks: dict[str, Network] | None = None,
) -> list[Detection]:
    work, scale = scaled_copy(pixels, settings.tile_max_side)
    found = find_faces(models.blazeface if networks is None else networks, work, settings.tile_side)
    detections = []
    for box, points, probability in zip(
        found.boxes / scale, found.keypoints / scale, found.scores, strict=True
    ):
        logit = math.log(probability / max(1e-12, 1.0 - probability))
        yaw = keypoints.keypoint_pose(points)["Yaw"]
        detections.append(
            Detection(
                box=dlib_convention(Box(*(float(v) for v in box)), yaw),
                score=logit,
                detector="blazeface",
                confidence=confidence_from_score("blazeface", logit),
                frontal=keypoints.within_frontal_range(points),
                keypoints=points,
            )
        )
    return detections


def detect(
    models: LoadedModels,
    pixels: np.ndarray,
    settings: DetectSettings,
    detector: str | None = None,
    networks: dict[str, Network] | None = None,
) -> list[Detection]:
    """Find faces in an RGB image with the chosen detector (default: ``settings.detector``);
    blazeface runs ``networks`` (the runtime the engine chose; default ``models.blazeface``)."""
    mode = detector or settings.detector
    if mode == "hog":
        found = _hog(models, pixels, settings)
    elif mode == "cnn":
        found = _cnn(models, pixels, settings.cnn_max_side)
    elif mode == "auto":
        found = _hog(models, pixels, settings)
        if not found:
            found = _cnn(models, pixels, settings.cnn_side)
    elif mode == "blazeface":
        found = _blazeface(models, pixels, settings, networks)
    else:
        raise ValueError(f"unknown detector {mode!r}")
    return [
        replace(d, frontal=seen_by_frontal_detector(models, pixels, d.box))
        if d.detector == "cnn"
        else d
        for d in suppress_overlaps(found)
    ]
