"""Image quality of a face (brightness, sharpness) and the quality verdict behind QualityFilter.

Only geometry and image quality are measured: no age, gender, emotion or ethnicity, ever.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from facegate.vision.geometry import Box

# Sharpness is measured on the face resampled to this many pixels square, so it does not
# depend on the face's size in the photo.
SHARPNESS_SIDE = 96
# Sharpness = 100 * (1 - exp(-laplacian_variance / SHARPNESS_SCALE)).
SHARPNESS_SCALE = 150.0


def _face_grey(pixels: np.ndarray, box: Box) -> np.ndarray | None:
    height, width = pixels.shape[:2]
    left, top = max(0, int(box.left)), max(0, int(box.top))
    right, bottom = min(width, math.ceil(box.right)), min(height, math.ceil(box.bottom))
    if right - left < 2 or bottom - top < 2:
        return None
    crop = pixels[top:bottom, left:right]
    # ITU-R BT.601 luma, as JPEG uses.
    return crop[..., 0] * 0.299 + crop[..., 1] * 0.587 + crop[..., 2] * 0.114


def brightness(pixels: np.ndarray, box: Box) -> float:
    """Mean luma of the face box, 0 (black) to 100 (white)."""
    grey = _face_grey(pixels, box)
    return 0.0 if grey is None else float(grey.mean() / 255.0 * 100.0)


def sharpness(pixels: np.ndarray, box: Box) -> float:
    """0 (blurred) to 100 (sharp): the variance of the Laplacian of the face at a fixed size."""
    grey = _face_grey(pixels, box)
    if grey is None:
        return 0.0
    resized = Image.fromarray(grey.astype(np.float32), mode="F").resize(
        (SHARPNESS_SIDE, SHARPNESS_SIDE), Image.Resampling.BILINEAR
    )
    g = np.asarray(resized, dtype=np.float64)
    lap = -4.0 * g[1:-1, 1:-1] + g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:]
    return float(100.0 * (1.0 - math.exp(-float(lap.var()) / SHARPNESS_SCALE)))


LEVELS = ("LOW", "MEDIUM", "HIGH")


@dataclass(frozen=True)
class QualityBar:
    """What a face must reach to pass one QualityFilter level."""

    min_face_px: float  # shorter side of the box, in original pixels
    min_sharpness: float
    min_brightness: float
    max_brightness: float
    max_yaw: float
    max_pitch: float
    max_roll: float
    min_confidence: float


# LOW removes only what is hardly a usable face; HIGH keeps faces fit for identification.
# AUTO (IndexFaces' default) means LOW. docs/engine.md explains each number.
QUALITY_BARS: dict[str, QualityBar] = {
    "LOW": QualityBar(40, 10, 10, 98, 60, 45, 60, 50),
    "MEDIUM": QualityBar(60, 25, 20, 95, 45, 30, 45, 80),
    "HIGH": QualityBar(100, 40, 25, 92, 30, 20, 30, 95),
}


@dataclass(frozen=True)
class FaceMeasures:
    """What the verdict looks at."""

    face_px: float
    sharpness: float
    brightness: float
    yaw: float
    pitch: float
    roll: float
    confidence: float
    frontal: bool = True


def reasons_at(measures: FaceMeasures, level: str) -> list[str]:
    """Rekognition's reasons why a face falls below ``level`` (empty: it passes)."""
    if level in ("NONE",):
        return []
    bar = QUALITY_BARS["LOW" if level == "AUTO" else level]
    reasons: list[str] = []
    if (
        not measures.frontal
        or abs(measures.yaw) > bar.max_yaw
        or abs(measures.pitch) > bar.max_pitch
        or (abs(measures.roll) > bar.max_roll)
    ):
        reasons.append("EXTREME_POSE")
    if measures.brightness < bar.min_brightness or measures.brightness > bar.max_brightness:
        reasons.append("LOW_BRIGHTNESS")
    if measures.sharpness < bar.min_sharpness:
        reasons.append("LOW_SHARPNESS")
    if measures.confidence < bar.min_confidence:
        reasons.append("LOW_CONFIDENCE")
    if measures.face_px < bar.min_face_px:
        reasons.append("SMALL_BOUNDING_BOX")
    return reasons


def quality_level(measures: FaceMeasures) -> str | None:
    """The highest level the face passes (``None``: below even LOW)."""
    best = None
    for level in LEVELS:
        if reasons_at(measures, level):
            break
        best = level
    return best
