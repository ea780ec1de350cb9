"""The report's counts and the tables that publish them.

A :class:`Ledger` holds every count of a report under a key, and the sums that tie counts
together, so that :func:`~facegate.reports.suppression.suppress` withholds them all at once;
a :class:`Table` is rows of keys into the suppressed cells, rendered for the HTML page, the
JSON document and a CSV file.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facegate.reports.suppression import Cell

Key = tuple[str, ...]  # a count's key: (table or measure, ..., column)
# How a request ended. A record says allow, deny or error; a denial without a policy set
# version was refused before the policy decision (authentication, unknown operation, invalid
# parameters), which is not a rule's denial, so it has a column of its own.
DECISIONS = (
    ("allow", "allowed"),
    ("deny", "denied"),
    ("refused", "refused"),
    ("error", "error"),
)
COLUMNS = (*(column for _, column in DECISIONS), "total")
ALL = "(all)"


@dataclass
class Table:
    """A published table: rows of cells (keys into the report's suppressed cells)."""

    name: str  # the CSV file's stem
    title: str
    row_label: str
    columns: tuple[str, ...]
    rows: list[tuple[str, dict[str, Key]]] = field(default_factory=list)
    extra: dict[str, dict[str, str]] = field(default_factory=dict)  # text columns per row
    extra_columns: tuple[str, ...] = ()
    note: str = ""

    def rendered(self, cells: Mapping[Key, Cell]) -> dict[str, Any]:
        """What the HTML template needs: header and the shown text of every cell."""
        header = [self.row_label, *self.extra_columns, *self.columns]
        body = []
        for label, keys in self.rows:
            texts = [self.extra.get(label, {}).get(c, "") for c in self.extra_columns]
            body.append(
                {
                    "cells": [label, *texts, *(cells[keys[c]].shown for c in self.columns)],
                    "total": label == ALL,
                }
            )
        return {
            "name": self.name,
            "title": self.title,
            "header": header,
            "rows": body,
            "csv": f"{self.name}.csv",
            "note": self.note,
        }

    def to_json(self, cells: Mapping[Key, Cell]) -> dict[str, Any]:
        rows = []
        for label, keys in self.rows:
            row: dict[str, Any] = {self.row_label: label}
            row.update(self.extra.get(label, {}))
            row.update({c: cells[keys[c]].to_json() for c in self.columns})
            rows.append(row)
        out: dict[str, Any] = {
            "title": self.title,
            "csv": f"{self.name}.csv",
            "columns": [self.row_label, *self.extra_columns, *self.columns],
            "rows": rows,
        }
        if self.note:
            out["note"] = self.note
        return out

    def write_csv(self, directory: Path, cells: Mapping[Key, Cell]) -> Path:
        path = directory / f"{self.name}.csv"
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow([self.row_label, *self.extra_columns, *self.columns])
            for label, keys in self.rows:
                extra = [self.extra.get(label, {}).get(c, "") for c in self.extra_columns]
                writer.writerow([label, *extra, *(cells[keys[c]].shown for c in self.columns)])
        return path


class Ledger:
    """The report's counts and the sums that tie them together, suppressed all at once."""

    def __init__(self) -> None:
        self.values: dict[Key, int] = {}
        self.relations: list[tuple[Key, list[Key]]] = []
        self.fixed: set[Key] = set()

    def put(self, key: Key, value: int, *, fixed: bool = False) -> Key:
        self.values[key] = int(value)
        if fixed:
            self.fixed.add(key)
        return key

    def relate(self, total: Key, members: Iterable[Key]) -> None:
        listed = list(members)
        if listed:
            self.relations.append((total, listed))

    def put_once(self, key: Key, value: int) -> Key:
        """Put a count that several tables share; they must agree on it."""
        if key in self.values and self.values[key] != value:
            raise AssertionError(f"{key} is counted as {self.values[key]} and as {value}")
        return self.put(key, value)

    def decisions_table(
        self,
        name: str,
        title: str,
        row_label: str,
        counts: Mapping[str, Counter[str]],
        labels: Iterable[str],
        totals: str = "all",
    ) -> Table:
        """Rows × (allowed, denied, error, total) and a totals row (keys ``(totals, column)``).

        Tables that break down the same records share their totals row (``"all"``).
        """
        table = Table(name, title, row_label, COLUMNS)
        order = list(dict.fromkeys([*labels, *sorted(counts)]))
        for label in order:
            seen = counts.get(label, Counter())
            keys = {}
            for decision, column in DECISIONS:
                keys[column] = self.put((row_label, label, column), seen[decision])
            keys["total"] = self.put(
                (row_label, label, "total"), sum(seen[d] for d, _ in DECISIONS)
            )
            self.relate(keys["total"], [keys[c] for _, c in DECISIONS])
            table.rows.append((label, keys))
        for column in COLUMNS:
            self.put_once(
                (totals, column), sum(self.values[(row_label, label, column)] for label in order)
            )
            self.relate((totals, column), [(row_label, label, column) for label in order])
        self.relate((totals, "total"), [(totals, c) for _, c in DECISIONS])
        table.rows.append((ALL, {c: (totals, c) for c in COLUMNS}))
        return table
