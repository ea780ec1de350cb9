"""The tracker's rules on constructed sightings (the real clip is in test_video.py).

Descriptors here are unit-scale vectors placed at known distances: dlib's descriptors put the
same person within about 0.5 and different people beyond about 0.6.
"""

from __future__ import annotations

import numpy as np

from facegate.video.tracking import Observation, iou, track_faces

RNG = np.random.default_rng(7)


def person() -> np.ndarray:
    v = RNG.normal(size=128)
    return v / np.linalg.norm(v)


def near(v: np.ndarray, distance: float) -> np.ndarray:
    """A vector at exactly ``distance`` from ``v``."""
    step = RNG.normal(size=128)
    step -= step @ v * v
    return v + distance * step / np.linalg.norm(step)


def seen(t: int, box: tuple[float, float, float, float], v: np.ndarray, size: float = 90):
    return Observation(t, box, v.astype(np.float32), (2, size), {"BoundingBox": {}})


def test_iou():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    assert abs(iou((0, 0, 10, 10), (5, 0, 15, 10)) - 1 / 3) < 1e-9


def test_a_moving_face_keeps_its_index():
    a = person()
    frames = [
        (t, [seen(t, (100 + t // 20, 50, 190 + t // 20, 140), near(a, 0.3))])
        for t in range(0, 3000, 200)
    ]
    tracks = track_faces(frames)
    assert len(tracks) == 1 and len(tracks[0].observations) == 15


def test_someone_else_in_the_same_place_is_a_new_person():
    a, b = person(), person()
    box = (100, 50, 190, 140)
    frames = [
        (0, [seen(0, box, a)]),
        (200, [seen(200, box, near(a, 0.2))]),
        (400, [seen(400, box, b)]),
    ]
    tracks = track_faces(frames)
    assert [len(t.observations) for t in tracks] == [2, 1]


def test_a_person_who_returns_after_a_gap_is_recognised():
    a, b = person(), person()
    frames = [
        (0, [seen(0, (0, 0, 90, 90), a)]),
        (200, [seen(200, (300, 0, 390, 90), b)]),
        (5000, [seen(5000, (500, 200, 590, 290), near(a, 0.35))]),
    ]
    tracks = track_faces(frames)
    assert [t.index for t in tracks] == [0, 1]
    assert [o.timestamp_ms for o in tracks[0].observations] == [0, 5000]


def test_a_look_alike_after_a_gap_is_not_merged():
    a = person()
    frames = [
        (0, [seen(0, (0, 0, 90, 90), a)]),
        (5000, [seen(5000, (0, 0, 90, 90), near(a, 0.55))]),
    ]
    assert len(track_faces(frames)) == 2  # overlap alone does not vouch after a gap


def test_two_people_crossing_keep_their_own_tracks():
    a, b = person(), person()
    frames = []
    for step in range(10):
        t = step * 200
        xa, xb = 20 * step, 200 - 20 * step  # they pass each other at step 5
        frames.append(
            (
                t,
                [
                    seen(t, (xb, 0, xb + 90, 90), near(b, 0.2)),
                    seen(t, (xa, 0, xa + 90, 90), near(a, 0.2)),
                ],
            )
        )
    tracks = track_faces(frames)
    assert len(tracks) == 2
    for track, v in zip(tracks, (b, a), strict=True):
        assert all(np.linalg.norm(o.vector - v) < 0.25 for o in track.observations)


def test_best_faces_are_chosen_by_quality_then_size():
    a = person()
    frames = [
        (t, [Observation(t, (0, 0, 90, 90), a.astype(np.float32), rank, {})])
        for t, rank in ((0, (1, 200)), (200, (3, 80)), (400, (3, 120)), (600, (2, 300)))
    ]
    [track] = track_faces(frames)
    assert [o.timestamp_ms for o in track.best(2)] == [400, 200]
