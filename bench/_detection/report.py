"""Recall, false detections and time from the per-image results, and the printed tables."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from _common import summarize
from _detection.evalset import BANDS, FULL_BAND, TRANSFORMS, EvalImage, TrueFace
from _detection.matching import Matched
from facegate.vision.geometry import Box

# Groups with fewer subjects are listed but left out of the spread between groups.
SPREAD_MIN_SUBJECTS = 4
BAND_ORDER = (*BANDS, FULL_BAND)
VIEW_KINDS = ("front", "3quarter", "profile")


@dataclass(frozen=True)
class ImageResult:
    image: EvalImage
    boxes: tuple[Box, ...]
    ns: int
    matched: Matched


Key = Callable[[EvalImage, TrueFace], str]


def _cell(flags: Sequence[bool]) -> dict[str, Any]:
    found = sum(flags)
    return {"faces": len(flags), "found": found, "recall": round(found / len(flags), 4)}


def _faces(results: Sequence[ImageResult]) -> list[tuple[EvalImage, TrueFace, bool]]:
    return [
        (r.image, face, found)
        for r in results
        for face, found in zip(r.image.faces, r.matched.found, strict=True)
    ]


def _by(rows: Sequence[tuple[EvalImage, TrueFace, bool]], key: Key) -> dict[str, Any]:
    groups: dict[str, list[bool]] = defaultdict(list)
    for image, face, found in rows:
        groups[key(image, face)].append(found)
    return {name: _cell(flags) for name, flags in sorted(groups.items())}


def _by2(
    rows: Sequence[tuple[EvalImage, TrueFace, bool]], outer: Key, inner: Key
) -> dict[str, Any]:
    split: dict[str, list[tuple[EvalImage, TrueFace, bool]]] = defaultdict(list)
    for row in rows:
        split[outer(row[0], row[1])].append(row)
    return {name: _by(part, inner) for name, part in sorted(split.items())}


def group_spread(by_group: dict[str, Any], subjects: dict[str, int]) -> dict[str, Any]:
    """Highest minus lowest recall (points) over groups of at least SPREAD_MIN_SUBJECTS."""
    counted = {
        g: c["recall"] for g, c in by_group.items() if subjects.get(g, 0) >= SPREAD_MIN_SUBJECTS
    }
    if not counted:
        return {"points": None}
    low, high = min(counted, key=counted.__getitem__), max(counted, key=counted.__getitem__)
    return {
        "points": round(100 * (counted[high] - counted[low]), 2),
        "lowest": low,
        "highest": high,
        "groups_left_out": sorted(set(by_group) - set(counted)),
    }


def summary(results: Sequence[ImageResult], subjects: dict[str, int]) -> dict[str, Any]:
    """Everything reported for one detector on one set of images."""
    rows = _faces(results)
    by_group = _by(rows, lambda i, f: f.group)
    false_by_kind: dict[str, list[int]] = defaultdict(list)
    ms_by_kind: dict[str, list[float]] = defaultdict(list)
    for r in results:
        false_by_kind[r.image.kind].append(r.matched.false_detections)
        ms_by_kind[r.image.kind].append(r.ns / 1e6)
    false_total = sum(r.matched.false_detections for r in results)
    ious = [i for r in results for i in r.matched.ious if i is not None]
    small = [row for row in rows if row[1].band != FULL_BAND]
    return {
        "images": len(results),
        "faces": len(rows),
        "found": sum(found for _, _, found in rows),
        "recall": _cell([found for _, _, found in rows])["recall"] if rows else None,
        "recall_small_faces_30_80px": _cell([f for _, _, f in small])["recall"] if small else None,
        "by_band": _by(rows, lambda i, f: f.band),
        "by_view_kind": _by(rows, lambda i, f: f.kind),
        "by_group": by_group,
        "group_spread": group_spread(by_group, subjects),
        "by_transform": _by(rows, lambda i, f: i.transform),
        "by_background": _by(rows, lambda i, f: i.background),
        "by_image_kind": _by(rows, lambda i, f: i.kind),
        "by_view": _by(rows, lambda i, f: f.view),
        "by_view_kind_and_band": _by2(rows, lambda i, f: f.kind, lambda i, f: f.band),
        "by_group_and_band": _by2(rows, lambda i, f: f.group, lambda i, f: f.band),
        "by_group_and_view_kind": _by2(rows, lambda i, f: f.group, lambda i, f: f.kind),
        "by_transform_and_band": _by2(rows, lambda i, f: i.transform, lambda i, f: f.band),
        "false_detections": {
            "total": false_total,
            "near_a_face": sum(r.matched.false_near_faces for r in results),
            "per_image": round(false_total / len(results), 4) if results else None,
            "per_image_by_kind": {
                k: round(sum(v) / len(v), 4) for k, v in sorted(false_by_kind.items())
            },
        },
        "ms_per_image": {
            **summarize([r.ns / 1e6 for r in results], "ms", ("mean", "median", "p90"), digits=1),
            "by_kind": {
                k: summarize(v, "ms", ("mean", "median"), digits=1)
                for k, v in sorted(ms_by_kind.items())
            },
        },
        "median_iou_of_matches": round(statistics.median(ious), 3) if ious else None,
        "loose_matches": {
            "count": sum(r.matched.loose for r in results),
            "share_of_matches": round(sum(r.matched.loose for r in results) / len(ious), 4)
            if ious
            else None,
        },
    }


# --------------------------------------------------------------------------- printing


def _pct(summary: dict[str, Any], section: str | None, key: str | None) -> str:
    """Recall in % of one breakdown's cell, or overall (``section`` None)."""
    if section is None:
        return f"{100 * summary['recall']:5.1f}"
    cell = summary[section].get(key)
    return "    -" if cell is None else f"{100 * cell['recall']:5.1f}"


