"""The detection evaluation set, built at run time from the London set and a seed.

Every image is made here, in memory, from the London photos (CC BY 4.0, DeBruine and Jones
2017) and backgrounds drawn from the seeded generator: nothing is downloaded, and the same seed
gives the same images (and JPEG bytes, with the same Pillow) on every machine.

* **Canvases** (``canvas-640x480``, ``canvas-1280x960``): London faces pasted small on a
  background, one face per cell of a grid (3x2 cells at 640x480, 4x3 at 1280x960) at a random
  place in its cell. Each face is the head region around its true box (the box widened by
  ``CROP_MARGIN``), scaled so the true box is ``w`` px wide with ``w`` drawn uniformly from its
  size band (30-40, 40-60 or 60-80 px; the bands take turns through the shuffled faces, so
  each canvas holds faces of every band) and blended in through a feathered ellipse, so the
  studio backdrop fades into the background. The face's true box is where it was pasted.
* **Originals** (``original-640x640``): the London photo itself, its face about 200 px wide
  (size band ``full``), true box from :mod:`_detection.truth`.

Backgrounds take turns: ``plain`` (a neutral colour with a gentle gradient), ``noise``
(multi-octave coloured value noise, like foliage or a rough wall) and ``clutter`` (random
rectangles and ellipses, like an indoor scene); originals keep their studio backdrop. Each
image then gets one transform, in turn:

* ``none``;
* ``dark``: ``DARK_GAIN * x``, every value halved: about two stops under-exposed (a quarter of
  the light; sRGB values scale by about 0.25 ** (1/2.2));
* ``shadows``: ``255 * (x/255) ** SHADOWS_GAMMA`` (gamma 2): highlights kept, mid-tones and
  shadows pushed down (mid-grey 128 becomes 64, a darker skin tone of 90 becomes 32), as in
  a backlit face; it is harder on darker skin by construction, which is the point;
* ``low_contrast``: ``m + LOW_CONTRAST * (x - m)`` around the image's mean ``m`` (haze, a
  washed-out print).

Images are JPEG-encoded at quality ``JPEG_QUALITY``: detectors get bytes, as the service does.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from _common import view_kind
from _detection.truth import SourceFace
from facegate.vision.geometry import Box

BANDS: dict[str, tuple[int, int]] = {"30-40": (30, 40), "40-60": (40, 60), "60-80": (60, 80)}
FULL_BAND = "full"
BACKGROUNDS = ("plain", "noise", "clutter")
TRANSFORMS = ("none", "dark", "shadows", "low_contrast")
CANVASES: dict[str, tuple[int, int, int, int]] = {
    # kind: width, height, grid columns, grid rows
    "canvas-640x480": (640, 480, 3, 2),
    "canvas-1280x960": (1280, 960, 4, 3),
}
ORIGINAL = "original-640x640"
# The head region pasted around a true box of width w: w * (left, top, right, bottom) beyond it.
CROP_MARGIN = (0.45, 0.6, 0.45, 0.45)
FEATHER = 0.08  # blur radius of the ellipse's edge, share of the crop's width
DARK_GAIN = 0.5
SHADOWS_GAMMA = 2.0
LOW_CONTRAST = 0.35
JPEG_QUALITY = 90


@dataclass(frozen=True)
class TrueFace:
    """A face in an evaluation image: where it is and what it shows."""

    box: Box
    source: str  # the London image, view/file
    subject: str
    group: str  # "<ethnicity> <sex>" from subjects.csv
    view: str  # London view folder
    kind: str  # front, 3quarter, profile
    band: str  # 30-40, 40-60, 60-80, full
    width_px: float


@dataclass(frozen=True)
class EvalImage:
    name: str
    kind: str  # canvas-640x480, canvas-1280x960, original-640x640
    background: str
    transform: str
    data: bytes
    width: int
    height: int
    faces: tuple[TrueFace, ...]


@dataclass(frozen=True)
class Plan:
    """How many images of each kind: ``copies`` pastes of every source face per canvas kind,
    ``originals`` originals (a seeded sample, None: every image)."""

    copies: dict[str, int]
    originals: int | None
    source_limit: int | None = None  # a seeded sample of source faces (quick runs)


def subject_groups(root: Path) -> dict[str, str]:
    """Subject id -> "<ethnicity> <sex>" from the London set's subjects.csv."""
    with open(root / "subjects.csv", newline="") as handle:
        return {
            row["face_id"]: f"{row['face_eth']} {row['face_gender']}"
            for row in csv.DictReader(handle)
        }


# --------------------------------------------------------------------------- pixels


