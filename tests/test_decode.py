"""Safe decoding: every kind of bad input gets its documented error; odd modes decode right."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from facegate.config import DecodeLimits
from facegate.errors import (
    ImageTooLargeException,
    InvalidImageFormatException,
    InvalidParameterException,
)
from facegate.vision.decode import decode_image
from tests.conftest import read

FACE = "london/neutral_front/001_03.jpg"


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    )


def png_bomb(side: int = 30000) -> bytes:
    """A valid 1-bit PNG of side x side white pixels: ~100 KB that inflates to 112 MB."""
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    row = b"\x00" + b"\xff" * ((side + 7) // 8)
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def encode(image: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


def face_image() -> Image.Image:
    return Image.open(io.BytesIO(read(FACE))).convert("RGB")


BAD = {
    "empty": (b"", InvalidImageFormatException),
    "random": (np.random.default_rng(7).bytes(5000), InvalidImageFormatException),
    "text named .jpg": (b"this is not an image, just text\n" * 20, InvalidImageFormatException),
    "truncated jpeg": (read(FACE)[: len(read(FACE)) // 2], InvalidImageFormatException),
    "truncated png header": (read("face_recognition/32bit.png")[:60], InvalidImageFormatException),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_bytes_get_invalid_image_format(name):
    data, error = BAD[name]
    with pytest.raises(error) as info:
        decode_image(data)
    assert info.value.message  # a message a person can act on
    assert info.value.type_name == error.__name__


def test_png_bomb_is_refused_from_the_header():
    with pytest.raises(ImageTooLargeException, match=r"900\.0 megapixels"):
        decode_image(png_bomb())


def test_jpeg_header_claiming_huge_size_is_refused():
    data = bytearray(read(FACE))
    sof = data.find(b"\xff\xc0")  # baseline start-of-frame: height and width follow
    if sof < 0:
        sof = data.find(b"\xff\xc2")
    struct.pack_into(">HH", data, sof + 5, 60000, 60000)
    with pytest.raises(ImageTooLargeException):
        decode_image(bytes(data))


def test_byte_limit_is_checked_before_parsing():
    with pytest.raises(ImageTooLargeException, match="limit"):
        decode_image(read(FACE), DecodeLimits(max_bytes=1000))


def test_gif_is_refused_with_the_format_named():
    data = encode(face_image(), "GIF")
    with pytest.raises(InvalidImageFormatException, match="GIF"):
        decode_image(data)


def test_one_pixel_image_is_too_small():
    with pytest.raises(InvalidParameterException, match="80x80"):
        decode_image(encode(Image.new("RGB", (1, 1)), "PNG"))


def test_sixteen_bit_png_keeps_its_tones():
    grey = np.asarray(face_image().convert("L"), dtype=np.uint16) * 257
    data = encode(Image.fromarray(grey.astype("<u2")), "PNG")
    decoded = decode_image(data)
    assert decoded.pixels.dtype == np.uint8 and decoded.pixels.shape[2] == 3
    expected = np.asarray(face_image().convert("L"))
    assert np.abs(decoded.pixels[..., 0].astype(int) - expected).max() <= 1


def test_cmyk_jpeg_becomes_rgb():
    rgb = face_image()
    decoded = decode_image(encode(rgb.convert("CMYK"), "JPEG", quality=95))
    assert decoded.pixels.shape == (rgb.height, rgb.width, 3)
    assert np.abs(decoded.pixels.astype(int) - np.asarray(rgb, dtype=int)).mean() < 8


def test_rgba_png_is_composited_on_white():
    decoded = decode_image(read("face_recognition/32bit.png"))
    assert decoded.original_mode == "RGBA" and decoded.pixels.shape[2] == 3


def test_palette_and_grey_pngs_decode():
    for mode in ("P", "L", "LA", "1"):
        decoded = decode_image(encode(face_image().convert(mode), "PNG"))
        assert decoded.pixels.shape == (640, 640, 3), mode


def test_exif_orientation_is_applied():
    upright = face_image()
    # Store the pixels turned 90 degrees clockwise and say so in EXIF (orientation 6 = the
    # viewer must turn it 90 degrees clockwise... back): decoding must give the upright image.
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    decoded = decode_image(encode(stored, "JPEG", quality=95, exif=exif.tobytes()))
    assert decoded.pixels.shape == (640, 640, 3)
    diff = np.abs(decoded.pixels.astype(int) - np.asarray(upright, dtype=int)).mean()
    assert diff < 6
    wide = upright.crop((0, 0, 640, 320))
    decoded = decode_image(
        encode(wide.transpose(Image.Transpose.ROTATE_90), "JPEG", exif=exif.tobytes())
    )
    assert (decoded.width, decoded.height) == (640, 320)
