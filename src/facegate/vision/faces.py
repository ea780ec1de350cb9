"""A face as the engine sees it, and its shape in Rekognition's responses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facegate.vision import keypoints
from facegate.vision.geometry import Box, landmarks_to_rekognition
from facegate.vision.quality import LEVELS, FaceMeasures, quality_level, reasons_at


@dataclass
class Face:
    """One detected face: where it is, how well it can be used, and optionally its vector."""

    box: Box
    confidence: float
    detector: str
    landmarks: np.ndarray  # (5, 2) pixels, dlib's 5-point order
    pose: dict[str, float]
    brightness: float
    sharpness: float
    frontal: bool = True  # seen by the frontal detector (see detect.seen_by_frontal_detector)
    # BlazeFace's six keypoints (blazeface detector only): they give the reported landmarks
    # and the pose; ``landmarks`` (dlib's, on the same box) still align the descriptor.
    keypoints: np.ndarray | None = field(default=None, repr=False)
    embedding: np.ndarray | None = field(default=None, repr=False)

    @property
    def measures(self) -> FaceMeasures:
        return FaceMeasures(
            face_px=min(self.box.width, self.box.height),
            sharpness=self.sharpness,
            brightness=self.brightness,
            yaw=self.pose["Yaw"],
            pitch=self.pose["Pitch"],
            roll=self.pose["Roll"],
            confidence=self.confidence,
            frontal=self.frontal,
        )

    def raw_measures(self) -> dict[str, float | bool]:
        """What the quality verdict needs besides the pose (which comes from the landmarks)."""
        m = self.measures
        return {
            "face_px": m.face_px,
            "sharpness": m.sharpness,
            "brightness": m.brightness,
            "confidence": m.confidence,
            "frontal": m.frontal,
        }

    def reasons(self, level: str) -> list[str]:
        """Why this face falls below a QualityFilter level (``NONE``, ``AUTO``, ``LOW`` ...)."""
        return reasons_at(self.measures, level)

    def verdict(self) -> dict[str, Any]:
        """The quality verdict: the highest level passed and the reasons at each level."""
        m = self.measures
        return {"Level": quality_level(m), "Reasons": {lv: reasons_at(m, lv) for lv in LEVELS}}

    def reported_landmarks(self, width: int, height: int) -> list[dict[str, object]]:
        """Rekognition's ``Landmarks``: from BlazeFace's keypoints (its five defaults) when the
        detector gave them, else named from dlib's five points (vision/geometry.py)."""
        if self.keypoints is None:
            return landmarks_to_rekognition(self.landmarks, width, height)
        five = keypoints.five_landmarks(self.keypoints, self.pose["Yaw"])
        return keypoints.landmarks_to_rekognition(five, width, height)

    def face_detail(self, width: int, height: int) -> dict[str, Any]:
        """Rekognition's ``FaceDetail`` (also a ``ComparedFace``): geometry and quality only."""
        return {
            "BoundingBox": self.box.to_ratios(width, height),
            "Confidence": round(self.confidence, 6),
            "Landmarks": self.reported_landmarks(width, height),
            "Pose": {k: round(v, 4) for k, v in self.pose.items()},
            "Quality": {
                "Brightness": round(self.brightness, 4),
                "Sharpness": round(self.sharpness, 4),
            },
        }


@dataclass
class Analysis:
    """Every face found in one image, largest first, with the image's size."""

    width: int
    height: int
    faces: list[Face]
    model_version: str

    def face_details(self) -> list[dict[str, Any]]:
        return [f.face_detail(self.width, self.height) for f in self.faces]
