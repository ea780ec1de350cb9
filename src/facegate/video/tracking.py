"""Following faces across sampled frames so that each person gets one ``Index``.

A face joins a track when it overlaps the track's last box (IoU) AND looks like its last
face (descriptor distance), or -- after the person left the picture or was hidden -- when it
looks like the track's mean face closely enough to be the same person again. Otherwise it
starts a new track. Assignment within a frame is greedy by score, one face per track.

Distances are Euclidean between dlib descriptors: about 0.6 separates people (dlib's own
tolerance); re-identification after a gap asks for less (0.5), because nothing else
vouches for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

IOU_MIN = 0.3
CONTINUITY_DISTANCE = 0.6
REID_DISTANCE = 0.5
MAX_GAP_MS = 1500  # a track not seen for longer can only be rejoined by re-identification


@dataclass
class Observation:
    timestamp_ms: int
    box: tuple[float, float, float, float]  # left, top, right, bottom in pixels
    vector: np.ndarray
    rank: tuple[float, ...]  # higher is a better face to search with
    detail: dict[str, Any]  # the Rekognition FaceDetail


@dataclass
class Track:
    index: int
    observations: list[Observation] = field(default_factory=list)
    _sum: np.ndarray | None = None

    @property
    def last(self) -> Observation:
        return self.observations[-1]

    @property
    def centroid(self) -> np.ndarray:
        assert self._sum is not None
        return self._sum / len(self.observations)

    def add(self, obs: Observation) -> None:
        self.observations.append(obs)
        self._sum = obs.vector.astype(np.float64) if self._sum is None else self._sum + obs.vector

    def best(self, k: int) -> list[Observation]:
        """The ``k`` best faces to search with (quality level, then size)."""
        return sorted(self.observations, key=lambda o: o.rank, reverse=True)[:k]

    @property
    def start_ms(self) -> int:
        return self.observations[0].timestamp_ms

    @property
    def end_ms(self) -> int:
        return self.observations[-1].timestamp_ms


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    left, top = max(a[0], b[0]), max(a[1], b[1])
    right, bottom = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, right - left) * max(0.0, bottom - top)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64) - b))


class Tracker:
    def __init__(
        self,
        *,
        iou_min: float = IOU_MIN,
        continuity: float = CONTINUITY_DISTANCE,
        reid: float = REID_DISTANCE,
        max_gap_ms: int = MAX_GAP_MS,
    ):
        self.iou_min, self.continuity, self.reid, self.max_gap_ms = (
            iou_min,
            continuity,
            reid,
            max_gap_ms,
        )
        self.tracks: list[Track] = []

    def _score(self, track: Track, obs: Observation) -> float | None:
        """How well ``obs`` continues ``track`` (None: it does not)."""
        recent = obs.timestamp_ms - track.last.timestamp_ms <= self.max_gap_ms
        if recent:
            overlap = iou(track.last.box, obs.box)
            near = _distance(track.last.vector, obs.vector)
            if overlap >= self.iou_min and near < self.continuity:
                return 2.0 + overlap - near
        same = _distance(track.centroid, obs.vector)
        if same < self.reid:
            return 1.0 - same
        return None

    def add_frame(self, observations: list[Observation]) -> None:
        """One sampled frame's faces (a track takes at most one face of a frame)."""
        pairs = []
        for i, obs in enumerate(observations):
            for t, track in enumerate(self.tracks):
                if track.last.timestamp_ms >= obs.timestamp_ms:
                    continue  # already has a face in this frame
                score = self._score(track, obs)
                if score is not None:
                    pairs.append((score, i, t))
        taken_obs: set[int] = set()
        taken_tracks: set[int] = set()
        for _score, i, t in sorted(pairs, reverse=True):
            if i in taken_obs or t in taken_tracks:
                continue
            self.tracks[t].add(observations[i])
            taken_obs.add(i)
            taken_tracks.add(t)
        for i, obs in enumerate(observations):
            if i not in taken_obs:
                track = Track(index=len(self.tracks))
                track.add(obs)
                self.tracks.append(track)


def track_faces(frames: list[tuple[int, list[Observation]]], **options: Any) -> list[Track]:
    """Tracks of the faces in ``frames`` (in time order), indexed by first appearance."""
    tracker = Tracker(**options)
    for _timestamp, observations in sorted(frames, key=lambda f: f[0]):
        tracker.add_frame(observations)
    return tracker.tracks
