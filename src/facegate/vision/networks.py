"""The detector networks' common face: an NCHW float32 blob in, the network's outputs out.

BlazeFace's networks (``vision/blazeface.py``) run through this interface, so the decoding
does not depend on which runtime computes them: OpenCV's DNN module reading the ``.tflite``
files directly (:class:`OpenCvNetwork`, the reference), or onnxruntime on converted copies
(:class:`OnnxNetwork`, about twice as fast; ``vision/onnx/detector.py`` chooses).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np


class Network(Protocol):
    """One loaded network: ``run`` takes a (1, 3, H, W) float32 blob and returns every output."""

    runtime: str

    def run(self, blob: np.ndarray) -> list[np.ndarray]: ...


class OpenCvNetwork:
    """A ``.tflite`` network in OpenCV's DNN module (no TensorFlow). OpenCV runs one thread per
    process: the parallelism is the worker processes'."""

    runtime = "opencv"

    def __init__(self, path: Path):
        import cv2  # deferred: importing facegate loads no model

        cv2.setNumThreads(1)
        self.net: Any = cv2.dnn.readNetFromTFLite(str(path))
        self.outputs = self.net.getUnconnectedOutLayersNames()

    def run(self, blob: np.ndarray) -> list[np.ndarray]:
        self.net.setInput(blob)
        return list(self.net.forward(self.outputs))


class OnnxNetwork:
    """A converted network on onnxruntime's CPU provider, one intra-op thread, operators in
    sequence (as the descriptor's runner: the parallelism is the worker processes'). The
    session is created from the model's bytes, the ones that were checked."""

    runtime = "onnx"

    def __init__(self, model: bytes):
        from facegate.vision.onnx.runner import cpu_session

        self.session: Any = cpu_session(model)
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ValueError(f"a detector network takes one input, this one {len(inputs)}")
        self.input_name: str = inputs[0].name
        shape = tuple(inputs[0].shape)
        if len(shape) != 4 or shape[:2] != (1, 3) or not all(isinstance(d, int) for d in shape):
            raise ValueError(f"a detector network takes a (1, 3, H, W) blob, this one {shape}")
        self.input_shape: tuple[int, ...] = shape

    def run(self, blob: np.ndarray) -> list[np.ndarray]:
        if blob.shape != self.input_shape:
            raise ValueError(f"the network takes a {self.input_shape} blob, got {blob.shape}")
        return list(self.session.run(None, {self.input_name: blob}))
