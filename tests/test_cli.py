"""The `facegate` command line: output shapes, exit codes, and the bad-input corpus."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import DATA, read
from tests.test_decode import encode, face_image, png_bomb

pytestmark = pytest.mark.models

CLI = [sys.executable, "-m", "facegate.cli.main"]


def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


def test_detect_table_for_people():
    done = run("detect", str(DATA / "face_recognition/two_people.jpg"))
    assert done.returncode == 0, done.stderr
    assert "2 face(s)" in done.stdout and "1126x661" in done.stdout


def test_usage_errors_exit_2():
    assert run().returncode == 2
    assert run("detect").returncode == 2
    assert run("detect", "--detector", "magic", "x.jpg").returncode == 2
    assert run("compare", "only-one.jpg").returncode == 2


def test_compare_json_and_failing_source():
    done = run(
        "compare",
        "--json",
        str(DATA / "face_recognition/obama.jpg"),
        str(DATA / "face_recognition/two_people.jpg"),
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert len(result["FaceMatches"]) == 1 and len(result["UnmatchedFaces"]) == 1
    failed = run(
        "compare",
        "--json",
        str(DATA / "deepface/no_face_crop.jpg"),
        str(DATA / "face_recognition/obama.jpg"),
    )
    assert failed.returncode == 3
    assert json.loads(failed.stdout)["Error"]["Type"] == "InvalidParameterException"


def bad_corpus(folder) -> dict[str, tuple[bytes, str | int]]:
    """Each file and what `detect --json` must say: an error type or a number of faces."""
    upright = face_image()
    exif = Image.Exif()
    exif[0x0112] = 6
    grey16 = np.asarray(upright.convert("L"), dtype=np.uint16) * 257
    corpus = {
        "empty.jpg": (b"", "InvalidImageFormatException"),
        "random.jpg": (np.random.default_rng(1).bytes(20000), "InvalidImageFormatException"),
        "truncated.jpg": (
            read("face_recognition/obama.jpg")[:30000],
            "InvalidImageFormatException",
        ),
        "bomb.png": (png_bomb(), "ImageTooLargeException"),
        "sixteen-bit.png": (encode(Image.fromarray(grey16.astype("<u2")), "PNG"), 1),
        "cmyk.jpg": (encode(upright.convert("CMYK"), "JPEG", quality=95), 1),
        "rotated.jpg": (
            encode(upright.transpose(Image.Transpose.ROTATE_90), "JPEG", exif=exif.tobytes()),
            1,
        ),
        "animation.gif": (encode(upright, "GIF"), "InvalidImageFormatException"),
        "one-pixel.png": (encode(Image.new("RGB", (1, 1)), "PNG"), "InvalidParameterException"),
        "notes.jpg": (b"Shopping list: eggs, milk\n" * 40, "InvalidImageFormatException"),
        "rgba.png": (read("face_recognition/32bit.png"), 1),
    }
    for name, (data, _) in corpus.items():
        (folder / name).write_bytes(data)
    return corpus


# Runs the CLI in-process and reports the process's own peak memory on its last stderr line.
MEASURED = (
    "import resource, sys\n"
    "from facegate.cli.main import main\n"
    "code = main(sys.argv[1:])\n"
    "print(f'MAXRSS_KIB={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}', file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def test_bad_inputs_get_documented_errors_within_bounded_memory(tmp_path):
    corpus = bad_corpus(tmp_path)
    paths = [str(tmp_path / name) for name in corpus] + [str(tmp_path / "missing.jpg")]
    done = subprocess.run(  # a hang fails at the timeout
        [sys.executable, "-c", MEASURED, "detect", "--json", *paths],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 3, done.stderr  # some inputs failed, none crashed
    out = done.stdout
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["Image"] for line in lines] == paths
    for line, (name, (_, expected)) in zip(lines, corpus.items(), strict=False):
        if isinstance(expected, int):
            assert len(line.get("FaceDetails", [])) == expected, (name, line)
        else:
            assert line["Error"]["Type"] == expected, (name, line)
            assert line["Error"]["Message"]
    assert lines[-1]["Error"]["Type"] == "FileUnreadable"
    peak_kib = int(done.stderr.strip().splitlines()[-1].removeprefix("MAXRSS_KIB="))
    # The models and their runtimes (dlib, OpenCV's DNN for BlazeFace, onnxruntime) take about
    # 350 MB and the largest valid image of the corpus about 250 MB more; decoding the bomb
    # would take 2.7 GB.
    assert peak_kib < 800 * 1024, f"peak memory {peak_kib // 1024} MB"


def test_exif_rotated_face_is_found_upright(engine, tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    stored = face_image().transpose(Image.Transpose.ROTATE_90)
    rotated = engine.detect_faces(encode(stored, "JPEG", quality=95, exif=exif.tobytes()))
    upright = engine.detect_faces(read("london/neutral_front/001_03.jpg"))
    a, b = rotated["FaceDetails"][0], upright["FaceDetails"][0]
    assert abs(a["Pose"]["Roll"] - b["Pose"]["Roll"]) < 5
    for key in ("Left", "Top", "Width", "Height"):
        assert abs(a["BoundingBox"][key] - b["BoundingBox"][key]) < 0.03


def test_cmyk_and_sixteen_bit_give_the_same_face(engine):
    upright = face_image()
    base = engine.detect_faces(encode(upright, "PNG"))["FaceDetails"][0]["BoundingBox"]
    cmyk = engine.detect_faces(encode(upright.convert("CMYK"), "JPEG", quality=95))
    assert abs(cmyk["FaceDetails"][0]["BoundingBox"]["Left"] - base["Left"]) < 0.03
    grey = Image.open(io.BytesIO(encode(upright.convert("L"), "PNG")))
    assert len(engine.detect_faces(encode(grey, "PNG"))["FaceDetails"]) == 1
