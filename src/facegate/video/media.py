"""Reading video files with PyAV (FFmpeg): the header check and sampled frames.

A file is accepted by what its header says, never by its name: the container must be MP4 or
QuickTime (MOV) and its first video stream H.264. Anything else -- a text file named
``.mp4``, a truncated file whose header cannot be read, another codec -- raises
:class:`VideoError` with a message fit for a job's ``StatusMessage``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

ACCEPTED_FORMATS = {"mov", "mp4"}  # FFmpeg's demuxer is "mov,mp4,m4a,3gp,3g2,mj2"
ACCEPTED_CODECS = {"h264"}
MAX_SIDE = 4096  # larger frames are refused (memory per frame stays bounded)


class VideoError(Exception):
    """The file is not a video facegate can process; the message says why."""


@dataclass(frozen=True)
class VideoMetadata:
    codec: str
    duration_ms: int
    format: str
    frame_rate: float
    width: int
    height: int
    color_range: str = "LIMITED"

    def to_rekognition(self) -> dict[str, Any]:
        """Rekognition's ``VideoMetadata``."""
        return {
            "Codec": self.codec,
            "DurationMillis": self.duration_ms,
            "Format": self.format,
            "FrameRate": round(self.frame_rate, 3),
            "FrameHeight": self.height,
            "FrameWidth": self.width,
            "ColorRange": self.color_range,
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VideoMetadata:
        return cls(**data)


def _open(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), mode="r", metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError, OSError) as exc:
        raise VideoError(
            "The file is not a readable video: its header could not be parsed "
            f"({type(exc).__name__})."
        ) from None


def probe(path: Path) -> VideoMetadata:
    """Check the header (container, codec, size, duration) without decoding any frame."""
    with _open(path) as container:
        names = set(container.format.name.split(","))
        if not names & ACCEPTED_FORMATS:
            raise VideoError(
                f"Unsupported container {container.format.name!r}: facegate reads MP4 and MOV."
            )
        if not container.streams.video:
            raise VideoError("The file has no video stream.")
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        if codec not in ACCEPTED_CODECS:
            raise VideoError(f"Unsupported codec {codec!r}: facegate reads H.264 video.")
        width, height = stream.codec_context.width, stream.codec_context.height
        if not (16 <= width <= MAX_SIDE and 16 <= height <= MAX_SIDE):
            raise VideoError(f"Unsupported frame size {width}x{height}.")
        rate = stream.average_rate or stream.guessed_rate
        if stream.duration is not None and stream.time_base is not None:
            seconds = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            seconds = container.duration / av.time_base
        else:
            raise VideoError("The video's duration cannot be read from its header.")
        if seconds <= 0:
            raise VideoError("The video is empty (duration 0).")
        color = "FULL" if str(stream.codec_context.color_range) in ("2", "JPEG") else "LIMITED"
        return VideoMetadata(
            codec=codec,
            duration_ms=round(seconds * 1000),
            format="QuickTime / MOV",  # what Rekognition reports for MP4 and MOV alike
            frame_rate=float(rate) if rate else 0.0,
            width=width,
            height=height,
            color_range=color,
        )


@dataclass
class Frame:
    index: int  # position among all decoded frames
    timestamp_ms: int  # from the start of the video
    pixels: np.ndarray  # RGB, height x width x 3


def frames(
    path: Path,
    sample_fps: float,
    start_ms: float = 0,
    end_ms: float | None = None,
    seen: dict[str, int] | None = None,
) -> Iterator[Frame]:
    """Decode the video and yield about ``sample_fps`` frames per second in [start, end).

    Sampling is by time (one frame per sampling slot), so it does not drift with variable
    frame rates. Timestamps count from the first frame. A stream that breaks off mid-way
    raises :class:`VideoError`. ``seen["last_ms"]`` is set to the last frame decoded (so a
    caller can tell a truncated file, whose frames end before its header's duration).
    """
    step = 1000.0 / sample_fps
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        base = stream.time_base or Fraction(1, 1000)
        first: int | None = None
        next_slot = 0
        if start_ms > 0:
            # Seek to the keyframe before the segment, then decode forward to it.
            offset = (stream.start_time or 0) + int(start_ms / 1000 / base)
            container.seek(max(offset - int(2 / base), 0), stream=stream, backward=True)
            next_slot = int(np.ceil(start_ms / step - 1e-6))  # a segment starts on a slot
        index = 0
        try:
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                if first is None:
                    first = stream.start_time if stream.start_time is not None else frame.pts
                at = float((frame.pts - first) * base) * 1000.0
                if seen is not None:
                    seen["last_ms"] = round(at)
                if end_ms is not None and at >= end_ms:
                    break
                if at + 1e-6 >= next_slot * step and at >= start_ms - 1e-6:
                    yield Frame(index, round(at), frame.to_ndarray(format="rgb24"))
                    next_slot = int(at // step) + 1
                index += 1
        except av.FFmpegError as exc:
            raise VideoError(
                f"The video could not be decoded past {index} frames ({type(exc).__name__}); "
                "the file may be truncated or corrupt."
            ) from None
