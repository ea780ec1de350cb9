"""Check that a dlib build gives the same descriptors as the reference (the dlib-bin wheel).

    python bench/check_dlib_build.py --save-reference     # with the wheel installed
    python bench/check_dlib_build.py --compare-reference  # after installing another build

The reference (bench/reference-descriptors.npz, committed) holds the descriptors of the
largest face in a fixed list of test images, computed with the dlib-bin wheel. Comparing
fails (exit 1) when any descriptor differs by 1e-4 or more in any coordinate, or when a face
is found in a different place; the result goes to bench/results/dlib-build-check.json (or
dlib-build-check.json in $BENCH_RESULTS_DIR).
"""

from __future__ import annotations

import argparse
import functools
import json
import sys

import numpy as np

from _common import BENCH, DATA, results_dir, time_one, write_results
from facegate.config import load_settings
from facegate.vision.engine import FaceEngine
from facegate.vision.models import dlib_build

REFERENCE = BENCH / "reference-descriptors.npz"
IMAGES = [
    "face_recognition/obama.jpg",
    "face_recognition/biden.jpg",
    "face_recognition/two_people.jpg",
    "deepface/img1.jpg",
    "deepface/img2.jpg",
    "deepface/img17.jpg",
    "london/neutral_front/001_03.jpg",
    "london/smiling_front/005_08.jpg",
    "london/neutral_left_3quarter/006_02.jpg",
    "london/neutral_right_profile/008_05.jpg",
]
TOLERANCE = 1e-4


def describe() -> tuple[np.ndarray, np.ndarray, float]:
    """Descriptors and boxes of each image's largest face, and the mean time per descriptor."""
    engine = FaceEngine(load_settings(descriptor="dlib"))  # the build's own network
    vectors, boxes, seconds = [], [], []
    for name in IMAGES:
        pixels = engine.decode((DATA / name).read_bytes()).pixels
        face = engine.analyze_pixels(pixels).faces[0]
        elapsed, _ = time_one(functools.partial(engine.embed_faces, pixels, [face]))
        seconds.append(elapsed / 1e9)
        vectors.append(face.embedding)
        boxes.append([face.box.left, face.box.top, face.box.right, face.box.bottom])
    return np.stack(vectors), np.array(boxes), float(np.median(seconds))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--save-reference", action="store_true")
    mode.add_argument("--compare-reference", action="store_true")
    args = parser.parse_args()
    build = dlib_build()
    vectors, boxes, per_face = describe()
    if args.save_reference:
        if build["blas"]:
            print("refusing: the reference must come from the dlib-bin wheel (no BLAS)")
            return 2
        np.savez(REFERENCE, vectors=vectors, boxes=boxes, images=np.array(IMAGES))
        print(f"saved {len(IMAGES)} reference descriptors to {REFERENCE}")
        return 0
    reference = np.load(REFERENCE)
    if list(reference["images"]) != IMAGES:
        print("the reference was made from other images; save it again with the wheel")
        return 2
    diff = float(np.abs(vectors - reference["vectors"]).max())
    same_boxes = bool(np.allclose(boxes, reference["boxes"]))
    result = {
        "dlib_build": build,
        "images": len(IMAGES),
        "max_abs_descriptor_difference": diff,
        "tolerance": TOLERANCE,
        "same_face_boxes": same_boxes,
        "median_descriptor_ms": round(per_face * 1000, 2),
        "passed": diff < TOLERANCE and same_boxes,
    }
    write_results(results_dir() / "dlib-build-check.json", result, indent=1)
    print(json.dumps(result, indent=1))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
