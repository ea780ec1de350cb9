"""Small-count suppression: what a published count shows, and which counts are withheld.

A count from 1 to 4 is shown as ``<5``; when a total would let a suppressed count be
recomputed by subtraction, another count of the same sum is withheld too (shown as ``x``).
docs/reports.md states the rules.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

SMALL = 5  # counts from 1 to SMALL - 1 are suppressed
SMALL_MARK = "<5"
WITHHELD_MARK = "x"
UNKNOWN_MARK = "not recorded"

K = TypeVar("K", bound=Hashable)  # a cell's key


@dataclass(frozen=True)
class Cell:
    """A count as published: its value, or why it is withheld."""

    value: int
    withheld: str | None = None  # None, "small" (1-4), "complementary" or "unknown"

    @property
    def shown(self) -> str:
        if self.withheld == "small":
            return SMALL_MARK
        if self.withheld == "unknown":
            return UNKNOWN_MARK
        if self.withheld:
            return WITHHELD_MARK
        return str(self.value)

    def to_json(self) -> dict[str, Any]:
        if self.withheld == "unknown":
            return {"value": None, "unknown": True, "shown": self.shown}
        if self.withheld:
            return {"value": None, "suppressed": True, "shown": self.shown}
        return {"value": self.value}


def suppress(
    values: Mapping[K, int],
    relations: Iterable[tuple[K, Sequence[K]]] = (),
    fixed: Iterable[K] = (),
) -> dict[K, Cell]:
    """Publishable cells for ``values`` whose additive ``relations`` are (total, members).

    Primary: every count from 1 to 4 is withheld ("small"). Complementary: while some relation
    would let a withheld count be pinned to one value (from its total, the shown members and
    the bounds readers know: a "<5" count is 1-4, an "x" count is at least 5), the smallest
    non-zero shown member of that relation is withheld too, or its total when no member is
    left. A withheld total whose members are all shown is withheld through a member the same
    way. ``fixed`` cells (audit chain counts a verifier needs) are never withheld. Zero is never
    withheld: it singles nobody out.
    """
    never = set(fixed)
    state: dict[K, str | None] = {
        key: ("small" if 0 < value < SMALL and key not in never else None)
        for key, value in values.items()
    }
    sums = [(total, list(members)) for total, members in relations]
    changed = True
    while changed:
        changed = False
        for total, members in sums:
            victim = _exposed(values, state, never, total, members)
            if victim is not None:
                state[victim] = "complementary"
                changed = True
    return {key: Cell(values[key], state[key]) for key in values}


def _bounds(kind: str | None) -> tuple[float, float]:
    return (1, SMALL - 1) if kind == "small" else (SMALL, math.inf)


def _exposed(
    values: Mapping[K, int],
    state: dict[K, str | None],
    fixed: set[K],
    total: K,
    members: list[K],
) -> K | None:
    """The cell to withhold so that relation (total, members) pins no withheld count; or None."""
    hidden = [m for m in members if state[m]]
    if state[total]:
        if hidden:  # an unknown total and unknown members: no equation to solve
            return None
    else:
        if not hidden:
            return None
        rest = values[total] - sum(values[m] for m in members if not state[m])
        pinned = False
        for i, member in enumerate(hidden):
            lo, hi = _bounds(state[member])
            others = [_bounds(state[o]) for j, o in enumerate(hidden) if j != i]
            lo = max(lo, rest - sum(b[1] for b in others))
            hi = min(hi, rest - sum(b[0] for b in others))
            pinned = pinned or lo >= hi
        if not pinned:
            return None
    shown = [m for m in members if not state[m] and values[m] > 0 and m not in fixed]
    if shown:
        return min(shown, key=lambda m: values[m])  # the first of equals: deterministic
    if not state[total] and total not in fixed:
        return total
    return None  # nothing left to withhold (only fixed cells): cannot be protected further
