"""Running the engine in worker processes: one engine (models loaded once) per process.

dlib holds the GIL while it computes, so parallel inference needs processes. Workers are
started with ``spawn`` (never ``fork`` from a threaded server) and load the models in their
initializer; the tasks below are plain functions so they can be sent to a worker by name.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from facegate.config import Settings
from facegate.errors import FacegateError
from facegate.vision.engine import FaceEngine, stacked_embeddings

_engine: FaceEngine | None = None


def _init(settings: Settings) -> None:
    global _engine
    _exit_with_parent(os.getppid())
    _engine = FaceEngine(settings)


def _exit_with_parent(parent: int, every_seconds: float = 1.0) -> None:
    """End this worker when the process that started it is gone (even after a SIGKILL).

    A killed server cannot shut its pool down, and an idle worker would otherwise wait on its
    queue forever, holding its models in memory.
    """

    def watch() -> None:
        while True:
            time.sleep(every_seconds)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def engine(settings: Settings | None = None) -> FaceEngine:
    """This process's engine (created on first use when not started by the pool)."""
    global _engine
    if _engine is None:
        _engine = FaceEngine(settings)
    return _engine


def make_pool(settings: Settings, workers: int | None = None) -> ProcessPoolExecutor:
    """A pool of ``workers`` (default ``settings.workers``) engine processes."""
    return ProcessPoolExecutor(
        max_workers=workers or settings.workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init,
        initargs=(settings,),
    )


def warm_up() -> str:
    """A no-op task that makes a worker load its models now (returns the model version)."""
    return engine().chain.version


# --- tasks: each returns plain data (or raises a FacegateError, which pickles) ----------------


def detect_faces(data: bytes, detector: str | None = None) -> dict[str, Any]:
    return engine().detect_faces(data, detector=detector)


def compare_faces(
    source: bytes, target: bytes, threshold: float, quality_filter: str, detector: str | None = None
) -> dict[str, Any]:
    return engine().compare_faces(
        source, target, threshold=threshold, quality_filter=quality_filter, detector=detector
    )


def index_candidates(
    data: bytes,
    max_faces: int,
    quality_filter: str,
    detector: str | None = None,
    crops: bool = False,
) -> dict[str, Any]:
    return engine().index_candidates(
        data, max_faces=max_faces, quality_filter=quality_filter, detector=detector, crops=crops
    )


def probe(
    data: bytes, quality_filter: str = "NONE", detector: str | None = None, crop: bool = False
) -> dict[str, Any]:
    return engine().probe(data, quality_filter=quality_filter, detector=detector, crop=crop)


def analyze_image(data: bytes, detector: str | None = None) -> dict[str, Any]:
    """DetectFaces plus each face's quality verdict (what ``facegate detect`` prints)."""
    eng = engine()
    analysis = eng.analyze(data, detector=detector)
    return {
        "Width": analysis.width,
        "Height": analysis.height,
        "FaceDetails": analysis.face_details(),
        "QualityVerdicts": [f.verdict() for f in analysis.faces],
        "Detectors": [f.detector for f in analysis.faces],
    }


def embed_image(
    data: bytes, detector: str | None = None, all_faces: bool = False
) -> dict[str, Any]:
    """Vectors of the largest face (or of every face) with what locates them."""
    eng = engine()
    pixels = eng.decode(data).pixels
    analysis = eng.analyze_pixels(pixels, detector=detector)
    faces = analysis.faces if all_faces else analysis.faces[:1]
    if faces:
        eng.embed_faces(pixels, faces)
    return {
        "width": analysis.width,
        "height": analysis.height,
        "faces_found": len(analysis.faces),
        "embeddings": stacked_embeddings(faces) if faces else np.zeros((0, 128), "f4"),
        "boxes": np.array([[f.box.left, f.box.top, f.box.right, f.box.bottom] for f in faces]),
        "landmarks": np.stack([f.landmarks for f in faces]) if faces else np.zeros((0, 5, 2)),
        "detectors": [f.detector for f in faces],
        "confidences": [f.confidence for f in faces],
        "measures": [f.raw_measures() for f in faces],
    }


def safely(task: Any, *args: Any) -> tuple[bool, Any]:
    """Run ``task`` and return ``(True, result)`` or ``(False, error dict)`` for client errors."""
    try:
        return True, task(*args)
    except FacegateError as exc:
        return False, {"Type": exc.type_name, "Message": exc.message}
