"""Non-maximum suppression of BlazeFace's candidate boxes, within a pass and across passes.

Candidates are arrays: ``boxes`` (N, 4) as left, top, right, bottom in pixels of the original
image, ``keypoints`` (N, K, 2) in the same pixels, ``scores`` (N,) as probabilities.

:func:`weighted_nms` is MediaPipe's ``WEIGHTED`` suppression (its NonMaxSuppression
calculator): take the best-scoring candidate, gather every candidate overlapping it by more
than the IoU limit, and replace the group by the score-weighted mean of their boxes and
keypoints, keeping the best score. The networks answer a face with a cluster of neighbouring
anchors; the mean is steadier than any one of them. :func:`suppress_nested` then drops a box
lying mostly inside a better one (a face cut at a tile's edge, a chin found as a face).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# MediaPipe's face detection graphs merge anchors overlapping by more than this IoU.
MERGE_IOU = 0.3
# A box covered by a better one over more than this share of its own area is dropped.
NESTED_LIMIT = 0.5


@dataclass(frozen=True)
class Candidates:
    boxes: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def take(self, index: np.ndarray | list[int]) -> Candidates:
        return Candidates(self.boxes[index], self.keypoints[index], self.scores[index])

    @staticmethod
    def empty(points: int) -> Candidates:
        return Candidates(
            np.zeros((0, 4), np.float64), np.zeros((0, points, 2), np.float64), np.zeros(0)
        )

    @staticmethod
    def join(parts: list[Candidates], points: int) -> Candidates:
        if not parts:
            return Candidates.empty(points)
        return Candidates(
            np.concatenate([p.boxes for p in parts]),
            np.concatenate([p.keypoints for p in parts]),
            np.concatenate([p.scores for p in parts]),
        )


def _areas(boxes: np.ndarray) -> np.ndarray:
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def _intersections(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    width = np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0])
    height = np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1])
    return np.clip(width, 0, None) * np.clip(height, 0, None)


def ious(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of ``box`` with each of ``boxes`` (0 where the union is empty)."""
    inter = _intersections(box, boxes)
    union = _areas(box[np.newaxis])[0] + _areas(boxes) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def weighted_nms(found: Candidates, limit: float = MERGE_IOU) -> Candidates:
    """MediaPipe's weighted suppression: each group of overlapping boxes becomes its mean."""
    if len(found) == 0:
        return found
    order = np.argsort(-found.scores, kind="stable")
    remaining = order
    boxes, points, scores = [], [], []
    while remaining.size:
        best = remaining[0]
        group = remaining[ious(found.boxes[best], found.boxes[remaining]) > limit]
        if group.size == 0:  # a degenerate box overlaps nothing, not even itself
            group = remaining[:1]
        weights = found.scores[group] / found.scores[group].sum()
        boxes.append(np.tensordot(weights, found.boxes[group], axes=1))
        points.append(np.tensordot(weights, found.keypoints[group], axes=1))
        scores.append(found.scores[best])
        remaining = remaining[~np.isin(remaining, group)]
    return Candidates(np.stack(boxes), np.stack(points), np.asarray(scores))


def suppress_nested(found: Candidates, limit: float = NESTED_LIMIT) -> Candidates:
    """Drop boxes that lie mostly (more than ``limit`` of their area) inside a better one."""
    order = np.argsort(-found.scores, kind="stable")
    areas = _areas(found.boxes)
    kept: list[int] = []
    for i in order:
        if kept:
            inter = _intersections(found.boxes[i], found.boxes[kept])
            smaller = np.minimum(areas[i], areas[kept])
            share = np.where(smaller > 0, inter / np.where(smaller > 0, smaller, 1.0), 0.0)
            if (share > limit).any():
                continue
        kept.append(int(i))
    return found.take(kept)
