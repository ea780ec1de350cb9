"""The evaluation runner: a labelled dataset in, a demographic audit report out.

``facegate fairness evaluate DATASET --groups FILE`` runs the real engine once per image (the
embeddings are cached on disk under the model version, so a run that stops resumes where it
was), keeps the largest face of each image that passes the quality bar, forms every genuine
pair and every impostor pair (or, beyond ``max_impostors``, a uniform sample of impostor
pairs drawn with a fixed seed: the report says so), scores them with the shipped calibrated
similarity, sets one global threshold from the pooled impostors at the target FMR, and
reports per-group FMR (same-group impostors) and FNMR, the cross-group FMR matrix, intervals,
the summary measures, capture failures and the data's limits, following NIST's method
(docs/fairness.md). No demographic label is used by the engine: labels only group results.

With ``--compare-options`` it also compares the fairer threshold options of
:mod:`facegate.fairness.normalization` (worst-group threshold, cluster-based score
normalization) with the global threshold, fitting each on half of the subjects and measuring
every group's rates on the other half (:func:`compare_threshold_options`).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from facegate.fairness import metrics as m
from facegate.fairness import normalization as fair
from facegate.fairness.normalization import DEFAULT_CLUSTERS
from facegate.vision.calibration import Calibration

REPORT_FORMAT = "facegate-fairness-report/1"
DEFAULT_TARGET_FMR = 1e-4
DEFAULT_MAX_IMPOSTORS = 2_000_000
SEED = 20260610


@dataclass(frozen=True)
class Face:
    """One enrolled face of the dataset: its subject, group and descriptor."""

    subject: str
    group: str
    embedding: np.ndarray


def pairs(
    faces: Sequence[Face], calibration: Calibration, max_impostors: int, seed: int = SEED
) -> tuple[m.Comparisons, dict[str, Any]]:
    """Every genuine pair, and every impostor pair or a seeded uniform sample of them."""
    comparisons, note, _, _ = _scored_pairs(faces, calibration, max_impostors, seed)
    return comparisons, note


def _scored_pairs(
    faces: Sequence[Face], calibration: Calibration, max_impostors: int, seed: int = SEED
) -> tuple[m.Comparisons, dict[str, Any], np.ndarray, np.ndarray]:
    """:func:`pairs`, with the two faces' indices of each pair."""
    n = len(faces)
    vectors = np.stack([f.embedding for f in faces]).astype(np.float64)
    subjects = np.array([f.subject for f in faces], dtype=object)
    groups = np.array([f.group for f in faces], dtype=object)
    i, j = np.triu_indices(n, k=1)
    mated = subjects[i] == subjects[j]
    impostor_total = int((~mated).sum())
    sampled = impostor_total > max_impostors
    if sampled:
        rng = np.random.default_rng(seed)
        impostor_idx = np.flatnonzero(~mated)
        keep = rng.choice(impostor_idx, size=max_impostors, replace=False)
        chosen = np.sort(np.concatenate([np.flatnonzero(mated), keep]))
        i, j, mated = i[chosen], j[chosen], mated[chosen]
    distances = np.linalg.norm(vectors[i] - vectors[j], axis=1)
    scores = np.asarray(calibration.similarity(distances), dtype=float)
    comparisons = m.Comparisons(
        scores=scores,
        mated=mated,
        subject_a=subjects[i],
        subject_b=subjects[j],
        group_a=groups[i],
        group_b=groups[j],
    )
    note = {
        "genuine_pairs": int(mated.sum()),
        "impostor_pairs": int((~mated).sum()),
        "impostor_pairs_possible": impostor_total,
        "impostors_sampled": sampled,
        "sample": (
            f"{max_impostors} of {impostor_total} impostor pairs drawn uniformly without "
            f"replacement (numpy default_rng, seed {seed}); every genuine pair kept"
            if sampled
            else "every pair"
        ),
    }
    return comparisons, note, i, j


