"""Similarity calibration: a monotonic map from descriptor distance to a 0-100 ``Similarity``.

The map is piecewise linear through *anchors* (distance, similarity), placed where the
calibration data shows a stated false match rate (FMR): similarity 99 where every demographic
group's same-group impostor FMR, and the pooled FMR, is at most 1e-4; 95, 90 and 80 where the
pooled FMR is 1e-4, 1e-3 and 1e-2 (80 is the photo-app default); 50 at the median impostor
distance. A match at threshold T means similarity >= T, that is distance <= the distance of T.
The artifact also tabulates, for a range of thresholds, the FMR and FNMR observed on the
calibration data pooled and per group, so that any threshold corresponds to a stated rate.
Artifacts written since the fairness work also record, under ``thresholds``, the similarity
threshold at pooled FMR 1e-3, 1e-4 and 1e-5 where the data supports it, with each group's FMR
at that threshold and the worst-group threshold; older artifacts, the shipped one included,
lack the field and load unchanged.

This module loads an artifact and applies it; computing one needs the fairness measures and is
:mod:`facegate.fairness.calibrate` (``facegate calibrate``). docs/calibration.md says what the
shipped artifact rests on.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = 1


@dataclass(frozen=True)
class Calibration:
    """A loaded calibration artifact. ``anchors`` are (distance, similarity), distance ascending."""

    version: str
    model_version: str
    anchors: tuple[tuple[float, float], ...]
    document: Mapping[str, Any]

    def similarity(self, distance: np.ndarray | float) -> np.ndarray | float:
        """0-100 similarity for a descriptor distance (strictly decreasing where anchored)."""
        d = np.asarray(distance, dtype=np.float64)
        xs = np.array([a[0] for a in self.anchors])
        ys = np.array([a[1] for a in self.anchors])
        out = np.clip(np.interp(d, xs, ys), 0.0, 100.0)
        return float(out) if np.ndim(out) == 0 else out

    def distance_for(self, similarity: float) -> float:
        """The largest distance whose similarity is at least ``similarity``."""
        xs = np.array([a[0] for a in self.anchors])
        ys = np.array([a[1] for a in self.anchors])
        return float(np.interp(-similarity, -ys, xs))

    def threshold_at(self, target_fmr: float) -> float | None:
        """The similarity threshold the artifact records for a pooled target FMR, or ``None``
        where its data could not support the target or the artifact predates the field."""
        for entry in self.document.get("thresholds", ()):
            if math.isclose(float(entry["target_fmr"]), target_fmr, rel_tol=1e-9):
                value = entry.get("similarity")
                return None if value is None else float(value)
        return None

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Calibration:
        if document.get("format") != FORMAT:
            raise ValueError(f"calibration format {document.get('format')!r} is not {FORMAT}")
        anchors = tuple((float(d), float(s)) for d, s in document["anchors"])
        if any(b[0] <= a[0] or b[1] >= a[1] for a, b in itertools.pairwise(anchors)):
            raise ValueError("calibration anchors must rise in distance and fall in similarity")
        return cls(
            version=str(document["version"]),
            model_version=str(document["model_version"]),
            anchors=anchors,
            document=document,
        )

    @classmethod
    def load(cls, path: Path) -> Calibration:
        return cls.from_document(json.loads(path.read_text()))


@cache
def shipped_calibration(filename: str) -> Calibration:
    """The calibration artifact shipped inside the package for a model chain."""
    text = (resources.files("facegate.vision") / "calibration" / filename).read_text()
    return Calibration.from_document(json.loads(text))
