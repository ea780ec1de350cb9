"""Which runtime computes the 128-d descriptors: dlib (the reference) or onnxruntime.

``FACEGATE_DESCRIPTOR`` chooses: ``dlib`` always runs dlib's own network; ``onnx`` runs the
converted network and refuses to start when it cannot (onnxruntime missing, the installed
``.dat`` not the pinned one, the check below failing); ``auto`` (the default) runs the
converted network when it is available and checked, else dlib, with a warning in the log.

The check, once per process when the runner is created: a built-in chip (a fixed pattern, the
same in every process) goes through both networks, and every component of the two descriptors
must agree within :data:`TOLERANCE`. The vectors are the same model's (the chain's version
does not change with the runtime); tests/test_descriptor_onnx.py holds the runners to the same
tolerance on every face of the test images.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from facegate.config import DESCRIPTOR_RUNTIMES
from facegate.vision.models import LoadedModels
from facegate.vision.onnx.selection import PerProcess, converted_or_reference

log = logging.getLogger("facegate.vision")

MODES = DESCRIPTOR_RUNTIMES
# Largest difference allowed in any component between the two runtimes' descriptors.
TOLERANCE = 1e-4


class Descriptor(Protocol):
    """Face chips (uint8 RGB, chip size square) to descriptors, one float32 row per chip."""

    name: str

    def compute(self, chips: Sequence[np.ndarray]) -> np.ndarray: ...


class DlibDescriptor:
    """dlib's own network (``face_recognition_model_v1``): the reference and the fallback."""

    name = "dlib"

    def __init__(self, model: Any, dimensions: int = 128):
        self.model = model
        self.dimensions = dimensions

    def compute(self, chips: Sequence[np.ndarray]) -> np.ndarray:
        if not chips:
            return np.empty((0, self.dimensions), dtype=np.float32)
        vectors = self.model.compute_face_descriptor(list(chips))
        return np.array([np.asarray(v, dtype=np.float32) for v in vectors], dtype=np.float32)


class DescriptorCheckFailed(RuntimeError):
    """The converted network does not reproduce dlib's descriptor."""


def reference_chip(size: int = 150) -> np.ndarray:
    """The built-in check chip: smooth gradients with a fixed noise, every value 0-255."""
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64) / size
    noise = np.random.default_rng(150).integers(0, 64, (size, size, 3))
    base = np.stack([rows * 160, cols * 160, (1 - rows) * cols * 200], axis=-1)
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def check_against_dlib(candidate: Descriptor, reference: Descriptor, size: int = 150) -> float:
    """The largest component difference on the built-in chip; raise when above TOLERANCE."""
    chip = reference_chip(size)
    got = candidate.compute([chip])
    want = reference.compute([chip])
    if got.shape != want.shape:
        raise DescriptorCheckFailed(f"descriptor shape {got.shape}, dlib's is {want.shape}")
    worst = float(np.max(np.abs(got - want)))
    if not worst <= TOLERANCE:
        raise DescriptorCheckFailed(
            f"the {candidate.name} descriptor differs from dlib's by {worst:.3g} "
            f"(allowed {TOLERANCE:g}) on the built-in chip"
        )
    return worst


def onnx_descriptor(models: LoadedModels, cache_dir: Path | None) -> Descriptor:
    """The converted network of ``models``' descriptor file, checked against dlib."""
    from facegate.vision.onnx.cache import load_or_convert
    from facegate.vision.onnx.runner import OnnxDescriptor

    chain = models.chain
    model = load_or_convert(chain.descriptor.path(), cache_dir)
    runner = OnnxDescriptor(model.data, chip_size=chain.chip_size)
    worst = check_against_dlib(runner, DlibDescriptor(models.descriptor), chain.chip_size)
    log.info(
        "descriptor: onnxruntime (%s, sha256 %s, %s), %.2g from dlib on the check chip",
        model.path or "not cached",
        model.sha256[:16],
        "converted now" if model.built else "cached",
        worst,
    )
    return runner


_chosen: PerProcess[Descriptor] = PerProcess()


def select_descriptor(models: LoadedModels, mode: str, cache_dir: Path | None) -> Descriptor:
    """This process's descriptor runtime for ``mode`` (created once per process and mode)."""
    if mode not in MODES:
        raise ValueError(f"descriptor mode must be one of {', '.join(MODES)}, got {mode!r}")
    return _chosen.get(
        (models.chain.version, mode, str(cache_dir)),
        lambda: converted_or_reference(
            setting="FACEGATE_DESCRIPTOR",
            mode=mode,
            what="descriptor",
            reference_name="dlib",
            converted=lambda: onnx_descriptor(models, cache_dir),
            reference=lambda: DlibDescriptor(models.descriptor, models.chain.dimensions),
            remedy="Install onnxruntime (pip install -e .) or set FACEGATE_DESCRIPTOR=dlib.",
        ),
    )
