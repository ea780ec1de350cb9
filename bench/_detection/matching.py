"""Which detections found which true faces.

A detection **matches** a true face when their intersection over union is at least
``MIN_IOU`` (0.4), or when the detection's centre lies inside the true box and the two widths
are within a factor ``MAX_WIDTH_RATIO`` (2) of each other: detectors draw boxes differently
(HOG's is smaller than the CNN box the truth comes from; BlazeFace's, mapped to HOG's
convention, sits towards the nose on a turned face), and a box on the face is a found face.
Matches by the second rule only are counted apart (``loose``), so a detector whose boxes sit
badly shows it. Matching is one to one, greedy: the candidate pairs in decreasing IoU, each
face and each detection used at most once. A true face with no match is **missed**; a
detection matching no face is a **false detection** (in a canvas, anything off the pasted
faces, including a second box on the same face; on an original, anything but its one face).
False detections are also counted apart when they lie **near a face** (the detection's centre
within the true box widened by its own width on every side: a duplicate or misplaced box on a
face, hair or an ear) rather than on the background.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from facegate.vision.geometry import Box, iou

MIN_IOU = 0.4
MAX_WIDTH_RATIO = 2.0
RULE = (
    f"IoU >= {MIN_IOU}, or the detection's centre inside the true box with widths within a "
    f"factor {MAX_WIDTH_RATIO:g} (a 'loose' match); one to one, greedy by IoU; a detection "
    "matching no true face is a false detection"
)


@dataclass(frozen=True)
class Matched:
    found: tuple[bool, ...]  # per true face
    ious: tuple[float | None, ...]  # per true face, of its match
    false_detections: int
    false_near_faces: int  # of false_detections, those near a true face

    @property
    def loose(self) -> int:
        """Matches with an IoU under MIN_IOU (found by the centre rule)."""
        return sum(1 for i in self.ious if i is not None and i < MIN_IOU)


def _centre_inside(a: Box, b: Box) -> bool:
    x, y = (a.left + a.right) / 2, (a.top + a.bottom) / 2
    return b.left <= x <= b.right and b.top <= y <= b.bottom


def _near(face: Box, detection: Box) -> bool:
    w, h = face.width, face.height
    wide = Box(face.left - w, face.top - h, face.right + w, face.bottom + h)
    return _centre_inside(detection, wide)


def matches(face: Box, detection: Box) -> bool:
    """The rule above for one pair."""
    if iou(face, detection) >= MIN_IOU:
        return True
    ratio = detection.width / face.width if face.width > 0 else 0.0
    return _centre_inside(detection, face) and 1 / MAX_WIDTH_RATIO <= ratio <= MAX_WIDTH_RATIO


def match(faces: Sequence[Box], detections: Sequence[Box]) -> Matched:
    """One image's true faces against its detections."""
    pairs = sorted(
        (
            (iou(f, d), i, j)
            for i, f in enumerate(faces)
            for j, d in enumerate(detections)
            if matches(f, d)
        ),
        reverse=True,
    )
    face_iou: dict[int, float] = {}
    used: set[int] = set()
    for overlap, i, j in pairs:
        if i in face_iou or j in used:
            continue
        face_iou[i] = overlap
        used.add(j)
    false = [d for j, d in enumerate(detections) if j not in used]
    return Matched(
        found=tuple(i in face_iou for i in range(len(faces))),
        ious=tuple(face_iou.get(i) for i in range(len(faces))),
        false_detections=len(false),
        false_near_faces=sum(any(_near(f, d) for f in faces) for d in false),
    )
