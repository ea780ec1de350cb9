"""CLI tasks that take a local file path (read in the worker, so big batches stay small)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from facegate.errors import FacegateError, ImageTooLargeException
from facegate.vision import workers


class FileUnreadable(FacegateError):
    """A path the CLI was given cannot be read (missing, a folder, no permission)."""


def read_image_file(path: str) -> bytes:
    """Read a local image, refusing files over the byte limit before reading them."""
    p = Path(path)
    limit = workers.engine().settings.decode.max_bytes
    try:
        size = p.stat().st_size
        if not p.is_file():
            raise FileUnreadable(f"{path} is not a file")
        if size > limit:
            raise ImageTooLargeException(
                f"{path} is {size / 1048576:.1f} MB; the limit is {limit / 1048576:.1f} MB"
            )
        return p.read_bytes()
    except OSError as exc:
        raise FileUnreadable(f"{path} cannot be read: {exc.strerror or exc}") from None


def analyze_file(path: str, detector: str | None) -> dict[str, Any]:
    return workers.analyze_image(read_image_file(path), detector)


def embed_file(path: str, detector: str | None, all_faces: bool) -> dict[str, Any]:
    return workers.embed_image(read_image_file(path), detector, all_faces)


def compare_files(
    source: str, target: str, threshold: float, quality_filter: str, detector: str | None
) -> dict[str, Any]:
    return workers.compare_faces(
        read_image_file(source), read_image_file(target), threshold, quality_filter, detector
    )
