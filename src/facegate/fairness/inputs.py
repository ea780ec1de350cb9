"""The inputs of the fairness measures: comparison records (1:1), searches (1:N) and capture
attempts (docs/fairness-metrics.md, "Inputs"). Each validates itself on construction."""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from facegate.fairness.checks import read_only_array

__all__ = ["Attempt", "Comparisons", "Search"]


@dataclass(frozen=True, eq=False)
class Comparisons:
    """Comparison records of one model version (docs/fairness-metrics.md, "Inputs").

    One entry per compared pair: the similarity ``scores``, whether the pair is ``mated`` (the
    same person), the subject ids of both sides and their group labels. A mated pair must have
    the same subject (hence the same group) on both sides; an impostor pair two different
    subjects. Any sequences may be given; they are stored as read-only numpy arrays (group
    labels as strings).
    """

    scores: np.ndarray
    mated: np.ndarray
    subject_a: np.ndarray
    subject_b: np.ndarray
    group_a: np.ndarray
    group_b: np.ndarray

    def __post_init__(self) -> None:
        scores = read_only_array(self.scores, float)
        n = len(scores)
        mated = read_only_array(self.mated, bool)
        subject_a = read_only_array(self.subject_a)
        subject_b = read_only_array(self.subject_b)
        group_a = read_only_array(self.group_a, str)
        group_b = read_only_array(self.group_b, str)
        for name, arr in (
            ("mated", mated),
            ("subject_a", subject_a),
            ("subject_b", subject_b),
            ("group_a", group_a),
            ("group_b", group_b),
        ):
            if len(arr) != n:
                raise ValueError(f"{name} has {len(arr)} entries, scores has {n}")
        if not np.all(np.isfinite(scores)):
            raise ValueError("every score must be a finite number")
        same_subject = subject_a == subject_b
        if np.any(mated & ~same_subject):
            raise ValueError("a mated pair must compare the same subject on both sides")
        if np.any(~mated & same_subject):
            raise ValueError("an impostor pair must compare two different subjects")
        if np.any(mated & (group_a != group_b)):
            raise ValueError("a subject has two different group labels in a mated pair")
        for name, arr in (
            ("scores", scores),
            ("mated", mated),
            ("subject_a", subject_a),
            ("subject_b", subject_b),
            ("group_a", group_a),
            ("group_b", group_b),
        ):
            object.__setattr__(self, name, arr)

    def __len__(self) -> int:
        return len(self.scores)

    @property
    def groups(self) -> tuple[str, ...]:
        """Every group label that occurs on either side, sorted."""
        return tuple(str(g) for g in np.union1d(self.group_a, self.group_b))


@dataclass(frozen=True)
class Search:
    """One identification (1:N) search, for FPIR and FNIR (docs/fairness-metrics.md, item 4).

    ``group``: the searched person's group. ``enrolled``: whether that person has a mate in the
    gallery. ``scores``: the candidate list as returned, best first (non-increasing), however
    long the search made it. ``mate_rank``: the 1-based position of the mate in that list, or
    ``None`` if the mate is not in it (always ``None`` when not enrolled).
    """

    group: str
    enrolled: bool
    scores: tuple[float, ...] = ()
    mate_rank: int | None = None

    def __post_init__(self) -> None:
        scores = tuple(float(s) for s in self.scores)
        object.__setattr__(self, "scores", scores)
        if any(not math.isfinite(s) for s in scores):
            raise ValueError("candidate scores must be finite numbers")
        if any(a < b for a, b in pairwise(scores)):
            raise ValueError("candidate scores must be best first (non-increasing)")
        if self.mate_rank is not None:
            if not self.enrolled:
                raise ValueError("a search by someone not enrolled has no mate")
            if not 1 <= self.mate_rank <= len(scores):
                raise ValueError(f"mate_rank {self.mate_rank} is not a position in the list")


@dataclass(frozen=True)
class Attempt:
    """One capture of an annotated face, for failure to detect, acquire and enroll.

    ``detected``: a detection overlaps the annotated face with IoU >= 0.5. ``accepted``: the
    quality gate accepted it (only possible when detected). ``enrollment``: the capture was an
    enrollment attempt (counted for FTE) rather than a probe (counted for FTD and FTA).
    """

    group: str
    detected: bool
    accepted: bool
    enrollment: bool = False

    def __post_init__(self) -> None:
        if self.accepted and not self.detected:
            raise ValueError("a face that was not detected cannot pass the quality gate")
