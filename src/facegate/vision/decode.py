"""Safe image decoding: bytes from a client to an RGB ``uint8`` array, or a clear error.

Order matters: the byte limit is checked before anything is parsed, the pixel limit from the
header before any pixel is decoded (a decompression bomb never allocates), and the format is
checked against the two Rekognition accepts (JPEG, PNG). PIL's global settings are never
changed; truncated files are errors, not silently padded images.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from facegate.config import DecodeLimits
from facegate.errors import (
    ImageTooLargeException,
    InvalidImageFormatException,
    InvalidParameterException,
)

# MPO is the multi-picture JPEG that many phone cameras write; its first frame is a JPEG.
_ACCEPTED = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG"}
_PARSERS = ["JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP"]
_BOMB_SIZE = re.compile(r"\((\d+) pixels\)")


@dataclass(frozen=True)
class DecodedImage:
    """An upright RGB image and where it came from."""

    pixels: np.ndarray  # (height, width, 3) uint8, C-contiguous
    format: str  # "JPEG" or "PNG"
    original_mode: str

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


def _human_bytes(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB" if n >= 1024 * 1024 else f"{n} bytes"


def decode_image(data: bytes, limits: DecodeLimits | None = None) -> DecodedImage:
    """Decode JPEG or PNG ``data`` into an upright RGB image within ``limits``.

    Raises ``ImageTooLargeException`` (too many bytes or pixels), ``InvalidImageFormatException``
    (empty, not an image, truncated, or not JPEG/PNG) or ``InvalidParameterException`` (smaller
    than the minimum side).
    """
    limits = limits or DecodeLimits()
    if not data:
        raise InvalidImageFormatException("The image is empty (0 bytes). Send a JPEG or PNG.")
    if len(data) > limits.max_bytes:
        raise ImageTooLargeException(
            f"The image is {_human_bytes(len(data))}; the limit is "
            f"{_human_bytes(limits.max_bytes)}. Send a smaller or more compressed JPEG or PNG."
        )
    with warnings.catch_warnings():
        # PIL warns (and later raises) on huge images; we check the size ourselves first.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            # Only these parsers ever see client bytes; the last four are recognised only so
            # that the error can name the format (MPO comes through the JPEG parser).
            image = Image.open(io.BytesIO(data), formats=_PARSERS)
        except UnidentifiedImageError:
            raise InvalidImageFormatException(
                "The bytes are not a JPEG or PNG image (the format could not be recognised)."
            ) from None
        except Image.DecompressionBombError as exc:
            # PIL refuses past twice its own limit before we see the size; keep its count.
            found = _BOMB_SIZE.search(str(exc))
            raise _too_many_pixels(None, limits, int(found.group(1)) if found else None) from None
        except Exception as exc:  # malformed headers raise many different things
            raise InvalidImageFormatException(
                f"The image header could not be read ({type(exc).__name__}); the file is "
                "damaged or not a JPEG or PNG."
            ) from None
        with image:
            fmt = _ACCEPTED.get(image.format or "")
            if fmt is None:
                raise InvalidImageFormatException(
                    f"The image is {image.format or 'of an unknown format'}; only JPEG and PNG "
                    "are accepted."
                )
            width, height = image.size
            if width * height > limits.max_pixels:
                raise _too_many_pixels((width, height), limits)
            if min(width, height) < limits.min_side:
                raise InvalidParameterException(
                    f"The image is {width}x{height} pixels; images must be at least "
                    f"{limits.min_side}x{limits.min_side}."
                )
            mode = image.mode
            try:
                image.load()
                upright = ImageOps.exif_transpose(image)
            except Image.DecompressionBombError:
                raise _too_many_pixels((width, height), limits) from None
            except (OSError, SyntaxError, ValueError, EOFError) as exc:
                raise InvalidImageFormatException(
                    f"The {fmt} image could not be decoded: it is truncated or damaged ({exc})."
                ) from None
            pixels = _to_rgb(upright)
    return DecodedImage(pixels=pixels, format=fmt, original_mode=mode)


def _too_many_pixels(
    size: tuple[int, int] | None, limits: DecodeLimits, pixels: int | None = None
) -> ImageTooLargeException:
    if size:
        got = f"{size[0]}x{size[1]} = {size[0] * size[1] / 1e6:.1f} megapixels"
    else:
        got = f"{pixels / 1e6:.1f} megapixels" if pixels else "too large"
    return ImageTooLargeException(
        f"The image is {got}; the limit is {limits.max_pixels / 1e6:.0f} megapixels. "
        "Scale it down before sending."
    )


def _to_rgb(image: Image.Image) -> np.ndarray:
    """Any PIL mode to 8-bit RGB: 16-bit scaled, alpha composited on white, CMYK converted."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit grey (PNG): PIL's convert("L") would clip, so scale 0..65535 to 0..255.
        grey = np.asarray(image, dtype=np.uint32)
        peak = 65535 if grey.max(initial=0) > 255 or mode.startswith("I;16") else 255
        grey8 = (grey * 255 // peak).clip(0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.stack([grey8] * 3, axis=-1))
    if mode == "F":
        grey = np.nan_to_num(np.asarray(image, dtype=np.float32)).clip(0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.stack([grey] * 3, axis=-1))
    if mode == "P":
        image = image.convert("RGBA") if "transparency" in image.info else image.convert("RGB")
        mode = image.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))
