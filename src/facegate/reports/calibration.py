"""The calibration behind the accountability report's limitations and testing sections.

:func:`calibration_facts` reads the shipped calibration artifact: its data set and groups,
the rates at the default and operating thresholds, and the limitations they imply, in words.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

TEN_TIMES = 10.0  # a group's false match rate this many times the pooled one is called out


def rate(value: float | None) -> str:
    """A rate for people: a percentage from 0.01%, else scientific notation."""
    if value is None:
        return "n/a"
    if value == 0:
        return "0"
    if value >= 1e-4:
        return f"{round(value * 100, 2):g}%"
    return f"{value:.1e}"


def _people(n: Any) -> str:
    return f"{n} person" if n == 1 else f"{n} people"


def _table_row(document: dict[str, Any], threshold: float) -> dict[str, Any] | None:
    """The calibration table's row at ``threshold``, or the nearest row below it.

    Below is the cautious side: a lower threshold matches more impostors, so the rates stated
    are not lower than the ones at ``threshold``.
    """
    rows = [r for r in document.get("table", []) if float(r["threshold"]) <= threshold]
    return max(rows, key=lambda r: float(r["threshold"])) if rows else None


def calibration_facts(
    document: dict[str, Any], default: float, operating: float
) -> tuple[dict[str, Any], list[str]]:
    """The calibration's groups and rates at the default and operating thresholds, and the
    limitations they imply, in words."""
    dataset = document.get("dataset", {})
    groups = dataset.get("groups", {})
    at_default = _table_row(document, default)
    at_operating = _table_row(document, operating)
    rows = []
    for name, group in groups.items():
        row = {
            "group": name,
            "subjects": group.get("subjects"),
            "genuine_pairs": group.get("genuine_pairs"),
            "same_group_impostor_pairs": group.get("same_group_impostor_pairs"),
            "lowest_supported_fmr": group.get("lowest_supported_fmr"),
        }
        for label, table_row in (("default", at_default), ("operating", at_operating)):
            rates = (table_row or {}).get("groups", {}).get(name, {})
            row[f"fmr_at_{label}"] = rates.get("fmr")
            row[f"fnmr_at_{label}"] = rates.get("fnmr")
        rows.append(row)
    limitations = []
    anchors = [
        f"{a['similarity']:g} is where the false match rate is at most {a['target_fmr']:g} "
        + ("in every demographic group and pooled" if a["rule"] == "worst_group" else "pooled")
        for a in document.get("anchor_rules", [])
    ]
    if anchors:
        limitations.append(
            "A similarity is calibrated to a stated false match rate (FMR: the share of pairs of "
            "different people that reach a threshold) on the calibration data: "
            + "; ".join(anchors)
            + "."
        )
    if at_default is not None:
        pooled = at_default["pooled"]["fmr"]
        high = sorted(
            (
                (r["fmr_at_default"], r["group"])
                for r in rows
                if r["fmr_at_default"] is not None
                and pooled
                and r["fmr_at_default"] >= TEN_TIMES * pooled
            ),
            reverse=True,
        )
        if high:
            limitations.append(
                f"The model separates some groups far worse than others. At the default threshold "
                f"{at_default['threshold']:g}, where the pooled FMR is {rate(pooled)}, "
                "same-group impostors match "
                + ", ".join(f"{rate(fmr)} of the time among {g}" for fmr, g in high)
                + f" (at least {TEN_TIMES:g} times the pooled rate)."
            )
    if at_operating is not None:
        fnmr = at_operating["pooled"]["fnmr"]
        fmr = at_operating["pooled"]["fmr"]
        limitations.append(
            f"At threshold {at_operating['threshold']:g} the pooled FMR on the calibration data is "
            f"{rate(fmr)} and two photos of the same person fail to match {rate(fnmr)} of the "
            "time (every same-person pair counted, including frontal against three-quarter views). "
            "The higher the threshold, the fewer the false matches and the more the missed ones."
        )
    weak = [
        f"{r['group']} ({_people(r['subjects'])})"
        for r in rows
        if r["lowest_supported_fmr"] is None or r["lowest_supported_fmr"] > 1e-4
    ]
    if weak:
        limitations.append(
            "The calibration data has too few people in some groups to support small rates: for "
            + ", ".join(weak)
            + " it cannot show that the FMR is below 1 in 10,000, only below about one over the "
            "number of same-group impostor pairs (none for a group of one person)."
        )
    limitations.append(
        f"Every rate was measured on the calibration data only ({dataset.get('name', '?')}: "
        f"{dataset.get('subjects', '?')} people, {dataset.get('images', '?')} images). Other "
        "populations and conditions (phone photos, CCTV, children, elderly people) give other, "
        "usually higher, false match rates; docs/calibration.md describes the data."
    )
    failures: Counter[str] = Counter()
    for key, n in dataset.get("failures_to_enroll", {}).items():
        failures[key.rsplit(": ", 1)[-1]] += int(n)
    if failures:
        limitations.append(
            "Faces that fail the quality bar are not enrolled (on the calibration data: "
            + ", ".join(
                f"{n} images for {reason.lower().replace('_', ' ')}"
                for reason, n in sorted(failures.items())
            )
            + "); strongly turned faces cannot be searched for."
        )
    facts = {
        "version": document.get("version"),
        "model_version": document.get("model_version"),
        "metric": document.get("metric"),
        "dataset": {
            k: dataset.get(k)
            for k in ("name", "created", "images", "subjects", "genuine_pairs", "impostor_pairs")
        },
        "group_columns": dataset.get("group_columns"),
        "anchors": document.get("anchor_rules", []),
        "default_threshold": default,
        "operating_threshold": operating,
        "table_threshold_default": at_default["threshold"] if at_default else None,
        "table_threshold_operating": at_operating["threshold"] if at_operating else None,
        "pooled_at_default": (at_default or {}).get("pooled"),
        "pooled_at_operating": (at_operating or {}).get("pooled"),
        "groups": rows,
    }
    return facts, limitations
