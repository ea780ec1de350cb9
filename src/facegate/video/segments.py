"""The stretches a job's video is analysed in, and how many frames a job samples.

Both are functions of the video's duration and the job's sampling rate only, so that a job
resumed after a restart finds the same segments (and the ones it already saved).
"""

from __future__ import annotations

import math

SEGMENT_MIN_MS, SEGMENT_MAX_MS = 2_000, 10_000


def segments_of(duration_ms: int, sample_fps: float) -> list[tuple[float, float]]:
    """The stretches a video is analysed in: 2-10 s (an eighth of the video), each a whole
    number of sampling slots, so that no slot straddles two segments (a frame at either side
    of a cut would otherwise be sampled by neither)."""
    step = 1000.0 / sample_fps
    size = min(SEGMENT_MAX_MS, max(SEGMENT_MIN_MS, math.ceil(duration_ms / 8)))
    span = max(1, math.ceil(size / step)) * step
    count = max(1, math.ceil(duration_ms / span - 1e-9))
    return [(k * span, min((k + 1) * span, duration_ms)) for k in range(count)]


def expected_frames(duration_ms: int, sample_fps: float) -> int:
    """How many frames a job samples from a video this long (its progress' denominator)."""
    return max(1, math.ceil(duration_ms / 1000 * sample_fps))