def _det(scores: np.ndarray, mated: np.ndarray) -> dict[str, list[float]]:
    """Points of a DET curve (FMR, FNMR) over the group's own score range."""
    genuine, impostor = np.sort(scores[mated]), np.sort(scores[~mated])
    if not len(genuine) or not len(impostor):
        return {"threshold": [], "fmr": [], "fnmr": []}
    grid = np.unique(np.quantile(np.concatenate([genuine, impostor]), np.linspace(0, 1, 200)))
    fmr = 1.0 - np.searchsorted(impostor, grid, side="left") / len(impostor)
    fnmr = np.searchsorted(genuine, grid, side="left") / len(genuine)
    return {"threshold": grid.tolist(), "fmr": fmr.tolist(), "fnmr": fnmr.tolist()}


def _histogram(values: np.ndarray) -> dict[str, list[float]]:
    counts, edges = np.histogram(values, bins=50, range=(0.0, 100.0))
    return {"edges": edges.tolist(), "counts": counts.tolist()}


def evaluate(
    faces: Sequence[Face],
    failures: Sequence[tuple[str, str]],
    calibration: Calibration,
    *,
    model_version: str,
    dataset: str,
    target_fmr: float = DEFAULT_TARGET_FMR,
    alpha: float = m.DEFAULT_ALPHA,
    max_impostors: int = DEFAULT_MAX_IMPOSTORS,
    attempted: Counter | None = None,
    compare_options: bool = False,
    clusters: int = DEFAULT_CLUSTERS,
) -> dict[str, Any]:
    """The audit report (a JSON-ready dict) for enrolled ``faces``.

    ``failures``: (group, reason) of each image that gave no usable face; ``attempted``: images
    per group (for the failure rates). ``compare_options`` adds ``fairer_thresholds``: every
    group's FMR and FNMR under the global, the worst-group and the cluster-normalized
    threshold, measured on a subject-disjoint half (see :func:`compare_threshold_options`);
    ``clusters`` is the k asked of the normalization.
    """
    comparisons, sampling = pairs(faces, calibration, max_impostors)
    impostor_scores = comparisons.scores[~comparisons.mated]
    choice = m.threshold_at_fmr(impostor_scores, target_fmr)
    groups = sorted({f.group for f in faces})
    report: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "model_version": model_version,
        "calibration": calibration.version,
        "dataset": dataset,
        "created": datetime.now(UTC).isoformat(),
        "target_fmr": target_fmr,
        "alpha": alpha,
        "method": "NIST (NISTIR 8280): one global threshold from pooled impostors at the "
        "target FMR; per-group FMR over same-group impostor pairs; FNMR over mated pairs",
        "threshold": choice.to_dict(),
        "pairs": sampling,
        "faces": len(faces),
        "subjects": len({f.subject for f in faces}),
    }
    if choice.threshold is None:
        report["groups"] = {}
        report["summary"] = {}
        report["limits"] = [choice.reason]
        return report
    threshold = choice.threshold
    fmr = m.per_group_fmr(comparisons, threshold)
    fnmr = m.per_group_fnmr(comparisons, threshold)
    matrix = m.fmr_matrix(comparisons, threshold)
    failure_counts = Counter(g for g, _ in failures)
    per_group: dict[str, Any] = {}
    limits: list[str] = []
    for g in groups:
        in_group = (comparisons.group_a == g) & (comparisons.group_b == g)
        group_scores = comparisons.scores[in_group]
        group_mated = comparisons.mated[in_group]
        tried = (attempted or Counter()).get(g, 0)
        fta = m.Rate(failure_counts.get(g, 0), tried) if tried else None
        support = m.data_support(fmr[g], target_fmr)
        if support.insufficient and support.bound_if_no_errors is None:
            limits.append(
                f"{g}: no same-group impostor pairs (fewer than two subjects): no FMR can be "
                f"measured for it"
            )
        elif support.insufficient:
            limits.append(
                f"{g}: {fmr[g].trials} same-group impostor pairs cannot support an FMR claim at "
                f"{target_fmr:g} (needs {support.needed}; zero errors would bound it at "
                f"{support.bound_if_no_errors:.2g})"
            )
        per_group[g] = {
            "subjects": len({f.subject for f in faces if f.group == g}),
            "faces": sum(1 for f in faces if f.group == g),
            "fmr": fmr[g].to_dict(),
            "fnmr": fnmr[g].to_dict(),
            "fmr_interval": m.wilson_interval(fmr[g].errors, fmr[g].trials).to_dict(),
            "fnmr_interval": m.wilson_interval(fnmr[g].errors, fnmr[g].trials).to_dict(),
            "fmr_support": support.to_dict(),
            "failure_to_acquire": fta.to_dict() if fta else None,
            "generalized": (
                m.generalized_rates(fmr[g].value, fnmr[g].value, fta.value or 0.0).to_dict()
                if fta and fmr[g].defined and fnmr[g].defined
                else None
            ),
            "det": _det(group_scores, group_mated),
            "genuine_scores": _histogram(group_scores[group_mated]),
            "impostor_scores": _histogram(group_scores[~group_mated]),
        }
    defined = [g for g in groups if fmr[g].defined and fnmr[g].defined]
    summary = m.summary_measures({g: fmr[g] for g in defined}, {g: fnmr[g] for g in defined}, alpha)
    report["groups"] = per_group
    report["fmr_matrix"] = matrix.to_dict()
    report["summary_measures"] = summary.to_dict()
    report["summary"] = _flat_summary(summary)  # the flat view the FAIRNESS-GATE limits read
    if not choice.supported:
        limits.insert(0, choice.reason or "the pooled impostors cannot support the target")
    limits.append(
        "Groups are the labels of the dataset's subjects file; a group with few subjects "
        "gives wide intervals whatever its pair counts (pairs share subjects)."
    )
    if compare_options:
        report["fairer_thresholds"] = compare_threshold_options(
            faces,
            calibration,
            model_version=model_version,
            target_fmr=target_fmr,
            alpha=alpha,
            max_impostors=max_impostors,
            clusters=clusters,
        )
        limits.append(
            "The comparison of threshold options is measured on a subject-disjoint split: "
            "thresholds and the normalization are fitted on half of the subjects and the rates "
            "measured on the other half, so it rests on fewer pairs than the main tables."
        )
    report["limits"] = limits
    return report


