"""The audit report as a self-contained HTML page: DET curves and score distributions per
group (matplotlib, embedded as PNG), the tables, the summary measures and the data's limits."""

from __future__ import annotations

import base64
import io
from typing import Any

from jinja2 import Environment

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Demographic audit: {{ r.model_version }} on {{ r.dataset }}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#111}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #999;padding:.3rem .6rem;
text-align:right}th{background:#eee}td:first-child,th:first-child{text-align:left}
.warn{background:#fff3cd;padding:.5rem 1rem;border-left:4px solid #b58100}
</style></head><body>
<h1>Demographic audit of {{ r.model_version }}</h1>
<p>Dataset <b>{{ r.dataset }}</b>: {{ r.faces }} faces of {{ r.subjects }} subjects;
{{ r.pairs.genuine_pairs }} genuine and {{ r.pairs.impostor_pairs }} impostor pairs
({{ r.pairs.sample }}). Calibration {{ r.calibration }}. {{ r.method }}.</p>
{% if r.threshold.threshold is not none %}
<p>Global threshold <b>{{ "%.3f"|format(r.threshold.threshold) }}</b> (similarity) at a target
FMR of {{ r.target_fmr }}: {{ r.threshold.false_matches }} of {{ r.threshold.impostors }} pooled
impostor pairs at or above it.</p>
{% endif %}
<div class="warn"><b>Limits of these data.</b><ul>{% for l in r.limits %}<li>{{ l }}</li>
{% endfor %}</ul></div>
<h2>Per-group error rates at the global threshold</h2>
<table><tr><th>group</th><th>subjects</th><th>faces</th><th>FMR (same-group)</th>
<th>95% Wilson</th><th>FNMR</th><th>95% Wilson</th><th>failure to acquire</th>
<th>supports the target?</th></tr>
{% for g, x in r.groups.items() %}<tr><td>{{ g }}</td><td>{{ x.subjects }}</td>
<td>{{ x.faces }}</td><td>{{ rate(x.fmr) }}</td><td>{{ ci(x.fmr_interval) }}</td>
<td>{{ rate(x.fnmr) }}</td><td>{{ ci(x.fnmr_interval) }}</td>
<td>{{ rate(x.failure_to_acquire) if x.failure_to_acquire else "-" }}</td>
<td>{{ "yes" if x.fmr_support.supported else "no" }}</td></tr>{% endfor %}</table>
<h2>Summary measures (alpha {{ r.alpha }})</h2>
<table><tr><th>measure</th><th>value</th><th>fair at</th></tr>
{% for name, fair in [("fmr_max_geomean", 1), ("fnmr_max_geomean", 1), ("fmr_max_min", 1),
("fnmr_max_min", 1), ("fdr", 1), ("ir", 1), ("garbe", 0)] %}
<tr><td>{{ name }}</td><td>{{ measure(r.summary[name]) }}</td><td>{{ fair }}</td></tr>
{% endfor %}</table>
<h2>DET curves per group</h2><img alt="DET curves: false non-match rate against false match
rate for each group, log-log" src="data:image/png;base64,{{ det }}">
<h2>Score distributions per group</h2><img alt="Histograms of genuine and impostor
similarity scores for each group" src="data:image/png;base64,{{ hist }}">
<h2>Cross-group FMR</h2><table><tr><th></th>{% for h in r.fmr_matrix.groups %}
<th>{{ h }}</th>{% endfor %}</tr>{% for g in r.fmr_matrix.groups %}<tr><td>{{ g }}</td>
{% for h in r.fmr_matrix.groups %}<td>{{ rate(r.fmr_matrix.fmr[g][h]) }}</td>{% endfor %}</tr>
{% endfor %}</table>
<p>How to read this: docs/fairness.md. This report follows NIST's method; it is not a
certification to ISO/IEC 19795-10.</p>
</body></html>"""


def _rate(x: dict[str, Any] | None) -> str:
    if not x or x.get("value") is None:
        return "undefined"
    return f"{x['value']:.3g} ({x['errors']}/{x['trials']})"


def _ci(x: dict[str, Any]) -> str:
    if x.get("low") is None:
        return "-"
    return f"{x['low']:.2g} to {x['high']:.2g}"


def _measure(x: dict[str, Any] | None) -> str:
    if not x:
        return "-"
    if x.get("value") is None:
        return f"undefined ({x.get('reason')})"
    return f"{x['value']:.4g}"


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def _figure(width: float, height: float) -> Any:
    """A matplotlib figure of its own (no pyplot state: safe in a server's threads)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def det_chart(groups: dict[str, Any], target_fmr: float | None) -> str:
    """DET curves per group (FNMR against FMR, log scale), as a base64 PNG."""
    figure = _figure(7, 5)
    axis = figure.add_subplot(1, 1, 1)
    for g, x in groups.items():
        points = [(a, b) for a, b in zip(x["det"]["fmr"], x["det"]["fnmr"], strict=True) if a > 0]
        if points:
            axis.plot(*zip(*points, strict=True), label=g)
    axis.set_xscale("log")
    axis.set_xlabel("false match rate")
    axis.set_ylabel("false non-match rate")
    if target_fmr:
        axis.axvline(target_fmr, color="grey", linestyle=":")
    axis.legend(fontsize=7)
    return _png(figure)


def score_histograms(groups: dict[str, Any]) -> str:
    """Genuine and impostor similarity scores per group (log counts), as a base64 PNG."""
    rows = max(1, len(groups))
    figure = _figure(7, 1.6 * rows)
    axes = figure.subplots(rows, 1, squeeze=False)
    for ax, (g, x) in zip(axes[:, 0], groups.items(), strict=False):
        edges = x["genuine_scores"]["edges"][:-1]
        ax.bar(edges, x["impostor_scores"]["counts"], width=2, alpha=0.6, label="impostor")
        ax.bar(edges, x["genuine_scores"]["counts"], width=2, alpha=0.6, label="genuine")
        ax.set_yscale("log")
        ax.set_title(g, fontsize=8)
        ax.legend(fontsize=6)
    return _png(figure)


def render(report: dict[str, Any]) -> str:
    groups = report.get("groups", {})
    env = Environment(autoescape=True)
    template = env.from_string(PAGE)
    return template.render(
        r=report,
        det=det_chart(groups, report["target_fmr"]),
        hist=score_histograms(groups),
        rate=_rate,
        ci=_ci,
        measure=_measure,
    )
