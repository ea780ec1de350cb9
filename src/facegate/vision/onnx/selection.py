"""Choosing, once per process, between a converted network on onnxruntime and its reference.

Both converted runtimes (the descriptor, ``descriptor.py``; the blazeface detector's networks,
``detector.py``) follow one rule, set by a ``FACEGATE_*`` variable of three values: the
reference's name (dlib, opencv) keeps the reference; ``onnx`` uses the converted network and
refuses to start, with a message that says what to do, when it cannot (a package missing, the
installed file not the pinned one, the check against the reference failing); ``auto`` uses the
converted network when it can and otherwise the reference, with a warning in the log.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

log = logging.getLogger("facegate.vision")

T = TypeVar("T")


class PerProcess(Generic[T]):
    """What was chosen in this process, by key: made once (under a lock), then reused."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._chosen: dict[Hashable, T] = {}

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        with self._lock:
            if key not in self._chosen:
                self._chosen[key] = make()
            return self._chosen[key]


def converted_or_reference(
    *,
    setting: str,
    mode: str,
    what: str,
    reference_name: str,
    converted: Callable[[], T],
    reference: Callable[[], T],
    remedy: str,
) -> T:
    """``reference()`` in the reference's mode; else ``converted()``, and when that raises,
    a RuntimeError (``onnx``: saying ``remedy``) or ``reference()`` with a warning (``auto``)."""
    if mode == reference_name:
        return reference()
    try:
        return converted()
    except Exception as exc:  # ImportError, a mismatching file, a failed check, ...
        if mode == "onnx":
            raise RuntimeError(
                f"{setting}=onnx, but onnxruntime cannot run the {what}: {exc}. {remedy}"
            ) from exc
        log.warning("%s: falling back to %s (not on onnxruntime: %s)", what, reference_name, exc)
        return reference()
