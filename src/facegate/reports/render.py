"""Writing a report's files: the HTML templates (``templates/``), the JSON document and the
CSV tables."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

TEMPLATES = "templates"


def environment() -> Environment:
    """The Jinja environment of the report templates (autoescaped, strict)."""
    return Environment(
        loader=PackageLoader("facegate.reports", TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def write_html(path: Path, template: str, **context: Any) -> Path:
    """Render ``template`` with ``context`` into ``path``."""
    path.write_text(environment().get_template(template).render(**context), encoding="utf-8")
    return path


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False, default=str) + "\n")


def write_csv(path: Path, header: list[str], rows: Iterable[list[Any]]) -> Path:
    """A CSV file of ``rows`` under ``header``; an empty field for None."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            writer.writerow(["" if v is None else v for v in row])
    return path
