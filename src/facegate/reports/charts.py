"""Bar charts of published cells (PNG, embedded in the transparency report's HTML)."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

from facegate.reports.suppression import Cell


def bar_chart(title: str, labels: Sequence[str], cells: Sequence[Cell]) -> dict[str, str]:
    """A horizontal bar chart (PNG, base64) of published cells; withheld bars are not drawn.

    Withheld counts are drawn as no bar with their mark ("<5" or "x") as the label, so the
    picture says no more than the table. The alt text lists every value as published.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    height = 1.2 + 0.35 * max(1, len(labels))
    figure = Figure(figsize=(7.5, height), dpi=96)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    positions = list(range(len(labels)))[::-1]
    values = [0 if c.withheld else c.value for c in cells]
    axes.barh(positions, values, color="#33658a")
    top = max([*values, 1])
    for y, cell in zip(positions, cells, strict=True):
        axes.text(
            (0 if cell.withheld else cell.value) + top * 0.01,
            y,
            cell.shown,
            va="center",
            fontsize=9,
            color="#7a1f1f" if cell.withheld else "#222222",
        )
    axes.set_yticks(positions, labels=list(labels), fontsize=9)
    axes.set_xlim(0, top * 1.15)
    axes.set_title(title, fontsize=11)
    axes.spines[["top", "right"]].set_visible(False)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    listed = "; ".join(f"{label}: {cell.shown}" for label, cell in zip(labels, cells, strict=True))
    return {
        "png": base64.b64encode(buffer.getvalue()).decode(),
        "alt": f"Bar chart, {title}. {listed}.",
        "title": title,
    }
