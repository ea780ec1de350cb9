"""Argument checks shared by the fairness measures.

A bad input (a probability outside its range, ``nan``, counts that do not add up, a sequence
of the wrong shape) is the caller's mistake, not a property of the data: these raise
:class:`ValueError` with a message that names the argument.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np


def check_probability(name: str, value: float, *, open_interval: bool = False) -> float:
    """``value`` as a float in [0, 1] (or (0, 1) with ``open_interval``)."""
    value = float(value)
    ok = 0.0 < value < 1.0 if open_interval else 0.0 <= value <= 1.0
    if not (math.isfinite(value) and ok):
        bounds = "(0, 1)" if open_interval else "[0, 1]"
        raise ValueError(f"{name} must be in {bounds}, got {value!r}")
    return value


def check_alpha(alpha: float) -> float:
    """The weight of the FMR term in FDR, IR and GARBE, in [0, 1]."""
    alpha = float(alpha)
    if not (math.isfinite(alpha) and 0.0 <= alpha <= 1.0):
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    return alpha


def check_counts(k: int, n: int) -> tuple[int, int]:
    """``k`` errors of ``n`` trials as whole numbers with 0 <= k <= n."""
    if isinstance(k, bool) or isinstance(n, bool) or int(k) != k or int(n) != n:
        raise ValueError("errors and trials must be whole numbers")
    k, n = int(k), int(n)
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= errors <= trials, got {k} of {n}")
    return k, n


def read_only_array(values: Iterable[Any], dtype: Any = None) -> np.ndarray:
    """A read-only one-dimensional copy of ``values`` (strings when ``dtype`` is ``str``)."""
    if not isinstance(values, np.ndarray):
        values = list(values)
    arr = np.array(values, dtype=dtype)  # a copy: the caller's array stays theirs
    if dtype is str and arr.dtype.kind != "U":
        arr = arr.astype(str)
    if arr.ndim != 1:
        raise ValueError("expected a one-dimensional sequence")
    arr.setflags(write=False)
    return arr