def _flat_summary(summary: m.Summary) -> dict[str, Any]:
    return {
        "fmr_max_geomean": summary.fmr.max_geomean.to_dict(),
        "fnmr_max_geomean": summary.fnmr.max_geomean.to_dict(),
        "fmr_max_min": summary.fmr.max_min.to_dict(),
        "fnmr_max_min": summary.fnmr.max_min.to_dict(),
        "fdr": summary.fdr.to_dict(),
        "ir": summary.ir.to_dict(),
        "garbe": summary.garbe.to_dict(),
    }


# --------------------------------------------------------------------------------------------
# Fairer thresholds: comparing the options (docs/fairness.md, "Fairer thresholds")
# --------------------------------------------------------------------------------------------

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
                "fmr_ratio_to_target": (
                    fmr[g].value / target_fmr if fmr[g].value is not None else None
                ),
                "fmr_support": m.data_support(fmr[g], target_fmr).to_dict(),
            }
            for g in fmr
        },
        "summary": _flat_summary(summary),
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
    fit_cmp, fit_note, fit_i, fit_j = _scored_pairs(fit_faces, calibration, max_impostors, seed)
    held_cmp, held_note, held_i, held_j = _scored_pairs(
        held_faces, calibration, max_impostors, seed
    )
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
    worst = fair.worst_group_threshold_for(fit_cmp, target_fmr)
    assert worst.threshold is not None  # the pooled threshold exists
    options["worst_group"] = {
        **_rates_under(held_cmp, worst.threshold, alpha, target_fmr),
        "fit": worst.to_dict(),
    }
    for g, reason in worst.insufficient.items():
        limits.append(f"worst-group threshold: {g} left out ({reason})")
    normalizer = fair.fit_cluster_normalizer(
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


def fingerprint(paths: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(paths).encode()).hexdigest()[:16]


def write_json(report: dict[str, Any], path: Path) -> bytes:
    raw = (json.dumps(report, indent=1, sort_keys=True) + "\n").encode()
    path.write_bytes(raw)
    return raw
