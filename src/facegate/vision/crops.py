"""Face crops for human reviewers: the face with a margin, as a small JPEG."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from facegate.vision.geometry import Box

CROP_MARGIN = 0.3  # of the box's size, on every side
CROP_MAX_SIDE = 256
CROP_QUALITY = 85


def face_crop(pixels: np.ndarray, box: Box) -> bytes:
    """JPEG bytes of ``box`` in ``pixels`` (RGB) with a margin, its longer side at most 256."""
    height, width = pixels.shape[:2]
    margin_x, margin_y = box.width * CROP_MARGIN, box.height * CROP_MARGIN
    left = int(max(0, np.floor(box.left - margin_x)))
    top = int(max(0, np.floor(box.top - margin_y)))
    right = int(min(width, np.ceil(box.right + margin_x)))
    bottom = int(min(height, np.ceil(box.bottom + margin_y)))
    if right <= left or bottom <= top:
        left, top, right, bottom = 0, 0, width, height
    image = Image.fromarray(np.ascontiguousarray(pixels[top:bottom, left:right]))
    image.thumbnail((CROP_MAX_SIDE, CROP_MAX_SIDE))
    out = io.BytesIO()
    image.convert("RGB").save(out, format="JPEG", quality=CROP_QUALITY)
    return out.getvalue()