def table(title: str, summaries: dict[str, dict[str, Any]]) -> str:
    """Recall (%) per band, view and transform, false detections, the share of loose matches
    and the time, one row per detector; then recall per group."""
    cols: list[tuple[str, str | None, str | None]] = [
        ("all", None, None),
        *((b, "by_band", b) for b in BAND_ORDER),
        *((k[:5], "by_view_kind", k) for k in VIEW_KINDS),
        *((t[:5], "by_transform", t) for t in TRANSFORMS),
    ]
    width = max(len(n) for n in summaries) if summaries else 8
    head = f"{'detector':<{width}} " + " ".join(f"{c:>5}" for c, _, _ in cols)
    lines = [title, head + "  false/img  loose%  ms/img   n_img"]
    for name, s in summaries.items():
        cells = [_pct(s, section, key) for _, section, key in cols]
        fd, t = s["false_detections"]["per_image"], s["ms_per_image"]["mean_ms"]
        loose = s["loose_matches"]["share_of_matches"] or 0.0
        lines.append(
            f"{name:<{width}} "
            + " ".join(cells)
            + f"  {fd:9.3f}  {100 * loose:6.1f}  {t:6.0f}  {s['images']:6d}"
        )
    groups = sorted({g for s in summaries.values() for g in s["by_group"]})
    lines.append("")
    lines.append(f"{'recall % per group':<24}" + "".join(f"{n[-20:]:>22}" for n in summaries))
    for g in groups:
        row = []
        for s in summaries.values():
            cell = s["by_group"].get(g)
            row.append(
                f"{'-':>22}"
                if cell is None
                else f"{100 * cell['recall']:>14.1f} ({cell['faces']:>4})"
            )
        lines.append(f"{g:<24}" + "".join(row))
    spread = [
        "-" if s["group_spread"]["points"] is None else f"{s['group_spread']['points']:.1f}"
        for s in summaries.values()
    ]
    lines.append(f"{'spread (points)':<24}" + "".join(f"{x:>22}" for x in spread))
    return "\n".join(lines)
