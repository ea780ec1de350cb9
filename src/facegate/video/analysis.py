"""What a video worker process does with a stretch of video: sampled frames to faces.

Runs in the video pool (:class:`VideoPool`, used by :mod:`facegate.video.pipeline`), one
engine per process, loaded once. The answer is plain data: per sampled frame, each face's
Rekognition ``FaceDetail``, its box in pixels, a quality rank for choosing a track's best
faces, and its vector (base64 float32, kept only while the job runs).
"""

from __future__ import annotations

import base64
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from facegate.config import Settings
from facegate.video.media import frames
from facegate.vision import workers
from facegate.vision.crops import face_crop
from facegate.vision.geometry import Box
from facegate.vision.quality import LEVELS, quality_level


def engine_settings(settings: Settings) -> Settings:
    """The request settings with the video detector (HOG at frame size by default)."""
    video = settings.video
    return replace(
        settings,
        detect=replace(
            settings.detect, detector=video.detector, upsample_below=video.upsample_below
        ),
    )


class VideoPool:
    """The engine processes video segments are analysed in: started when first needed,
    dropped when a worker died (the next job starts a new pool), shut down with the server."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._pool: ProcessPoolExecutor | None = None

    def get(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = workers.make_pool(
                engine_settings(self.settings), self.settings.video.workers
            )
        return self._pool

    def discard(self) -> None:
        """Drop a broken pool without waiting for it."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def quality_rank(face: Any) -> list[float]:
    """Higher is better: the quality level passed, then the face's size in pixels."""
    level = quality_level(face.measures)
    return [LEVELS.index(level) + 1 if level else 0, float(face.measures.face_px)]


def encode_vector(vector: np.ndarray) -> str:
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()


def decode_vector(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f4")


def analyze_segment(path: str, start_ms: float, end_ms: float, sample_fps: float) -> dict[str, Any]:
    """Faces in the sampled frames of [start_ms, end_ms). Raises media.VideoError."""
    eng = workers.engine()
    out: list[dict[str, Any]] = []
    seen = {"last_ms": -1}
    for frame in frames(Path(path), sample_fps, start_ms, end_ms, seen):
        analysis = eng.analyze_pixels(frame.pixels, embed=True)
        faces = []
        for face in analysis.faces:
            assert face.embedding is not None  # embed=True
            box = face.box
            faces.append(
                {
                    "detail": face.face_detail(analysis.width, analysis.height),
                    "box": [box.left, box.top, box.right, box.bottom],
                    "rank": quality_rank(face),
                    "vector": encode_vector(face.embedding),
                }
            )
        out.append({"t": frame.timestamp_ms, "faces": faces})
    return {"frames": out, "last_ms": seen["last_ms"]}


def crop_at(path: str, timestamp_ms: int, box: list[float]) -> bytes | None:
    """A JPEG crop of the face at ``box`` in the frame at ``timestamp_ms`` (for reviewers)."""
    for frame in frames(Path(path), 1000.0, timestamp_ms, timestamp_ms + 200):
        return face_crop(frame.pixels, Box(*box))
    return None
