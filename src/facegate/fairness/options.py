"""Fairer thresholds compared (docs/fairness.md, "Fairer thresholds"): every group's FMR and
FNMR under the global threshold, the worst-group threshold and the cluster-normalized
scores, each fitted on half of the subjects and measured on the other half
(:func:`compare_threshold_options`, ``facegate fairness evaluate --compare-options``), and
the comparison as an HTML fragment for the report page (:func:`options_html`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from facegate.fairness import metrics as m
from facegate.fairness.normalization import DEFAULT_CLUSTERS, fit_cluster_normalizer
from facegate.fairness.pairs import DEFAULT_MAX_IMPOSTORS, SEED, Face, scored_pairs
from facegate.fairness.worst_group import worst_group_threshold_for
from facegate.vision.calibration import Calibration

__all__ = [
    "OPTIONS",
    "OPTION_NAMES",
    "compare_threshold_options",
    "options_html",
    "split_subjects",
]

OPTIONS: dict[str, str] = {
    "global": "baseline: one global threshold from the pooled impostors",
    "worst_group": "worst-group threshold: the target FMR holds in every group with enough pairs",
    "cluster_normalized": "cluster-normalized scores (Fair Score Normalization) and the "
    "global threshold re-derived on them",
}


def split_subjects(faces: Sequence[Face], seed: int = SEED) -> tuple[set[str], set[str]]:
    """Two subject-disjoint halves (fit, evaluation), seeded, stratified by group: each group's
    subjects (sorted) are shuffled and split in half; with an odd count a seeded coin decides
    which half gets the extra subject. Labels only decide the evaluation's design (every group
    appears on both sides where it can); the normalization fitted on one half never reads them.
    """
    group_of: dict[str, str] = {}
    for f in faces:
        group_of.setdefault(f.subject, f.group)
    by_group: dict[str, list[str]] = {}
    for subject in sorted(group_of):
        by_group.setdefault(group_of[subject], []).append(subject)
    rng = np.random.default_rng(seed)
    fit: set[str] = set()
    held: set[str] = set()
    for g in sorted(by_group):
        members = by_group[g]
        order = rng.permutation(len(members))
        half = (len(members) + int(rng.integers(2))) // 2
        fit.update(members[k] for k in order[:half])
        held.update(members[k] for k in order[half:])
    return fit, held


def _ratio(value: float | None, target: float) -> float | None:
    return None if value is None else value / target


def _rates_under(
    comparisons: m.Comparisons, threshold: float, alpha: float, target_fmr: float
) -> dict[str, Any]:
    fmr = m.per_group_fmr(comparisons, threshold)
    fnmr = m.per_group_fnmr(comparisons, threshold)
    imp = ~comparisons.mated
    pooled_fmr = m.Rate(int(np.sum(comparisons.scores[imp] >= threshold)), int(imp.sum()))
    pooled_fnmr = m.Rate(
        int(np.sum(comparisons.scores[comparisons.mated] < threshold)),
        int(comparisons.mated.sum()),
    )
    defined = [g for g in fmr if fmr[g].defined and fnmr[g].defined]
    summary = m.summary_measures({g: fmr[g] for g in defined}, {g: fnmr[g] for g in defined}, alpha)
    return {
        "threshold": threshold,
        "pooled": {"fmr": pooled_fmr.to_dict(), "fnmr": pooled_fnmr.to_dict()},
        "groups": {
            g: {
                "fmr": fmr[g].to_dict(),
                "fnmr": fnmr[g].to_dict(),
                "fmr_ratio_to_target": _ratio(fmr[g].value, target_fmr),
                "fmr_support": m.data_support(fmr[g], target_fmr).to_dict(),
            }
            for g in fmr
        },
        "summary": summary.gate_measures(),
    }


def compare_threshold_options(
    faces: Sequence[Face],
    calibration: Calibration,
    *,
    model_version: str,
    target_fmr: float,
    alpha: float = m.DEFAULT_ALPHA,
    max_impostors: int = DEFAULT_MAX_IMPOSTORS,
    clusters: int = DEFAULT_CLUSTERS,
    seed: int = SEED,
) -> dict[str, Any]:
    """Every group's FMR and FNMR under each threshold option, at the same target FMR.

    The subjects are split in two halves (:func:`split_subjects`). On the *fit* half: the
    global threshold (pooled impostors at the target), the worst-group threshold (the target
    holds in every group with enough same-group impostor pairs; group labels are read here, at
    calibration, and never at inference) and the cluster normalization (k-means over the fit
    faces' embeddings, no labels). On the *evaluation* half, whose people none of them has
    seen: each option's per-group rates and summary measures. Measuring on the fit half would
    flatter the options, the normalization most (its clusters and offsets are tuned to those
    very pairs).
    """
    fit_subjects, held_subjects = split_subjects(faces, seed)
    fit_faces = [f for f in faces if f.subject in fit_subjects]
    held_faces = [f for f in faces if f.subject in held_subjects]
    section: dict[str, Any] = {
        "target_fmr": target_fmr,
        "alpha": alpha,
        "options": {},
        "descriptions": dict(OPTIONS),
        "split": {
            "method": "Subject-disjoint halves, stratified by group, seeded: thresholds and the "
            "normalization are fitted on one half of the subjects and every rate here is "
            "measured on the other half",
            "seed": seed,
            "fit": {
                "subjects": len(fit_subjects),
                "faces": len(fit_faces),
                "groups": dict(sorted(Counter(f.group for f in fit_faces).items())),
            },
            "evaluation": {
                "subjects": len(held_subjects),
                "faces": len(held_faces),
                "groups": dict(sorted(Counter(f.group for f in held_faces).items())),
            },
        },
        "limits": [],
    }
    if len(fit_subjects) < 2 or len(held_subjects) < 2:
        section["skipped"] = "fewer than two subjects in a half: no comparison is possible"
        return section
    fit_cmp, fit_note, fit_i, fit_j = scored_pairs(fit_faces, calibration, max_impostors, seed)
    held_cmp, held_note, held_i, held_j = scored_pairs(held_faces, calibration, max_impostors, seed)
    section["split"]["fit"]["pairs"] = fit_note
    section["split"]["evaluation"]["pairs"] = held_note
    baseline = m.threshold_at_fmr(fit_cmp.scores[~fit_cmp.mated], target_fmr)
    if baseline.threshold is None:
        section["skipped"] = baseline.reason
        return section
    limits: list[str] = section["limits"]
    if not baseline.supported:
        limits.append(f"fit half: {baseline.reason}")
    options = section["options"]
    options["global"] = {
        **_rates_under(held_cmp, baseline.threshold, alpha, target_fmr),
        "fit": baseline.to_dict(),
    }
    worst = worst_group_threshold_for(fit_cmp, target_fmr)
    assert worst.threshold is not None  # the pooled threshold exists
    options["worst_group"] = {
        **_rates_under(held_cmp, worst.threshold, alpha, target_fmr),
        "fit": worst.to_dict(),
    }
    for g, reason in worst.insufficient.items():
        limits.append(f"worst-group threshold: {g} left out ({reason})")
    normalizer = fit_cluster_normalizer(
        np.stack([f.embedding for f in fit_faces]),
        [f.subject for f in fit_faces],
        fit_i,
        fit_j,
        fit_cmp.scores,
        target_fmr=target_fmr,
        model_version=model_version,
        score_scale=calibration.version,
        clusters=clusters,
        seed=seed,
    )
    assigned = normalizer.assign(np.stack([f.embedding for f in held_faces]))
    normalized = m.Comparisons(
        scores=normalizer.normalize_assigned(held_cmp.scores, assigned[held_i], assigned[held_j]),
        mated=held_cmp.mated,
        subject_a=held_cmp.subject_a,
        subject_b=held_cmp.subject_b,
        group_a=held_cmp.group_a,
        group_b=held_cmp.group_b,
    )
    options["cluster_normalized"] = {
        **_rates_under(normalized, normalizer.threshold, alpha, target_fmr),
        "fit": normalizer.summary(),
    }
    if normalizer.note:
        limits.append(f"cluster normalization: {normalizer.note}")
    missing = sorted(
        set(section["split"]["fit"]["groups"]) ^ set(section["split"]["evaluation"]["groups"])
    )
    if missing:
        limits.append(
            f"groups with subjects on one side of the split only (too few to compare): "
            f"{', '.join(missing)}"
        )
    limits.append(
        "The thresholds of the cluster-normalized option are on the normalized scale and cannot "
        "be compared with the others' numbers; compare the rates."
    )
    return section


OPTIONS_PAGE = """<h2 id="fairer-thresholds">Fairer thresholds: the options compared</h2>
{% if s.skipped %}<p class="warn">No comparison: {{ s.skipped }}</p>{% else %}
<p>Target FMR {{ s.target_fmr }}. {{ s.split.method }} (seed {{ s.split.seed }}):
fitted on {{ s.split.fit.subjects }} subjects ({{ s.split.fit.faces }} faces), measured on
{{ s.split.evaluation.subjects }} other subjects ({{ s.split.evaluation.faces }} faces).
No option uses a demographic label at inference.</p>
<ul>{% for key in order %}<li><b>{{ names[key] }}</b>: {{ s.descriptions[key] }}</li>
{% endfor %}</ul>
<table><tr><th rowspan="2">group</th><th colspan="{{ order|length }}">FMR (same-group)</th>
<th colspan="{{ order|length }}">FNMR</th></tr><tr>
{% for _ in range(2) %}{% for key in order %}<th>{{ names[key] }}</th>{% endfor %}{% endfor %}
</tr>
{% for g in groups %}<tr><td>{{ g }}</td>
{% for kind in ("fmr", "fnmr") %}{% for key in order %}
<td>{{ rate(s.options[key].groups[g][kind]) }}</td>{% endfor %}{% endfor %}</tr>{% endfor %}
<tr><td><i>pooled</i></td>{% for kind in ("fmr", "fnmr") %}{% for key in order %}
<td>{{ rate(s.options[key].pooled[kind]) }}</td>{% endfor %}{% endfor %}</tr>
<tr><td><i>threshold (fitted)</i></td>{% for key in order %}
<td>{{ "%.3f"|format(s.options[key].threshold) }}{% if key == "cluster_normalized" %}
(normalized scale){% endif %}</td>{% endfor %}<td colspan="{{ order|length }}"></td></tr>
</table>
<table><tr><th>measure</th>{% for key in order %}<th>{{ names[key] }}</th>{% endfor %}
<th>fair at</th></tr>
{% for name, fair in [("fmr_max_geomean", 1), ("fnmr_max_geomean", 1), ("fmr_max_min", 1),
("fnmr_max_min", 1), ("fdr", 1), ("ir", 1), ("garbe", 0)] %}
<tr><td>{{ name }}</td>{% for key in order %}
<td>{{ measure(s.options[key].summary[name]) }}</td>{% endfor %}<td>{{ fair }}</td></tr>
{% endfor %}</table>
<div class="warn"><b>Limits of this comparison.</b><ul>{% for l in s.limits %}<li>{{ l }}</li>
{% endfor %}</ul></div>{% endif %}
"""

OPTION_NAMES = {
    "global": "global",
    "worst_group": "worst-group",
    "cluster_normalized": "cluster-normalized",
}


def options_html(section: dict[str, Any]) -> str:
    """The comparison of threshold options as an HTML fragment for the report page."""
    from jinja2 import Environment

    def rate(x: dict[str, Any] | None) -> str:
        if not x or x.get("value") is None:
            return "undefined"
        return f"{x['value']:.3g} ({x['errors']}/{x['trials']})"

    def measure(x: dict[str, Any] | None) -> str:
        if not x:
            return "-"
        if x.get("value") is None:
            return "undefined"
        return f"{x['value']:.4g}"

    order = [k for k in OPTIONS if k in section.get("options", {})]
    groups = sorted({g for k in order for g in section["options"][k]["groups"]})
    template = Environment(autoescape=True).from_string(OPTIONS_PAGE)
    return template.render(
        s=section, order=order, names=OPTION_NAMES, groups=groups, rate=rate, measure=measure
    )
