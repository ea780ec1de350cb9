"""Labelled face datasets on disk, and an embedding cache keyed by image content and model.

A dataset is one of:
- a folder of identity sub-folders (``alice/1.jpg``: the subject is the folder's name);
- a folder whose file names start with the subject id and an underscore (``001_03.jpg``, as in
  the London set), chosen when the folder holds a ``subjects.csv`` or with ``identity="prefix"``;
- a CSV file with columns ``path,subject`` (paths relative to the CSV).
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


@dataclass(frozen=True)
class Sample:
    path: Path
    subject: str


def list_samples(dataset: Path, identity: str = "auto") -> list[Sample]:
    """The images of a dataset with their subject ids, in a stable order."""
    if dataset.is_file():
        return list(_csv_samples(dataset))
    if not dataset.is_dir():
        raise FileNotFoundError(f"dataset {dataset} is neither a folder nor a CSV file")
    if identity == "auto":
        identity = "prefix" if (dataset / "subjects.csv").is_file() else "folder"
    images = sorted(p for p in dataset.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if identity == "prefix":
        return [Sample(p, p.stem.split("_", 1)[0]) for p in images]
    if identity == "folder":
        return [Sample(p, p.parent.name) for p in images if p.parent != dataset]
    raise ValueError(f"identity must be auto, folder or prefix, not {identity!r}")


def _csv_samples(path: Path) -> Iterator[Sample]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"path", "subject"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path} needs the columns path and subject (missing {missing})")
        for row in reader:
            yield Sample(path.parent / row["path"], row["subject"])


def read_groups(
    path: Path, columns: Iterable[str] | None = None
) -> tuple[dict[str, str], list[str]]:
    """Map subject id to a group label from a CSV whose first column is the subject id.

    The label joins the chosen ``columns`` with ``x`` (``white x female``); by default every
    column whose values are not all numbers (ages are left out unless named).
    """
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return {}, []
    id_column = next(iter(rows[0]))
    if columns is None:
        columns = [
            c
            for c in rows[0]
            if c != id_column and not all(_is_number(r[c]) for r in rows if r[c].strip())
        ]
    columns = list(columns)
    unknown = [c for c in columns if c not in rows[0]]
    if unknown:
        raise ValueError(f"{path} has no column(s) {unknown}; it has {list(rows[0])}")
    return {r[id_column]: " x ".join(r[c] for c in columns) for r in rows}, columns


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class EmbeddingCache:
    """Per-image analysis results on disk, keyed by the image's SHA-256, model and detector.

    Each entry holds the largest face's vector (or none: failure to enroll), its box, detector
    and landmarks, so a second run over the same data skips the models entirely.
    """

    FORMAT = "v3"  # bump when an entry's contents change

    def __init__(self, root: Path, model_version: str, detector: str):
        self.dir = root / model_version / detector / self.FORMAT
        self.dir.mkdir(parents=True, exist_ok=True)

    def _path(self, data: bytes) -> Path:
        return self.dir / f"{hashlib.sha256(data).hexdigest()}.npz"

    def get(self, data: bytes) -> dict[str, np.ndarray] | None:
        path = self._path(data)
        if not path.is_file():
            return None
        try:
            with np.load(path) as entry:
                return {k: entry[k] for k in entry.files}
        except (OSError, ValueError):
            return None  # a damaged entry is recomputed

    def put(self, data: bytes, entry: dict[str, np.ndarray]) -> None:
        path = self._path(data)
        tmp = path.with_suffix(".tmp.npz")
        # allow_pickle=True is numpy's default, named so that **entry only fills the arrays
        np.savez(tmp, allow_pickle=True, **entry)
        tmp.replace(path)
