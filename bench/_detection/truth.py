"""Where the face is in each London image: the ground truth every pasted face inherits.

The London set's photos are 640x640 studio portraits, one face each, in every pose from frontal
to profile. Each image's face box comes from dlib's MMOD CNN (the ``mmod_human_face_detector``
facegate loads, which finds faces in every pose), run on a copy scaled to 320 px (faces there
are about 100 px wide, above the CNN's 80-px window; four times faster than 640 px, boxes within
a few pixels), taking the highest-scoring detection and mapping it back to 640 px. Where the CNN
finds nothing, HOG (upsampled once) on the original is used; where neither finds a face the
image is left out of the evaluation set (``source: none``), and the set's description counts it.

Computing the boxes takes about 8 minutes on one core, so they are kept in
``london-faces.json`` beside this file (committed) and recomputed with
``bench/detection.py --rebuild-truth`` or when the file lacks an image of the set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from _common import log, london_images, london_views
from facegate.vision.detect import scaled_copy
from facegate.vision.geometry import Box
from facegate.vision.models import LoadedModels, load_models

TRUTH_FILE = Path(__file__).with_name("london-faces.json")
TRUTH_SIDE = 320
METHOD = (
    f"dlib MMOD CNN (mmod_human_face_detector.dat) on a copy scaled to {TRUTH_SIDE} px, the "
    "highest-scoring box mapped back to 640 px; HOG (upsampled once) on the original where the "
    "CNN finds nothing; images where neither finds a face are left out"
)


@dataclass(frozen=True)
class SourceFace:
    """One London image and where its face is."""

    path: Path
    name: str  # view/file, e.g. neutral_front/001_03.jpg
    subject: str  # 3-digit id
    view: str  # folder name, e.g. neutral_left_profile
    box: Box
    source: str  # cnn or hog


def _find(models: LoadedModels, pixels: np.ndarray) -> tuple[Box | None, str]:
    work, scale = scaled_copy(pixels, TRUTH_SIDE)
    found = sorted(models.cnn(work, 0), key=lambda d: d.confidence, reverse=True)
    if found:
        r = found[0].rect
        return Box(r.left(), r.top(), r.right() + 1, r.bottom() + 1).scaled(1.0 / scale), "cnn"
    rects, scores, _ = models.hog.run(pixels, 1, 0.0)
    if len(rects):
        r = rects[int(np.argmax(scores))]
        return Box(r.left(), r.top(), r.right() + 1, r.bottom() + 1), "hog"
    return None, "none"


def _load_file() -> dict[str, Any]:
    if TRUTH_FILE.is_file():
        data: dict[str, Any] = json.loads(TRUTH_FILE.read_text())
        if data.get("method") == METHOD:
            return data
    return {"method": METHOD, "faces": {}}


def london_faces(root: Path, rebuild: bool = False) -> tuple[list[SourceFace], dict[str, Any]]:
    """Every image of the London set at ``root`` with a face box, and a description of the
    boxes (method, how many from each detector, which images have none)."""
    data: dict[str, Any] = {"method": METHOD, "faces": {}} if rebuild else _load_file()
    known: dict[str, Any] = data["faces"]
    paths = [p for view in london_views(root) for p in london_images(view)]
    missing = [p for p in paths if f"{p.parent.name}/{p.name}" not in known]
    if missing:
        log(f"truth: finding the face in {len(missing)} London images (CNN at {TRUTH_SIDE} px)")
        models = load_models()
        for i, path in enumerate(missing, 1):
            box, source = _find(models, np.asarray(Image.open(path).convert("RGB")))
            known[f"{path.parent.name}/{path.name}"] = {
                "box": None if box is None else [round(v, 1) for v in _ltrb(box)],
                "source": source,
            }
            if i % 100 == 0:
                log(f"truth: {i}/{len(missing)}")
        _save(known)
    faces: list[SourceFace] = []
    for path in paths:
        name = f"{path.parent.name}/{path.name}"
        entry = known[name]
        if entry["box"] is None:
            continue
        faces.append(
            SourceFace(
                path=path,
                name=name,
                subject=path.name.split("_")[0],
                view=path.parent.name,
                box=Box(*entry["box"]),
                source=entry["source"],
            )
        )
    sources = [known[f"{p.parent.name}/{p.name}"]["source"] for p in paths]
    described = {
        "method": METHOD,
        "file": str(TRUTH_FILE.relative_to(TRUTH_FILE.parents[2])),
        "images": len(paths),
        "boxes_from": {s: sources.count(s) for s in ("cnn", "hog", "none")},
        "left_out": sorted(
            f"{p.parent.name}/{p.name}"
            for p in paths
            if known[f"{p.parent.name}/{p.name}"]["box"] is None
        ),
    }
    return faces, described


def _save(known: dict[str, Any]) -> None:
    """The boxes, one image a line."""
    lines = ",\n".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in sorted(known.items()))
    TRUTH_FILE.write_text(f'{{"method": {json.dumps(METHOD)},\n"faces": {{\n{lines}\n}}}}\n')


def _ltrb(box: Box) -> tuple[float, float, float, float]:
    return box.left, box.top, box.right, box.bottom