def _jpeg(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def transform(pixels: np.ndarray, name: str) -> np.ndarray:
    """One of ``TRANSFORMS`` applied to an RGB image."""
    if name == "none":
        return pixels
    x = pixels.astype(np.float32)
    if name == "dark":
        out = DARK_GAIN * x
    elif name == "shadows":
        out = 255.0 * (x / 255.0) ** SHADOWS_GAMMA
    elif name == "low_contrast":
        mean = x.mean()
        out = mean + LOW_CONTRAST * (x - mean)
    else:
        raise ValueError(name)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _value_noise(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Octaves of smooth random noise, 0..1, shape (height, width, 3)."""
    total = np.zeros((height, width, 3), dtype=np.float32)
    weight = 0.0
    for cell, amplitude in ((160, 1.0), (64, 0.6), (24, 0.35), (8, 0.2)):
        small = rng.random((height // cell + 2, width // cell + 2, 3))
        image = Image.fromarray((small * 255).astype(np.uint8)).resize(
            ((width // cell + 2) * cell, (height // cell + 2) * cell), Image.Resampling.BICUBIC
        )
        total += amplitude * np.asarray(image)[:height, :width] / 255.0
        weight += amplitude
    return total / weight


def background(rng: np.random.Generator, name: str, width: int, height: int) -> np.ndarray:
    """One of ``BACKGROUNDS``, RGB uint8."""
    if name == "plain":
        base = rng.uniform(110, 210) + rng.uniform(-20, 20, size=3)
        ramp = np.linspace(-1, 1, width)[None, :, None] * rng.uniform(-25, 25)
        ramp = ramp + np.linspace(-1, 1, height)[:, None, None] * rng.uniform(-25, 25)
        noise = rng.normal(0, 2, size=(height, width, 3)).astype(np.float32)
        pixels = (base + ramp).astype(np.float32) + noise
    elif name == "noise":
        tint = rng.uniform(0.5, 1.0, size=3)
        pixels = 40 + 190 * _value_noise(rng, width, height) * tint
    elif name == "clutter":
        image = Image.new("RGB", (width, height), tuple(int(v) for v in rng.integers(60, 200, 3)))
        draw = ImageDraw.Draw(image)
        for _ in range(int(rng.integers(40, 90))):
            x0, y0 = rng.uniform(-0.1, 1.0) * width, rng.uniform(-0.1, 1.0) * height
            w, h = rng.uniform(0.03, 0.3) * width, rng.uniform(0.03, 0.3) * height
            colour = tuple(int(v) for v in rng.integers(0, 256, 3))
            shape = draw.rectangle if rng.random() < 0.6 else draw.ellipse
            shape((x0, y0, x0 + w, y0 + h), fill=colour)
        image = image.filter(ImageFilter.GaussianBlur(1.2))
        pixels = np.asarray(image, dtype=np.float32)
    else:
        raise ValueError(name)
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


def head_crop(face: SourceFace, width_px: float) -> tuple[Image.Image, np.ndarray, Box]:
    """The head region around ``face``'s box scaled so the box is ``width_px`` wide: the crop,
    its feathered elliptical alpha (0..1) and the true box in the crop's pixels."""
    image = Image.open(face.path).convert("RGB")
    b, w = face.box, face.box.width
    ml, mt, mr, mb = CROP_MARGIN
    left, top = max(0, round(b.left - ml * w)), max(0, round(b.top - mt * w))
    right = min(image.width, round(b.right + mr * w))
    bottom = min(image.height, round(b.bottom + mb * w))
    scale = width_px / w
    size = (max(1, round((right - left) * scale)), max(1, round((bottom - top) * scale)))
    crop = image.crop((left, top, right, bottom)).resize(
        size, Image.Resampling.LANCZOS, reducing_gap=3.0
    )
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).ellipse((0, 0, size[0] - 1, size[1] - 1), fill=255)
    feather = max(1.0, FEATHER * size[0])
    # Shrink the ellipse by the blur radius so the feathered edge stays inside the crop.
    inner = Image.new("L", size, 0)
    ImageDraw.Draw(inner).ellipse(
        (feather, feather, size[0] - 1 - feather, size[1] - 1 - feather), fill=255
    )
    mask = inner.filter(ImageFilter.GaussianBlur(feather / 2))
    alpha = np.asarray(mask, dtype=np.float32)[:, :, None] / 255.0
    box = Box(b.left - left, b.top - top, b.right - left, b.bottom - top).scaled(scale)
    return crop, alpha, box


# --------------------------------------------------------------------------- the set


def _true_face(face: SourceFace, groups: dict[str, str], box: Box, band: str) -> TrueFace:
    return TrueFace(
        box=box,
        source=face.name,
        subject=face.subject,
        group=groups.get(face.subject, "unknown"),
        view=face.view,
        kind=view_kind(face.view),
        band=band,
        width_px=round(box.width, 1),
    )


def _canvases(
    rng: np.random.Generator,
    kind: str,
    queue: Sequence[SourceFace],
    groups: dict[str, str],
    counter: Iterator[int],
) -> Iterator[EvalImage]:
    width, height, cols, rows = CANVASES[kind]
    cell_w, cell_h = width // cols, height // rows
    per = cols * rows
    bands = list(BANDS)
    for index, start in enumerate(range(0, len(queue), per)):
        back = BACKGROUNDS[(index // len(TRANSFORMS)) % len(BACKGROUNDS)]
        trans = TRANSFORMS[index % len(TRANSFORMS)]
        pixels = background(rng, back, width, height).astype(np.float32)
        faces: list[TrueFace] = []
        cells = rng.permutation(per)
        for slot, face in enumerate(queue[start : start + per]):
            band = bands[(start + slot) % len(bands)]
            lo, hi = BANDS[band]
            crop, alpha, box = head_crop(face, float(rng.uniform(lo, hi)))
            cw, ch = crop.size
            cell = int(cells[slot])
            cx, cy = (cell % cols) * cell_w, (cell // cols) * cell_h
            x = cx + int(rng.integers(0, max(1, cell_w - cw)))
            y = cy + int(rng.integers(0, max(1, cell_h - ch)))
            # A crop larger than its cell (clipped at the canvas edge) keeps its top-left.
            x, y = min(x, width - cw), min(y, height - ch)
            region = pixels[y : y + ch, x : x + cw]
            region[:] = alpha * np.asarray(crop, dtype=np.float32) + (1 - alpha) * region
            faces.append(
                _true_face(
                    face,
                    groups,
                    Box(box.left + x, box.top + y, box.right + x, box.bottom + y),
                    band,
                )
            )
        out = transform(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), trans)
        yield EvalImage(
            name=f"{kind}-{next(counter):04d}",
            kind=kind,
            background=back,
            transform=trans,
            data=_jpeg(out),
            width=width,
            height=height,
            faces=tuple(faces),
        )


def build(
    sources: Sequence[SourceFace], groups: dict[str, str], plan: Plan, seed: int
) -> list[EvalImage]:
    """The evaluation set for ``plan``: canvases of each kind, then the originals."""
    rng = np.random.default_rng(seed)
    pool = list(sources)
    if plan.source_limit is not None and plan.source_limit < len(pool):
        pool = [pool[i] for i in sorted(rng.choice(len(pool), plan.source_limit, replace=False))]
    images: list[EvalImage] = []
    counter = itertools.count()
    for kind, copies in plan.copies.items():
        queue = [pool[i] for _ in range(copies) for i in rng.permutation(len(pool))]
        images.extend(_canvases(rng, kind, queue, groups, counter))
    originals = pool
    if plan.originals is not None and plan.originals < len(pool):
        originals = [pool[i] for i in sorted(rng.choice(len(pool), plan.originals, replace=False))]
    for index, face in enumerate(originals):
        trans = TRANSFORMS[index % len(TRANSFORMS)]
        pixels = transform(np.asarray(Image.open(face.path).convert("RGB")), trans)
        height, width = pixels.shape[:2]
        images.append(
            EvalImage(
                name=f"{ORIGINAL}-{next(counter):04d}",
                kind=ORIGINAL,
                background="studio",
                transform=trans,
                data=_jpeg(pixels),
                width=width,
                height=height,
                faces=(_true_face(face, groups, face.box, FULL_BAND),),
            )
        )
    return images


def describe(images: Sequence[EvalImage]) -> dict[str, Any]:
    """Counts of images and faces per kind, and of faces per group, view, band, transform and
    background: the set's description in the results."""
    faces = [(image, face) for image in images for face in image.faces]

    def count(key: Any) -> dict[str, int]:
        return dict(sorted(Counter(key(i, f) for i, f in faces).items()))

    return {
        "images": len(images),
        "faces": len(faces),
        "images_per_kind": dict(sorted(Counter(i.kind for i in images).items())),
        "faces_per_kind": count(lambda i, f: i.kind),
        "faces_per_group": count(lambda i, f: f.group),
        "subjects_per_group": _subjects_per_group(faces),
        "faces_per_view_kind": count(lambda i, f: f.kind),
        "faces_per_view": count(lambda i, f: f.view),
        "faces_per_band": count(lambda i, f: f.band),
        "faces_per_transform": count(lambda i, f: i.transform),
        "faces_per_background": count(lambda i, f: i.background),
        "face_width_px": {
            "min": min(f.width_px for _, f in faces),
            "max": max(f.width_px for _, f in faces),
        },
    }


def _subjects_per_group(faces: Sequence[tuple[EvalImage, TrueFace]]) -> dict[str, int]:
    subjects = {(f.subject, f.group) for _, f in faces}
    return dict(sorted(Counter(group for _, group in subjects).items()))
