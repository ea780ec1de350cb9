"""What a collection's index holds, as start-up compares it with SQL, and the id arrays
behind it.

:class:`IndexState` is the live count, the highest live row id and the sha256 of the sorted
live ids. ``high_water`` is the highest *live* id, like SQL's ``MAX(row_id)``: removing the
newest face lowers it. An empty index has ``high_water == 0`` (SQL row ids start at 1, and
``MAX(row_id)`` of no rows is read as 0).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

EMPTY_HIGH_WATER = 0


@dataclass(frozen=True)
class IndexState:
    """What start-up checks against SQL: live count, highest live row id, checksum of ids."""

    count: int
    high_water: int
    checksum: str

    @classmethod
    def of(cls, ids: Iterable[int]) -> IndexState:
        """The state an index holding exactly ``ids`` (e.g. the SQL row ids) must have."""
        arr = sorted_ids(ids)
        high = int(arr[-1]) if arr.size else EMPTY_HIGH_WATER
        return cls(count=int(arr.size), high_water=high, checksum=checksum_sorted(arr))


def checksum_of(ids: Iterable[int]) -> str:
    """sha256 hex over the sorted ids as int64 little-endian bytes (as ``IndexState.checksum``)."""
    return checksum_sorted(sorted_ids(ids))


def sorted_ids(ids: Iterable[int]) -> np.ndarray:
    """A sorted 1-D int64 copy of ``ids``."""
    return np.sort(as_ids(ids))


def checksum_sorted(ids: np.ndarray) -> str:
    """:func:`checksum_of` for ids already sorted."""
    return hashlib.sha256(ids.astype("<i8", copy=False).tobytes()).hexdigest()


def as_ids(ids: Iterable[int] | np.ndarray) -> np.ndarray:
    """A 1-D int64 array from anything id-like."""
    if isinstance(ids, np.ndarray):
        return np.ascontiguousarray(ids, dtype=np.int64).ravel()
    return np.fromiter((int(i) for i in ids), dtype=np.int64)


def member(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """Boolean mask of ``values`` found in the sorted array ``sorted_set``."""
    if sorted_set.size == 0:
        return np.zeros(values.shape, dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_set, values), sorted_set.size - 1)
    return sorted_set[pos] == values
