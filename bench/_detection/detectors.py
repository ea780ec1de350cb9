"""The detectors measured: facegate's modes through its engine, and face_recognition's.

facegate's are measured through the product's path, ``FaceEngine().analyze(data,
detector=mode)``: decode, detection, landmarks, pose and quality of every face (no embedding),
so the time is what a DetectFaces request costs. face_recognition's are
``face_recognition.face_locations(image, number_of_times_to_upsample=1, model=...)`` (its
defaults) on the same JPEG bytes decoded with Pillow, as its ``load_image_file`` does; the time
includes that decode.

A mode facegate does not have yet (``blazeface`` while it is being built) or a library that
is not installed is reported as unavailable, with the reason, so a later run fills it in.
"""

from __future__ import annotations

import importlib.metadata
import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from facegate.config import DETECTORS
from facegate.vision.engine import FaceEngine
from facegate.vision.geometry import Box

# facegate's modes in the order they are reported; those not in facegate.config.DETECTORS
# (blazeface before it lands) are reported as unavailable.
FACEGATE_MODES = ("hog", "auto", "cnn", "blazeface")
FACE_RECOGNITION_MODELS = ("hog", "cnn")
# The slow detectors run on a subset of the images (evalset's ``cnn`` and ``fr_cnn``).
SUBSET_OF = {"facegate cnn": "cnn", "face_recognition cnn": "fr_cnn"}


@dataclass(frozen=True)
class Found:
    """One detection with what the detector says of it: its score (facegate's confidence;
    None where the library gives none) and, for facegate, which detector found it."""

    box: Box
    score: float | None = None
    source: str | None = None


@dataclass(frozen=True)
class Detector:
    name: str  # "facegate hog", "face_recognition cnn"
    detect: Callable[[bytes], list[Box]]
    subset: str  # the images it runs on: all, cnn or fr_cnn
    about: str
    # The same call, keeping each box's score and source (the real photos list them).
    found: Callable[[bytes], list[Found]] | None = None

    def detect_found(self, data: bytes) -> list[Found]:
        """``found`` where the detector has it, else the boxes alone."""
        if self.found is not None:
            return self.found(data)
        return [Found(box) for box in self.detect(data)]


def _probe_image() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (160, 120), (128, 128, 128)).save(buffer, format="JPEG")
    return buffer.getvalue()


def facegate_detectors(engine: FaceEngine) -> tuple[list[Detector], dict[str, str]]:
    """facegate's modes that work here, and why the others are left out."""
    found: list[Detector] = []
    missing: dict[str, str] = {}
    probe = _probe_image()
    for mode in FACEGATE_MODES:
        name = f"facegate {mode}"
        if mode not in DETECTORS:
            missing[name] = (
                f"not a facegate detector mode here (facegate.config.DETECTORS = {DETECTORS})"
            )
            continue
        try:
            engine.analyze(probe, detector=mode)
        except Exception as error:  # a mode that cannot start is reported, not fatal
            missing[name] = f"{type(error).__name__}: {error}"
            continue

        def run(data: bytes, mode: str = mode) -> list[Box]:
            return [face.box for face in engine.analyze(data, detector=mode).faces]

        def run_found(data: bytes, mode: str = mode) -> list[Found]:
            return [
                Found(face.box, round(face.confidence, 4), face.detector)
                for face in engine.analyze(data, detector=mode).faces
            ]

        found.append(
            Detector(
                name,
                run,
                SUBSET_OF.get(name, "all"),
                f"FaceEngine().analyze(data, detector={mode!r}): decode, detect, landmarks, "
                "pose, quality",
                run_found,
            )
        )
    return found, missing


def face_recognition_detectors() -> tuple[list[Detector], dict[str, str], dict[str, Any]]:
    """face_recognition's HOG and CNN (its defaults: upsampled once), or why not, and its
    version."""
    try:
        with warnings.catch_warnings():
            # face_recognition_models imports pkg_resources, which warns that it is deprecated.
            warnings.simplefilter("ignore")
            import face_recognition
    except Exception as error:  # not installed: say so and how to install it
        reason = f"{type(error).__name__}: {error} (install it with make install-bench)"
        names = [f"face_recognition {m}" for m in FACE_RECOGNITION_MODELS]
        return [], dict.fromkeys(names, reason), {}

    found: list[Detector] = []
    for model in FACE_RECOGNITION_MODELS:

        def run(data: bytes, model: str = model) -> list[Box]:
            pixels = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
            locations = face_recognition.face_locations(
                pixels, number_of_times_to_upsample=1, model=model
            )
            # (top, right, bottom, left), right and bottom inclusive as in dlib's rectangles.
            return [Box(left, top, right + 1, bottom + 1) for top, right, bottom, left in locations]

        name = f"face_recognition {model}"
        found.append(
            Detector(
                name,
                run,
                SUBSET_OF.get(name, "all"),
                f"face_recognition.face_locations(image, number_of_times_to_upsample=1, "
                f"model={model!r}) on the Pillow-decoded bytes",
            )
        )
    # Its __version__ says 1.2.3 in the 1.3.0 wheel: the installed distribution's is the truth.
    return found, {}, {"face_recognition": importlib.metadata.version("face_recognition")}
