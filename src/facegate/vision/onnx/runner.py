"""Running converted networks with onnxruntime: the descriptor (face chips in, 128-d
descriptors out) and the session options every converted network shares."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from facegate.vision.onnx import INPUT_NAME, OUTPUT_NAME


def cpu_session(model: bytes, threads: int = 1) -> Any:
    """An onnxruntime session on the CPU provider for the serialized ``model`` (the bytes that
    were checked, not a path): ``threads`` intra-op threads (default one: the parallelism is
    the worker processes'), operators run one after another, every graph optimisation on."""
    import onnxruntime as ort  # deferred: importing facegate loads no model

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])


# Chips per run: every face of a request goes in one call, in runs of at most this many (the
# activations of one run stay a few tens of MB).
MAX_BATCH = 16


class OnnxDescriptor:
    """dlib's ResNet on onnxruntime's CPU provider, one intra-op thread by default: the
    parallelism is the worker processes'."""

    name = "onnx"

    def __init__(self, model: bytes, *, threads: int = 1, chip_size: int = 150):
        self.session: Any = cpu_session(model, threads)
        self.chip_size = chip_size

    def compute(self, chips: Sequence[np.ndarray]) -> np.ndarray:
        """The descriptors of ``chips`` (uint8 RGB, chip_size x chip_size x 3), one row each."""
        if not chips:
            return np.empty((0, 128), dtype=np.float32)
        want = (self.chip_size, self.chip_size, 3)
        for chip in chips:
            if chip.shape != want or chip.dtype != np.uint8:
                raise ValueError(f"a face chip must be uint8 {want}, got {chip.dtype} {chip.shape}")
        rows = []
        for start in range(0, len(chips), MAX_BATCH):
            batch = np.ascontiguousarray(np.stack(chips[start : start + MAX_BATCH]))
            rows.append(self.session.run([OUTPUT_NAME], {INPUT_NAME: batch})[0])
        return np.concatenate(rows).astype(np.float32, copy=False)
