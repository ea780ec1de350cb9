"""Real photographs with hand-placed faces: misses and false detections in real scenes.

The synthetic set (``evalset.py``) pastes studio faces onto drawn backgrounds, so it says
little about what a detector fires on in a real scene: letters of a sign, buttons, a dark
sleeve, an ear. This part runs every detector on real photographs whose faces were placed by
hand, one by one, in ``real-faces.json`` beside this file (its header says how, by whom, the
sources and their licences):

* the DeepFace project's unit-test photos (in-the-wild photos of public figures, a couple, a
  crowded selfie) and the face_recognition project's test images and examples (MIT both);
* from ``shared/data/faces`` beside the repository when it is there, else from the subset
  copied into ``tests/data`` (same names): only the photos found are measured, and the
  results name the folder. A photo whose bytes differ from the labelled file's SHA-256 is left
  out; a byte-identical copy (``same_as``) is measured once.

Each face is a centre and a width (across the cheeks), flagged ``cut`` (the frame cuts it),
``turned`` (a profile, or strongly turned or lowered), ``depicted`` (a picture within the
picture) or ``uncertain`` (not sure it is a face: mostly out-of-focus heads behind the subject).
Depicted and uncertain faces are *set aside*: neither a miss when no box is on them nor a false
detection when one is.

**Match rule.** A detection finds a labelled face when the face's centre lies inside the
detection's box and the box's width is within a factor ``MAX_WIDTH_RATIO`` (2.5) of the face's
width. The labels are centres and widths placed by eye, not boxes, so there is no IoU to take;
the width factor is wide because detectors draw boxes of different sizes (HOG's runs from the
eyebrows to the chin, BlazeFace's takes in the forehead) and the label's width is itself good
to about 10%. Matching is one to one and greedy: the candidate pairs taken closest first (the
distance between the face's centre and the box's centre over the face's width). Counted faces
are matched first; a box left over that matches a set-aside face (same rule) is set aside too;
every other box is a **false detection**. A false detection is **near a face** when its centre
lies within a labelled face's square widened by its width on every side (an ear, a second box
on a face); otherwise it is on the scene.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from _common import DATA, REPO, log, summarize
from _detection.detectors import Detector, Found
from facegate.vision.geometry import Box

LABELS = Path(__file__).with_name("real-faces.json")
# face_recognition's CNN upsamples each photo once (about 24 s per megapixel of the original on
# the dlib-bin wheel), so it runs on the photos of at most this many pixels: about 2-3 minutes.
FR_CNN_MAX_PIXELS = 400_000
SUBSET_OF = {"face_recognition cnn": "fr_cnn"}
SUBSETS = {
    "all": "every labelled photo found (with --quick: only those also in tests/data)",
    "fr_cnn": f"the photos of at most {FR_CNN_MAX_PIXELS / 1e6:g} megapixels",
}
# Every photo (the shared data beside the repository), else the subset copied for the tests.
FULL_ROOT = REPO.parent / "shared" / "data" / "faces"
FALLBACK_ROOT = DATA
FOLDERS = ("deepface", "face_recognition")
FOLDER_KINDS = {
    FULL_ROOT: "every photo (the shared data beside the repository)",
    FALLBACK_ROOT: "the subset copied into tests/data",
}
MAX_WIDTH_RATIO = 2.5
# Size bands of the counted faces' widths, in px of the original file.
WIDTH_BANDS = ((20, 40), (40, 80), (80, 160), (160, 320), (320, None))
RULE = (
    "the labelled face's centre inside the detection's box, and the box's width within a "
    f"factor {MAX_WIDTH_RATIO:g} of the face's width; one to one, greedy, closest centres "
    "first; counted faces first, then depicted and uncertain ones (set aside: neither a miss "
    "nor a false detection); every other box is a false detection, 'near a face' when its "
    "centre is within a labelled face's square widened by its width on every side"
)


@dataclass(frozen=True)
class RealFace:
    x: float
    y: float
    w: float
    cut: bool = False
    turned: bool = False
    depicted: bool = False
    uncertain: bool = False
    note: str = ""

    @property
    def counted(self) -> bool:
        """A face that is a miss when no box finds it (not depicted, not uncertain)."""
        return not (self.depicted or self.uncertain)

    @property
    def flags(self) -> list[str]:
        return [f for f in ("cut", "turned", "depicted", "uncertain") if getattr(self, f)]

    def square(self, widen: float = 0.0) -> Box:
        half = self.w / 2 + widen * self.w
        return Box(self.x - half, self.y - half, self.x + half, self.y + half)


@dataclass(frozen=True)
class Photo:
    name: str  # deepface/img1.jpg, face_recognition/knn/test/obama1.jpg
    data: bytes
    size: tuple[int, int]
    faces: tuple[RealFace, ...]
    note: str = ""


@dataclass(frozen=True)
class PhotoResult:
    photo: Photo
    found: tuple[Found, ...]
    ns: int
    matched: tuple[int | None, ...]  # per labelled face, the index of the box that found it
    false: tuple[int, ...]  # indices of the false detections
    error: str = ""  # why the detector failed on this photo (no boxes then)


def root_folder(root: Path | None = None) -> Path:
    """``root``, else the full shared photos when they are there, else tests/data."""
    if root is not None:
        return root.resolve()
    return FULL_ROOT if all((FULL_ROOT / f).is_dir() for f in FOLDERS) else FALLBACK_ROOT


def _face(entry: dict[str, Any]) -> RealFace:
    return RealFace(
        x=entry["x"],
        y=entry["y"],
        w=entry["w"],
        cut=entry.get("cut", False),
        turned=entry.get("turned", False),
        depicted=entry.get("depicted", False),
        uncertain=entry.get("uncertain", False),
        note=entry.get("note", ""),
    )


def load(root: Path | None = None) -> tuple[list[Photo], dict[str, Any]]:
    """The labelled photos found under ``root`` (``root_folder``'s choice), and a description
    of the set: the folder, which photos were missing or different, the face counts."""
    root = root_folder(root)
    labels: dict[str, Any] = json.loads(LABELS.read_text())
    photos: list[Photo] = []
    missing: list[str] = []
    changed: list[str] = []
    copies: dict[str, str] = {}
    transcoded: dict[str, str] = {}
    for name, entry in labels["photos"].items():
        if "same_as" in entry:
            copies[name] = entry["same_as"]
            continue
        path = root / name
        if not path.is_file():
            missing.append(name)
            continue
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            changed.append(name)
            continue
        kind = _format(data)
        if kind not in ("JPEG", "PNG"):
            # facegate takes JPEG and PNG only (img47.jpg is a WebP): the same pixels as a PNG.
            data = _png(data)
            transcoded[name] = f"{kind} sent as PNG"
        faces = tuple(_face(f) for f in entry["faces"])
        photos.append(Photo(name, data, tuple(entry["size"]), faces, entry.get("note", "")))
    if changed:
        log(f"real: {len(changed)} photos differ from the labelled files, left out: {changed}")
    described = {
        "folder": str(root),
        "folder_is": FOLDER_KINDS.get(root, "given on the command line"),
        "labels": str(LABELS.relative_to(REPO)),
        "labelled": labels["labelled"],
        "convention": labels["convention"],
        "sources": labels["sources"],
        "photos_labelled": len(labels["photos"]) - len(copies),
        "copies_measured_once": copies,
        "photos_missing": missing,
        "photos_differing_from_labels": changed,
        "transcoded": transcoded,
        **count_faces(photos),
    }
    return photos, described


def _format(data: bytes) -> str:
    with Image.open(io.BytesIO(data)) as image:
        return image.format or "unknown"


def _png(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with Image.open(io.BytesIO(data)) as image:
        image.save(buffer, format="PNG")
    return buffer.getvalue()


def count_faces(photos: Sequence[Photo]) -> dict[str, Any]:
    """How many photos and faces, and of which kind."""
    faces = [f for p in photos for f in p.faces]
    counted = [f for f in faces if f.counted]
    return {
        "photos": len(photos),
        "photos_by_folder": {
            folder: sum(p.name.startswith(folder + "/") for p in photos) for folder in FOLDERS
        },
        "photos_without_a_counted_face": sum(not any(f.counted for f in p.faces) for p in photos),
        "photos_with_several_counted_faces": sum(
            sum(f.counted for f in p.faces) > 1 for p in photos
        ),
        "faces_counted": len(counted),
        "counted_cut": sum(f.cut for f in counted),
        "counted_turned": sum(f.turned for f in counted),
        "counted_by_width": {
            band_name(b): sum(in_band(f, b) for f in counted) for b in WIDTH_BANDS
        },
        "depicted": sum(f.depicted for f in faces),
        "uncertain": sum(f.uncertain for f in faces),
    }


def band_name(band: tuple[int, int | None]) -> str:
    low, high = band
    return f"{low}+" if high is None else f"{low}-{high}"


def in_band(face: RealFace, band: tuple[int, int | None]) -> bool:
    low, high = band
    return face.w >= low and (high is None or face.w < high)


# --------------------------------------------------------------------------- matching


def _centre(box: Box) -> tuple[float, float]:
    return (box.left + box.right) / 2, (box.top + box.bottom) / 2


def _inside(x: float, y: float, box: Box) -> bool:
    return box.left <= x <= box.right and box.top <= y <= box.bottom


def matches(face: RealFace, box: Box) -> bool:
    """The rule above for one pair."""
    ratio = box.width / face.w
    return _inside(face.x, face.y, box) and 1 / MAX_WIDTH_RATIO <= ratio <= MAX_WIDTH_RATIO


def match(
    faces: Sequence[RealFace], boxes: Sequence[Box]
) -> tuple[tuple[int | None, ...], tuple[int, ...]]:
    """Per face the box that found it (or None), and the false detections' indices."""
    matched: dict[int, int] = {}
    used: set[int] = set()
    for counted in (True, False):
        pairs = sorted(
            (
                (_distance(f, b), i, j)
                for i, f in enumerate(faces)
                for j, b in enumerate(boxes)
                if f.counted == counted and matches(f, b)
            )
        )
        for _, i, j in pairs:
            if i in matched or j in used:
                continue
            matched[i] = j
            used.add(j)
    return (
        tuple(matched.get(i) for i in range(len(faces))),
        tuple(j for j in range(len(boxes)) if j not in used),
    )


def _distance(face: RealFace, box: Box) -> float:
    x, y = _centre(box)
    return ((x - face.x) ** 2 + (y - face.y) ** 2) ** 0.5 / face.w


def near_a_face(photo: Photo, box: Box) -> bool:
    x, y = _centre(box)
    return any(_inside(x, y, f.square(widen=1.0)) for f in photo.faces)


# --------------------------------------------------------------------------- running


def run(detector: Detector, photos: Sequence[Photo]) -> list[PhotoResult]:
    """Every photo through ``detector``, one call at a time, timed (after one untimed call)."""
    detector.detect_found(photos[0].data)
    results = []
    started = time.monotonic()
    for photo in photos:
        error = ""
        t0 = time.perf_counter_ns()
        try:
            found = detector.detect_found(photo.data)
        except Exception as failure:  # one photo's failure is reported, not fatal to the run
            found, error = [], f"{type(failure).__name__}: {failure}"
            log(f"{detector.name}: {photo.name}: {error}")
        elapsed = time.perf_counter_ns() - t0
        matched, false = match(photo.faces, [f.box for f in found])
        results.append(PhotoResult(photo, tuple(found), elapsed, matched, false, error))
    log(f"{detector.name}: {len(photos)} real photos in {time.monotonic() - started:.0f} s")
    return results


def subsets(photos: Sequence[Photo], quick: bool) -> dict[str, list[Photo]]:
    """The photos each detector runs on (SUBSETS says which)."""
    if quick:
        photos = [p for p in photos if (FALLBACK_ROOT / p.name).is_file()]
    return {
        "all": list(photos),
        "fr_cnn": [p for p in photos if p.size[0] * p.size[1] <= FR_CNN_MAX_PIXELS],
    }


def evaluate(
    detectors: Sequence[Detector],
    unavailable: dict[str, str],
    *,
    quick: bool = False,
    root: Path | None = None,
) -> tuple[dict[str, Any], str]:
    """The ``real`` section of the results and its printed tables."""
    photos, described = load(root)
    if not photos:
        reason = f"no labelled photo under {described['folder']}"
        return {"set": described, "skipped": reason}, f"\n== real photographs: {reason} =="
    chosen = {name: part for name, part in subsets(photos, quick).items() if part}
    unavailable = dict(unavailable)
    results = {}
    for detector in detectors:
        part = SUBSET_OF.get(detector.name, "all")
        if part not in chosen:
            unavailable[detector.name] = f"no photo in its subset ({part}: {SUBSETS[part]})"
            continue
        log(f"{detector.name}: {len(chosen[part])} real photos ({part})")
        results[detector.name] = run(detector, chosen[part])
    summaries: dict[str, dict[str, Any]] = {}
    for name, part_photos in chosen.items():
        wanted = {p.name for p in part_photos}
        summaries[name] = {
            d.name: summary([r for r in results[d.name] if r.photo.name in wanted])
            for d in detectors
            if d.name in results and (name == "fr_cnn" or SUBSET_OF.get(d.name, "all") == "all")
        }
    section = {
        "method": {
            "labels": described.pop("labelled"),
            "convention": described.pop("convention"),
            "match_rule": RULE,
            "subsets": SUBSETS,
            "timing": "wall time of one call per photo in this process, decode included",
            "score": "facegate's confidence (0-100, as DetectFaces reports it) and the "
            "detector that found the box; face_recognition gives neither",
        },
        "set": {
            **described,
            "measured": {name: count_faces(part) for name, part in chosen.items()},
        },
        "detectors": {
            d.name: {"runs_on": SUBSET_OF.get(d.name, "all"), "call": d.about}
            for d in detectors
            if d.name in results
        },
        "unavailable": unavailable,
        "results": summaries,
    }
    where = f"{described['folder']}, {described['folder_is']}"
    printed = [
        table(
            f"\n== real photographs, {name} ({len(chosen[name])} photos, "
            f"{count_faces(chosen[name])['faces_counted']} faces; {where}), recall % ==",
            per_detector,
            listed=40 if name == "all" else 0,
        )
        for name, per_detector in summaries.items()
        if per_detector
    ]
    return section, "\n".join(printed)


# --------------------------------------------------------------------------- the report


def _cell(flags: Sequence[bool]) -> dict[str, Any]:
    found = sum(flags)
    return {
        "faces": len(flags),
        "found": found,
        "recall": round(found / len(flags), 4) if flags else None,
    }


def _box(box: Box) -> list[float]:
    return [round(v, 1) for v in (box.left, box.top, box.right, box.bottom)]


def summary(results: Sequence[PhotoResult]) -> dict[str, Any]:
    """Everything reported for one detector on a set of photos."""
    rows = [
        (r, f, j is not None)
        for r in results
        for f, j in zip(r.photo.faces, r.matched, strict=True)
    ]
    counted = [(f, hit) for _, f, hit in rows if f.counted]
    false = [
        {
            "photo": r.photo.name,
            "box": _box(r.found[j].box),
            "width": round(r.found[j].box.width),
            "score": r.found[j].score,
            "source": r.found[j].source,
            "near_a_face": near_a_face(r.photo, r.found[j].box),
        }
        for r in results
        for j in r.false
    ]
    misses = [
        {"photo": r.photo.name, "x": f.x, "y": f.y, "w": f.w, "flags": f.flags, "note": f.note}
        for r, f, hit in rows
        if f.counted and not hit
    ]
    aside = [(f, hit) for _, f, hit in rows if not f.counted]
    return {
        "photos": len(results),
        "recall": {
            "all": _cell([hit for _, hit in counted]),
            "not_cut": _cell([hit for f, hit in counted if not f.cut]),
            "cut": _cell([hit for f, hit in counted if f.cut]),
            "turned": _cell([hit for f, hit in counted if f.turned]),
            "not_turned": _cell([hit for f, hit in counted if not f.turned]),
        },
        "recall_by_width": {
            band_name(b): _cell([hit for f, hit in counted if in_band(f, b)]) for b in WIDTH_BANDS
        },
        "false_detections": {
            "total": len(false),
            "per_photo": round(len(false) / len(results), 4) if results else None,
            "photos_with_any": len({d["photo"] for d in false}),
            "near_a_face": sum(d["near_a_face"] for d in false),
            "list": false,
        },
        "misses": misses,
        "set_aside": {
            "depicted": _cell([hit for f, hit in aside if f.depicted]),
            "uncertain": _cell([hit for f, hit in aside if f.uncertain]),
        },
        "errors": {r.photo.name: r.error for r in results if r.error},
        "ms_per_photo": summarize(
            [r.ns / 1e6 for r in results], "ms", ("mean", "median", "p90"), digits=1
        ),
    }


def _pct(cell: dict[str, Any]) -> str:
    return "    -" if cell["recall"] is None else f"{100 * cell['recall']:5.1f}"


def table(title: str, summaries: dict[str, dict[str, Any]], listed: int = 40) -> str:
    """Recall (%) overall, by cut and turned faces and by width, false detections and time,
    one row per detector; then each detector's false detections and misses."""
    bands = [band_name(b) for b in WIDTH_BANDS]
    width = max((len(n) for n in summaries), default=8)
    head = f"{'detector':<{width}}   all  !cut   cut  turn " + " ".join(f"{b:>7}" for b in bands)
    lines = [title, head + "  false  /photo  near  ms/photo"]
    for name, s in summaries.items():
        r, fd = s["recall"], s["false_detections"]
        cells = [_pct(r[k]) for k in ("all", "not_cut", "cut", "turned")]
        cells += [f"{_pct(s['recall_by_width'][b]):>7}" for b in bands]
        lines.append(
            f"{name:<{width}} "
            + " ".join(cells)
            + f"  {fd['total']:5d}  {fd['per_photo']:6.3f}  {fd['near_a_face']:4d}"
            + f"  {s['ms_per_photo']['mean_ms']:8.0f}"
        )
    for name, s in summaries.items() if listed else ():
        fd = s["false_detections"]
        lines.append(f"\n{name}: {fd['total']} false detections, {len(s['misses'])} misses")
        for d in fd["list"][:listed]:
            score = "" if d["score"] is None else f" score {d['score']:g}"
            source = "" if d["source"] is None else f" ({d['source']})"
            where = "near a face" if d["near_a_face"] else "on the scene"
            lines.append(
                f"  false  {d['photo']}  box {d['box']}{score}{source}, {d['width']} px, {where}"
            )
        for m in s["misses"][:listed]:
            flags = f" [{', '.join(m['flags'])}]" if m["flags"] else ""
            lines.append(
                f"  missed {m['photo']}  centre ({m['x']:g}, {m['y']:g}), {m['w']:g} px{flags}"
            )
        left = max(0, fd["total"] - listed) + max(0, len(s["misses"]) - listed)
        if left:
            lines.append(f"  ... {left} more in the results file")
    return "\n".join(lines)
